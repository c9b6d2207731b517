"""Render PDF pages to PNG with poppler's ``pdftoppm``, to look at what a report prints.

``make test`` installs poppler-utils. Without it the rendering test skips, except under
``TRANSFERDESK_REQUIRE_SERVICES=1`` (CI), where it fails: CI must look at every PDF.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest


def render_pages(
    pdf: Path, prefix: Path, *, first: int = 1, last: int = 1, dpi: int = 60, single: bool = False
) -> None:
    """Pages ``first``..``last`` of ``pdf`` as ``<prefix>-<n>.png`` (``<prefix>.png`` when
    ``single``)."""
    tool = shutil.which("pdftoppm")
    if tool is None:
        reason = "pdftoppm (poppler-utils) is needed to render the PDF"
        if os.environ.get("TRANSFERDESK_REQUIRE_SERVICES") == "1":
            pytest.fail(f"{reason} (TRANSFERDESK_REQUIRE_SERVICES=1 forbids skipping)")
        pytest.skip(reason)
    command = [tool, "-png", "-r", str(dpi), "-f", str(first), "-l", str(last)]
    subprocess.run(
        [*command, *(["-singlefile"] if single else []), str(pdf), str(prefix)], check=True
    )
