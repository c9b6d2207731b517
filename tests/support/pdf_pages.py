"""Render PDF pages to PNG with poppler's ``pdftoppm``, to look at what a report prints, and
read the QR codes they carry with zbar's ``zbarimg``, as a phone camera would.

``make test`` installs poppler-utils. Without it the rendering test skips, except under
``TRANSFERDESK_REQUIRE_SERVICES=1`` (CI), where it fails: CI must look at every PDF.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from io import BytesIO
from pathlib import Path

import pytest
from pypdf import PdfReader


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


def qr_codes(pdf: bytes, tmp_path: Path) -> list[str]:
    """The QR code of every page of ``pdf``, decoded as a phone camera would (zbar on the page
    rendered to ``tmp_path/page-<n>.png``)."""
    source = tmp_path / "letters.pdf"
    source.write_bytes(pdf)
    pages = len(PdfReader(BytesIO(pdf)).pages)
    render_pages(source, tmp_path / "page", first=1, last=pages, dpi=150)
    tool = shutil.which("zbarimg")
    assert tool, "zbarimg (zbar-tools) is installed by make test"
    codes = []
    for png in sorted(tmp_path.glob("page-*.png")):
        out = subprocess.run([tool, "--quiet", "--raw", str(png)], capture_output=True, text=True)
        codes.append(out.stdout.strip())
    return codes
