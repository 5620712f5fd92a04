"""Cells a spreadsheet opens as data, never as a formula.

Every CSV and Excel file the portal hands out passes its text through here:
the tracker, analysis tables, exports, codebooks and the joint display.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable

from django.http import HttpResponse
from openpyxl import Workbook

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
CSV_CONTENT_TYPE = "text/csv; charset=utf-8"
XLSX_CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

# A sheet's header, then its rows.
Sheet = tuple[Iterable, Iterable[Iterable]]


def neutralise(value) -> str:
    """A cell a spreadsheet will not run as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def neutralise_row(row: Iterable) -> list:
    """The row with its text neutralised; numbers stay numbers."""
    return [neutralise(cell) if isinstance(cell, str) else cell for cell in row]


def csv_response(
    file_name: str, header: Iterable, rows: Iterable[Iterable]
) -> HttpResponse:
    """A CSV download of ``header`` and ``rows``, every row neutralised."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(neutralise_row(header))
    writer.writerows(neutralise_row(row) for row in rows)
    return _attachment(buffer.getvalue(), CSV_CONTENT_TYPE, file_name)


def xlsx_response(file_name: str, sheets: dict[str, Sheet]) -> HttpResponse:
    """An Excel download with a sheet per title, in order, every row neutralised."""
    book = Workbook()
    book.remove(book.active)
    for title, (header, rows) in sheets.items():
        sheet = book.create_sheet(title)
        sheet.append(neutralise_row(header))
        for row in rows:
            sheet.append(neutralise_row(row))
    buffer = io.BytesIO()
    book.save(buffer)
    return _attachment(buffer.getvalue(), XLSX_CONTENT_TYPE, file_name)


def _attachment(body, content_type: str, file_name: str) -> HttpResponse:
    response = HttpResponse(body, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{file_name}"'
    return response
