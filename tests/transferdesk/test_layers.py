"""The one-way layers hold (``lint-imports``, contracts in ``pyproject.toml``), and an upward
import added on purpose breaks them. The upward imports are written into a copy of the
project's packages, never into the real tree."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("transferdesk", "accounts", "notifications", "customers", "transfers", "audits", "api")
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def _lint(cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(cwd)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--no-logo", "--config", str(cwd / "pyproject.toml")],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    """The project's packages and its import-linter contracts, copied; the copy keeps them."""
    for package in PACKAGES:
        shutil.copytree(
            ROOT / package,
            tmp_path / package,
            ignore=shutil.ignore_patterns("__pycache__", "*.mo", "*.po"),
        )
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    result = _lint(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    return tmp_path


def test_the_project_keeps_its_layers():
    result = _lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 4 kept, 0 broken." in result.stdout


def test_the_trail_importing_an_app_breaks_the_core_contracts(copy):
    (copy / "transferdesk" / "trail" / "upward.py").write_text(
        "from customers.models import Customer  # noqa: F401\n"
    )
    result = _lint(copy)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "The trail imports no app BROKEN" in result.stdout
    assert "The core (transferdesk, the trail included) imports no app BROKEN" in result.stdout
    assert "Seven one-way layers BROKEN" in result.stdout
    assert "transferdesk.trail.upward -> customers.models" in result.stdout


def test_a_lower_app_importing_an_upper_one_breaks_the_layers(copy):
    # The import the customer-correction signal replaced (customers -> transfers).
    (copy / "customers" / "upward.py").write_text(
        "def later():\n    from transfers.portal_services import followup_create  # noqa: F401\n"
    )
    result = _lint(copy)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Seven one-way layers BROKEN" in result.stdout
    assert "customers.upward -> transfers.portal_services" in result.stdout
    assert "The trail imports no app KEPT" in result.stdout


def test_an_app_importing_the_api_breaks_the_layers(copy):
    # The API is the top layer: it calls every app's services, none calls it.
    (copy / "audits" / "upward.py").write_text(
        "from api.models import OrganizationAPIKey  # noqa\n"
    )
    result = _lint(copy)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Seven one-way layers BROKEN" in result.stdout
    assert "audits.upward -> api.models" in result.stdout
