"""Cells for files people open in a spreadsheet program (CSV, XLSX): the one rule that keeps a
value from running as a formula (OWASP "CSV injection")."""

from __future__ import annotations

from typing import Any

#: Spreadsheet programs run a cell that starts with one of these as a formula.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: Any) -> Any:
    """The value as a spreadsheet must store it: numbers as they are, ``None`` as an empty
    cell, and text that cannot start a formula (a leading quote makes it text)."""
    if value is None:
        return ""
    if isinstance(value, bool | int):
        return value
    text = str(value)
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text
