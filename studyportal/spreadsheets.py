"""Cells a spreadsheet opens as data, never as a formula.

Every CSV and Excel file the portal hands out passes its text through here:
the tracker, analysis tables, exports, codebooks and the joint display.
"""

from __future__ import annotations

from collections.abc import Iterable

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value) -> str:
    """A cell a spreadsheet will not run as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def neutralise_row(row: Iterable) -> list:
    """The row with its text neutralised; numbers stay numbers."""
    return [neutralise(cell) if isinstance(cell, str) else cell for cell in row]
