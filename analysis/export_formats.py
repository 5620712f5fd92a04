"""The files an export becomes: CSV, XLSX, SPSS .sav, Stata .dta and a zip bundle.

``analysis.exports.write`` is the entry point. Every writer reads
``Export.rows()`` once. Text cells of CSV and XLSX pass through ``neutralise``
so that a spreadsheet never runs them as formulas; numbers (missing-value codes
included) stay numbers.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
import shutil
import struct
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pandas as pd
import pyreadstat
from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

from analysis import codebook
from analysis.exports import (
    LAYOUTS,
    MISSING_BY_CODE,
    XLSX_MAX_ROWS,
    Export,
    ExportError,
    ExportVariable,
    WriteResult,
    file_name,
)
from studyportal.spreadsheets import neutralise

CHUNK_ROWS = 2000
SAFE_CACHE_SIZE = 100_000
STATA_LABEL_LENGTH = 80
SPSS_FILE_LABEL_LENGTH = 64

Progress = Callable[[int], None] | None


class _Digest:
    """Passes bytes on to ``out`` and keeps their SHA-256 and size."""

    def __init__(self, out: BinaryIO):
        self.out = out
        self.sha256 = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.out.write(data)
        self.sha256.update(data)
        self.size += len(data)
        return len(data)


def write(export: Export, out: BinaryIO, *, progress: Progress = None) -> WriteResult:
    target = _Digest(out)
    fmt = export.request.fmt
    if fmt == "csv":
        rows = 0
        for chunk, rows in csv_chunks(export):
            target.write(chunk)
            if progress:
                progress(rows)
    else:
        # openpyxl, pyreadstat and zipfile want a real file; it is copied to
        # ``out`` afterwards, so ``out`` may be any stream.
        with tempfile.TemporaryDirectory(prefix="studyportal-export-") as folder:
            path = Path(folder) / f"export.{fmt}"
            rows = WRITERS[fmt](export, path, progress)
            with path.open("rb") as made:
                shutil.copyfileobj(made, target)
    if progress:
        progress(rows)
    return WriteResult(rows=rows, sha256=target.sha256.hexdigest(), size=target.size)


# ---------------------------------------------------------------------------
# CSV


def csv_chunks(export: Export) -> Iterator[tuple[bytes, int]]:
    """The CSV as (bytes, rows written so far), CHUNK_ROWS rows at a time.

    A header row of variable names, then the rows; missing values are empty,
    dates YYYY-MM-DD, and every text cell neutralised.
    """
    text = [i for i, v in enumerate(export.variables) if v.type == "string"]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    if export.request.excel_bom:
        buffer.write("\ufeff")
    writer.writerow([neutralise(variable.name) for variable in export.variables])
    rows = 0
    # Text repeats (sites, item names, labels, a participant's pseudonym on
    # each of their rows), so each distinct value is made safe once.
    safe: dict = {}
    for row in export.rows():
        row = list(row)
        for i in text:
            value = row[i]
            cell = safe.get(value)
            if cell is None:
                if len(safe) > SAFE_CACHE_SIZE:
                    safe.clear()
                cell = safe[value] = neutralise(value)
            row[i] = cell
        writer.writerow(row)
        rows += 1
        if rows % CHUNK_ROWS == 0:
            yield buffer.getvalue().encode("utf-8"), rows
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode("utf-8"), rows


# ---------------------------------------------------------------------------
# Excel


def _sheet_text(value) -> str:
    # openpyxl refuses control characters; a cell without them says the same.
    return ILLEGAL_CHARACTERS_RE.sub("", neutralise(value))


def _write_xlsx(export: Export, path: Path, progress: Progress) -> int:
    if export.count() + 1 > XLSX_MAX_ROWS:
        raise ExportError(
            f"Excel holds at most {XLSX_MAX_ROWS - 1:,} rows and this export has "
            "more; choose CSV, SPSS or Stata, or fewer questionnaires or timepoints."
        )
    text = [i for i, v in enumerate(export.variables) if v.type == "string"]
    book = Workbook(write_only=True)
    sheet = book.create_sheet("data")
    sheet.append([_sheet_text(variable.name) for variable in export.variables])
    rows = 0
    for row in export.rows():
        row = list(row)
        for i in text:
            row[i] = _sheet_text(row[i])
        sheet.append(row)
        rows += 1
        if progress and rows % CHUNK_ROWS == 0:
            progress(rows)
    guide = book.create_sheet("codebook")
    entries = codebook.codebook_rows(export)
    guide.append([_sheet_text(key) for key in codebook.CODEBOOK_FIELDS])
    for entry in entries:
        guide.append(
            [
                entry[key] if isinstance(entry[key], int) else _sheet_text(entry[key])
                for key in codebook.CODEBOOK_FIELDS
            ]
        )
    book.save(path)
    return rows


# ---------------------------------------------------------------------------
# SPSS and Stata


def _frame(export: Export, progress: Progress) -> tuple[pd.DataFrame, int, set[str]]:
    """The whole export as a DataFrame, and which numeric columns are whole numbers."""
    variables = export.variables
    columns: list[list] = [[] for _ in variables]
    rows = 0
    for row in export.rows():
        for values, value in zip(columns, row, strict=True):
            values.append(value)
        rows += 1
        if progress and rows % CHUNK_ROWS == 0:
            progress(rows)
    data = {}
    whole: set[str] = set()
    for variable, values in zip(variables, columns, strict=True):
        if variable.type == "numeric":
            if all(isinstance(v, int) or v is None for v in values):
                whole.add(variable.name)
            series = pd.Series(
                [np.nan if v is None else float(v) for v in values], dtype="float64"
            )
        elif variable.type == "string":
            series = pd.Series(["" if v is None else v for v in values], dtype=object)
        else:
            series = pd.Series(values, dtype=object)
        data[variable.name] = series
        values.clear()
    return pd.DataFrame(data), rows, whole


def _numeric_labels(variable: ExportVariable) -> dict:
    return {
        code: label
        for code, label in variable.values.items()
        if isinstance(code, int) and not isinstance(code, bool)
    }


def _file_label(export: Export, limit: int) -> str:
    text = f"{export.study.short_name or export.study.name}: "
    text += LAYOUTS[export.request.layout]
    return text[:limit]


def _write_sav(export: Export, path: Path, progress: Progress) -> int:
    frame, rows, whole = _frame(export, progress)
    value_labels, missing, formats, measures = {}, {}, {}, {}
    for variable in export.variables:
        labels = _numeric_labels(variable) | variable.missing
        if labels and variable.type == "numeric":
            value_labels[variable.name] = labels
        if variable.missing:
            codes = sorted(variable.missing)
            # SPSS takes three discrete missing values, or one range.
            missing[variable.name] = (
                codes if len(codes) <= 3 else [{"lo": codes[0], "hi": codes[-1]}]
            )
        if variable.type == "numeric" and variable.name in whole:
            formats[variable.name] = "F8.0"
        if variable.type == "string":
            measures[variable.name] = "nominal"
        elif variable.type == "numeric" and not _numeric_labels(variable):
            measures[variable.name] = "scale"
    pyreadstat.write_sav(
        frame,
        str(path),
        file_label=_file_label(export, SPSS_FILE_LABEL_LENGTH),
        column_labels={v.name: v.label for v in export.variables},
        variable_value_labels=value_labels,
        missing_ranges=missing,
        variable_format=formats,
        variable_measure=measures,
        note=[f"{name}: {value}" for name, value in export.request.describe()],
    )
    return rows


def _stata_label(text: str) -> str:
    if len(text) <= STATA_LABEL_LENGTH:
        return text
    return text[: STATA_LABEL_LENGTH - 3] + "..."


def _write_dta(export: Export, path: Path, progress: Progress) -> int:
    frame, rows, _ = _frame(export, progress)
    names = [variable.name for variable in export.variables]
    # pyreadstat takes Stata's extended missing values (.a, .b, ...) as
    # one-letter strings in an object column, but it sniffs a column's type from
    # its first 100 values: a column whose first 100 are missing is taken for
    # text and fails. So codes are written as plain missing (.) and the cells
    # are then tagged .a, .b, ... in the file.
    tagged: dict[int, dict[str, np.ndarray]] = {}
    value_labels, missing = {}, {}
    # pyreadstat names each value label set after its variable plus a running
    # number, which overflows Stata's 32 characters for a long variable name:
    # short stand-in names are written and the real ones put in afterwards.
    stand_ins = [f"v{index}_" for index in range(len(names))]
    for index, variable in enumerate(export.variables):
        if variable.type != "numeric":
            continue
        letters = {
            MISSING_BY_CODE[code].stata: reason
            for code, reason in variable.missing.items()
        }
        labels = _numeric_labels(variable) | letters
        if labels:
            value_labels[stand_ins[index]] = labels
        if not letters:
            continue
        missing[stand_ins[index]] = sorted(letters)
        column = frame[variable.name]
        tagged[index] = {
            MISSING_BY_CODE[code].stata: (column == code).to_numpy()
            for code in variable.missing
        }
        frame[variable.name] = column.mask(column.isin(list(variable.missing)))
    frame.columns = stand_ins
    pyreadstat.write_dta(
        frame,
        str(path),
        file_label=_file_label(export, STATA_LABEL_LENGTH),
        column_labels=[_stata_label(v.label) for v in export.variables],
        variable_value_labels=value_labels,
        missing_user_values=missing,
    )
    del frame
    layout = _DtaLayout.read(path, len(names))
    layout.rename(path, names)
    layout.tag_missing(path, tagged)
    return rows


# Formats 118 and 119 (Stata 14 and later), as documented in Stata's "help dta".
DTA_NAME_FIELD = 129  # bytes of a name field: 32 characters of UTF-8, and a 0
DTA_DOUBLE = 65526
DTA_WIDTHS = {DTA_DOUBLE: 8, 65527: 4, 65528: 4, 65529: 2, 65530: 1, 32768: 8}
# A double holding .a is this plus 1 times the step, .b plus 2, and so on.
DTA_MISSING_DOUBLE = 0x7FE0000000000000
DTA_MISSING_STEP = 0x0000010000000000


class _DtaLayout:
    """Where the parts of a .dta file are, to change it in place: only
    fixed-width fields are rewritten, so no offset in the file moves."""

    def __init__(self, endian: str, rows: int, types: list[int], offsets: tuple):
        self.endian = endian
        self.rows = rows
        self.types = types
        self.offsets = offsets

    @classmethod
    def read(cls, path: Path, count: int) -> _DtaLayout:
        with path.open("rb") as dta:
            head = dta.read(2048)
            release = re.search(rb"<release>(\d+)</release>", head)
            order = re.search(rb"<byteorder>(MSF|LSF)</byteorder>", head)
            if not (release and order and release.group(1) in (b"118", b"119")):
                raise ExportError(
                    "pyreadstat wrote a Stata format this code cannot read."
                )
            endian = "<" if order.group(1) == b"LSF" else ">"
            size = 4 if release.group(1) == b"119" else 2
            start = head.index(b"<K>") + 3
            variables = int.from_bytes(
                head[start : start + size], "little" if endian == "<" else "big"
            )
            if variables != count:
                raise ExportError(
                    "The Stata file has an unexpected number of variables."
                )
            start = head.index(b"<N>") + 3
            (rows,) = struct.unpack(f"{endian}Q", head[start : start + 8])
            dta.seek(head.index(b"<map>") + len(b"<map>"))
            offsets = struct.unpack(f"{endian}14Q", dta.read(14 * 8))
            dta.seek(offsets[2] + len(b"<variable_types>"))
            types = list(struct.unpack(f"{endian}{count}H", dta.read(2 * count)))
        return cls(endian, rows, types, offsets)

    def rename(self, path: Path, names: list[str]) -> None:
        """Give the variables ``names``, and each value label set the name of
        its variable, as Stata users name them."""
        count = len(names)
        with path.open("r+b") as dta:
            dta.seek(self.offsets[3] + len(b"<varnames>"))
            dta.write(b"".join(_name_field(name) for name in names))
            start = self.offsets[6] + len(b"<value_label_names>")
            dta.seek(start)
            fields = dta.read(DTA_NAME_FIELD * count)
            renamed = {}
            for index, name in enumerate(names):
                field = fields[index * DTA_NAME_FIELD : (index + 1) * DTA_NAME_FIELD]
                stand_in = field.split(b"\0", 1)[0]
                if stand_in:
                    renamed[stand_in] = name
                    dta.seek(start + index * DTA_NAME_FIELD)
                    dta.write(_name_field(name))
            position = self.offsets[11] + len(b"<value_labels>")
            while True:
                dta.seek(position)
                if dta.read(5) != b"<lbl>":
                    break
                (length,) = struct.unpack(f"{self.endian}I", dta.read(4))
                stand_in = dta.read(DTA_NAME_FIELD).split(b"\0", 1)[0]
                if stand_in in renamed:
                    dta.seek(position + 9)
                    dta.write(_name_field(renamed[stand_in]))
                # <lbl>, length, name, 3 bytes of padding, the table, </lbl>
                position += 5 + 4 + DTA_NAME_FIELD + 3 + length + 6

    def tag_missing(self, path: Path, tagged: dict[int, dict[str, np.ndarray]]) -> None:
        """Set the cells ``tagged`` marks (by column, then letter) to .a, .b, ..."""
        if not tagged or not self.rows:
            return
        widths = [_dta_width(kind) for kind in self.types]
        starts = np.cumsum([0, *widths[:-1]])
        cells = np.memmap(
            path,
            dtype=np.uint8,
            mode="r+",
            offset=self.offsets[9] + len(b"<data>"),
            shape=(self.rows, sum(widths)),
        )
        try:
            for index, letters in tagged.items():
                if self.types[index] != DTA_DOUBLE:
                    raise ExportError(
                        "A Stata column with missing codes is not a double."
                    )
                start = int(starts[index])
                for letter, rows in letters.items():
                    number = ord(letter) - ord("a") + 1
                    bits = DTA_MISSING_DOUBLE + number * DTA_MISSING_STEP
                    pattern = np.frombuffer(
                        struct.pack(f"{self.endian}Q", bits), dtype=np.uint8
                    )
                    cells[rows, start : start + 8] = pattern
            cells.flush()
        finally:
            del cells


def _dta_width(kind: int) -> int:
    if kind in DTA_WIDTHS:
        return DTA_WIDTHS[kind]
    if 1 <= kind <= 2045:  # strN
        return kind
    raise ExportError("The Stata file has a variable type this code cannot read.")


def _name_field(name: str) -> bytes:
    encoded = name.encode("utf-8")
    if len(encoded) >= DTA_NAME_FIELD:
        raise ExportError(f"The variable name {name!r} is too long for Stata.")
    return encoded.ljust(DTA_NAME_FIELD, b"\0")


# ---------------------------------------------------------------------------
# The bundle


def _write_zip(export: Export, path: Path, progress: Progress) -> int:
    base = file_name(export.study, export.request).rsplit(".", 1)[0]
    data_name = f"{base}.csv"
    rows = 0
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as bundle:
        with bundle.open(data_name, "w", force_zip64=True) as member:
            for chunk, rows in csv_chunks(export):
                member.write(chunk)
                if progress:
                    progress(rows)
        bom = "\ufeff" if export.request.excel_bom else ""
        bundle.writestr(
            f"{base}-codebook.csv", (bom + codebook.codebook_csv(export)).encode()
        )
        bundle.writestr(f"{base}-codebook.html", codebook.codebook_html(export))
        bundle.writestr("load_data.R", codebook.r_script(export, data_name))
        bundle.writestr("load_data.py", codebook.python_script(export, data_name))
    return rows


WRITERS = {
    "xlsx": _write_xlsx,
    "sav": _write_sav,
    "dta": _write_dta,
    "zip": _write_zip,
}
