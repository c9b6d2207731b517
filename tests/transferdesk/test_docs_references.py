"""The documents prove their claims with tests (docs/security.md's ASVS table above all): every
test a document names must exist, or the table silently points at nothing after a rename."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
#: `tests/x.py`, `tests/x.py::test_name`, and `::test_name` after one of those (same file).
REFERENCE = re.compile(r"`(tests/[\w/]+\.py)?(?:::(\w+))?`")


def named_tests(text: str) -> list[tuple[str, str | None]]:
    found, current = [], None
    for match in REFERENCE.finditer(text):
        path, name = match.groups()
        current = path or current
        if (path or name) and current:
            found.append((current, name))
    return found


def missing(text: str) -> list[str]:
    gone = []
    for path, name in named_tests(text):
        source = ROOT / path
        if not source.exists():
            gone.append(path)
        elif name and not re.search(rf"def {name}\b", source.read_text(encoding="utf-8")):
            gone.append(f"{path}::{name}")
    return gone


def test_every_test_a_document_names_exists() -> None:
    documents = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    assert {d.name: missing(d.read_text(encoding="utf-8")) for d in documents} == {
        d.name: [] for d in documents
    }


def test_the_check_sees_a_renamed_test_and_a_moved_file() -> None:
    text = (
        "`tests/accounts/test_sessions.py::test_that_was_renamed`, `::test_also_gone`, "
        "`tests/accounts/test_sessions.py::test_the_page_lists_only_ones_own_sessions_and_marks_this_one`,"
        " `tests/nowhere.py`"
    )
    assert missing(text) == [
        "tests/accounts/test_sessions.py::test_that_was_renamed",
        "tests/accounts/test_sessions.py::test_also_gone",
        "tests/nowhere.py",
    ]
