"""The codebook that goes with every download, and scripts that load the CSV.

One row per variable: name, label, type, questionnaire and version, value
labels and missing-value codes with their reasons. In the items layout, rows
named ``variable=<name>`` say what each value of the ``variable`` column means.
``r_script`` and ``python_script`` load the CSV with its types, turn the
missing-value codes into NA and labelled codes into factors (categoricals).
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import pprint

from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.safestring import mark_safe

from analysis.exports import (
    FORMATS,
    LAYOUTS,
    MISSING_CODES,
    Export,
    ExportVariable,
)
from studyportal.spreadsheets import neutralise_row

CODEBOOK_FIELDS = (
    "variable",
    "label",
    "type",
    "instrument",
    "version",
    "values",
    "missing",
)
# The HTML codebook is a file on its own (it travels in the download zip), so its
# style is inline; served from the site, the page allows exactly this style by hash.
CODEBOOK_STYLE = """
body {
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  margin: 2rem auto; max-width: 72rem; padding: 0 1rem;
  color: #1b1b1b; line-height: 1.45;
}
h1 { font-size: 1.6rem; margin-bottom: .25rem; }
h2 { font-size: 1.2rem; margin-top: 2rem; }
table { border-collapse: collapse; width: 100%; font-size: .92rem; }
th, td {
  border: 1px solid #c8c8c8; padding: .35rem .5rem;
  text-align: left; vertical-align: top;
}
th { background: #eef1f4; }
tbody tr:nth-child(even) { background: #fafafa; }
code { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; }
dl.choices {
  display: grid; grid-template-columns: max-content 1fr; gap: .2rem 1rem;
}
dl.choices dt { font-weight: 600; }
dl.choices dd { margin: 0; }
.muted { color: #555; }
"""
_STYLE_DIGEST = hashlib.sha256(CODEBOOK_STYLE.encode()).digest()
CODEBOOK_STYLE_HASH = f"'sha256-{base64.b64encode(_STYLE_DIGEST).decode()}'"
ITEM_VALUE_PREFIX = "variable="
NO_DATE = "blank=no date"
# A spreadsheet-safe cell starts with ' before = + - @ (or a tab or return);
# the loaders take it off again.
UNQUOTE_PATTERN = r"^'(?=[-=+@\t\r])"


def _pairs(mapping: dict) -> str:
    return "; ".join(f"{code}={label}" for code, label in mapping.items())


def _row(variable: ExportVariable, name: str) -> dict:
    if variable.type == "date" and not variable.missing:
        missing = NO_DATE
    else:
        missing = _pairs(variable.missing)
    return {
        "variable": name,
        "label": variable.label,
        "type": variable.type,
        "instrument": variable.instrument,
        "version": "" if variable.version is None else variable.version,
        "values": _pairs(variable.values),
        "missing": missing,
    }


def codebook_rows(export: Export) -> list[dict]:
    """One dict per column (keys ``CODEBOOK_FIELDS``), then, in the items
    layout, one per value of the ``variable`` column, named ``variable=<name>``.

    ``values`` reads like "1=Female; 2=Male" and ``missing`` like
    "-99999=not answered; -99998=skipped by branching".
    """
    rows = [_row(variable, variable.name) for variable in export.variables]
    rows += [
        _row(variable, f"{ITEM_VALUE_PREFIX}{variable.name}")
        for variable in export.item_variables
    ]
    return rows


def codebook_csv(export: Export) -> str:
    """The codebook as CSV text, every text cell safe to open in a spreadsheet."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CODEBOOK_FIELDS)
    for row in codebook_rows(export):
        writer.writerow(neutralise_row(row[key] for key in CODEBOOK_FIELDS))
    return buffer.getvalue()


def codebook_html(export: Export) -> str:
    """A standalone page: the study, the choices made, the missing-value codes
    and every variable."""
    return render_to_string(
        "analysis/codebook.html",
        {
            "style": mark_safe(CODEBOOK_STYLE),  # noqa: S308 - a constant
            "study": export.study,
            "choices": export.request.describe(),
            "layout": LAYOUTS[export.request.layout],
            "format": FORMATS[export.request.fmt],
            "generated": timezone.localtime(),
            "missing_codes": MISSING_CODES,
            "columns": [_row(variable, variable.name) for variable in export.variables],
            "item_values": [
                _row(variable, variable.name) for variable in export.item_variables
            ],
        },
    )


# ---------------------------------------------------------------------------
# Loaders


def _loader_parts(export: Export) -> dict:
    variables = export.variables
    return {
        "text": [v.name for v in variables if v.type == "string"],
        "numbers": [v.name for v in variables if v.type == "numeric"],
        "dates": [v.name for v in variables if v.type == "date"],
        "missing": [v.name for v in variables if v.missing],
        "categories": {
            v.name: v.values for v in variables if v.categorical and v.values
        },
        "labels": {v.name: v.label for v in variables},
    }


def _r_vector(values) -> str:
    return "c(" + ", ".join(values) + ")"


def _r_number(value) -> str:
    return repr(value) if isinstance(value, float) else str(int(value))


def r_script(export: Export, data_file: str) -> str:
    """R code that reads ``data_file`` (base R only) into ``data``."""
    # Imported here: analysis.reproduce loads statsmodels, seconds that a
    # CSV download should not wait for.
    from analysis.reproduce import r_comment, r_string

    parts = _loader_parts(export)
    study = export.study
    classes = [f'{r_string(name)} = "character"' for name in parts["text"]]
    classes += [f'{r_string(name)} = "numeric"' for name in parts["numbers"]]
    classes += [f'{r_string(name)} = "character"' for name in parts["dates"]]
    codes = ", ".join(
        f"{r_string(m.code)} = {r_string(m.reason)}" for m in MISSING_CODES
    )
    lines = [
        f"# Loads {r_comment(data_file)} from {r_comment(study.name)}",
        f"# ({r_comment(LAYOUTS[export.request.layout])}), made by StudyPortal on "
        f"{timezone.localdate().isoformat()}.",
        '# Run it from the folder that holds the file: source("load_data.R").',
        "",
        "data <- read.csv(",
        f"  {r_string(data_file)},",
        "  colClasses = c(",
        ",\n".join(f"    {entry}" for entry in classes),
        "  ),",
        '  na.strings = "",',
        '  fileEncoding = "UTF-8-BOM",',
        "  check.names = FALSE",
        ")",
        "",
        "# Text that began with = + - or @ was given a leading ' so that",
        "# spreadsheets do not run it; take it off again.",
        f"for (column in {_r_vector(map(r_string, parts['text']))}) {{",
        f'  data[[column]] <- sub({r_string(UNQUOTE_PATTERN)}, "", '
        "data[[column]], perl = TRUE)",
        "}",
        "",
        "# Why a value is missing (see the codebook); each becomes NA here.",
        f"missing_codes <- c({codes})",
        f"for (column in {_r_vector(map(r_string, parts['missing']))}) {{",
        "  data[[column]][data[[column]] %in% as.numeric(names(missing_codes))] <- NA",
        "}",
        "",
    ]
    if parts["dates"]:
        lines.append("# Dates are YYYY-MM-DD.")
        lines += [
            f"data[[{r_string(name)}]] <- as.Date(data[[{r_string(name)}]])"
            for name in parts["dates"]
        ]
        lines.append("")
    if parts["categories"]:
        lines.append("# Coded answers as factors, with the questionnaire's labels.")
        for name, values in parts["categories"].items():
            levels = _r_vector(_r_number(code) for code in values)
            labels = _r_vector(r_string(label) for label in values.values())
            lines.append(
                f"data[[{r_string(name)}]] <- factor(data[[{r_string(name)}]], "
                f"levels = {levels}, labels = {labels})"
            )
        lines.append("")
    lines.append("# Variable labels, shown by RStudio's data viewer.")
    lines += [
        f'attr(data[[{r_string(name)}]], "label") <- {r_string(label)}'
        for name, label in parts["labels"].items()
    ]
    lines.append("")
    return "\n".join(lines)


def python_script(export: Export, data_file: str) -> str:
    """Python code (pandas) whose ``load()`` reads ``data_file`` as a DataFrame."""
    from analysis.reproduce import r_comment

    parts = _loader_parts(export)
    missing_codes = {m.code: m.reason for m in MISSING_CODES}

    def literal(name: str, value) -> str:
        return f"{name} = {pprint.pformat(value, width=88, sort_dicts=False)}"

    return "\n".join(
        [
            f"# Loads {r_comment(data_file)} from {r_comment(export.study.name)}",
            f"# ({r_comment(LAYOUTS[export.request.layout])}), made by StudyPortal on "
            f"{timezone.localdate().isoformat()}.",
            "# Run it beside the file (python load_data.py), or: from load_data "
            "import load.",
            "",
            "from pathlib import Path",
            "",
            "import pandas as pd",
            "",
            f"DATA = Path(__file__).resolve().parent / {data_file!r}",
            "# Why a value is missing (see the codebook); each becomes NA here.",
            literal("MISSING_CODES", missing_codes),
            literal("TEXT", parts["text"]),
            literal("NUMBERS", parts["numbers"]),
            literal("DATES", parts["dates"]),
            literal("WITH_MISSING_CODES", parts["missing"]),
            "# Coded answers and their labels.",
            literal("CATEGORIES", parts["categories"]),
            literal("LABELS", parts["labels"]),
            "# Text that began with = + - or @ was given a leading ' so that",
            "# spreadsheets do not run it; load() takes it off again.",
            literal("UNQUOTE", UNQUOTE_PATTERN),
            "",
            "",
            "def load(path=DATA) -> pd.DataFrame:",
            "    data = pd.read_csv(",
            "        path,",
            '        encoding="utf-8-sig",',
            '        dtype={**dict.fromkeys(TEXT + DATES, "string"),'
            ' **dict.fromkeys(NUMBERS, "float64")},',
            "        keep_default_na=False,",
            '        na_values=[""],',
            "    )",
            "    for column in TEXT:",
            "        data[column] = data[column].str.replace(UNQUOTE, '', regex=True)",
            "    for column in WITH_MISSING_CODES:",
            "        codes = data[column].isin(MISSING_CODES)",
            "        data[column] = data[column].mask(codes)",
            "    for column in DATES:",
            '        data[column] = pd.to_datetime(data[column], format="%Y-%m-%d")',
            "    for column, labels in CATEGORIES.items():",
            "        data[column] = pd.Categorical(",
            "            data[column].map(labels),",
            "            categories=list(dict.fromkeys(labels.values())),",
            "        )",
            '    data.attrs["labels"] = LABELS',
            "    return data",
            "",
            "",
            'if __name__ == "__main__":',
            "    frame = load()",
            "    frame.info()",
            "",
        ]
    )
