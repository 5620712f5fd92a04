"""Definitions to and from the REDCap data dictionary CSV format.

Studies bring instruments in (including licensed wording they hold a licence for)
and take them out in the format REDCap users already know. What REDCap has no
column for (the instrument's title and licence note, and scores) travels in the
Field Annotation as ``@SP-INSTRUMENT={...}`` and ``@SP-SCORE={...}`` tags; a score
is a calc row, so REDCap computes an equivalent value too.

An import is all or nothing: every problem is reported by row and column, and
nothing is stored while any remains.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from instruments.definitions import (
    NAME_PATTERN,
    Definition,
    DefinitionError,
    Item,
    Score,
    from_data,
)
from studyportal.spreadsheets import neutralise

COLUMNS = [
    "Variable / Field Name",
    "Form Name",
    "Section Header",
    "Field Type",
    "Field Label",
    "Choices, Calculations, OR Slider Labels",
    "Field Note",
    "Text Validation Type OR Show Slider Number",
    "Text Validation Min",
    "Text Validation Max",
    "Identifier?",
    "Branching Logic (Show field only if...)",
    "Required Field?",
    "Custom Alignment",
    "Question Number (surveys only)",
    "Matrix Group Name",
    "Matrix Ranking?",
    "Field Annotation",
]
VARIABLE, FORM, SECTION, TYPE, LABEL, CHOICES, NOTE, VALIDATION = COLUMNS[:8]
MIN, MAX, IDENTIFIER, BRANCHING, REQUIRED = COLUMNS[8:13]
MATRIX, ANNOTATION = COLUMNS[15], COLUMNS[17]

INSTRUMENT_TAG = "@SP-INSTRUMENT="
SCORE_TAG = "@SP-SCORE="
DATE_VALIDATIONS = {"date_ymd", "date_dmy", "date_mdy"}
DECIMAL_VALIDATION = re.compile(r"^number(?:_(\d)dp)?(?:_comma_decimal)?$")
UNSUPPORTED_TYPES = {"file", "sql"}
ROW_NAME = re.compile(r"\b(item|score) '([a-z][a-z0-9_]*)'")
# Which column a definition problem is about: the earliest word found wins, so
# "max is smaller than min" points at the max and "branching uses [x(3)] but x
# has no option 3" at the branching.
PROBLEM_COLUMNS = re.compile(
    r"\b(?P<branching>branching)|\b(?P<calculation>calculation)"
    r"|\b(?P<choices>choices?|options?|anchors)\b|\b(?P<matrix>matrix)\b"
    r"|\b(?P<min>min)\b|\b(?P<max>max|points)\b|\b(?P<name>(?:variable )?name)\b"
    r"|\b(?P<required>required)\b|\b(?P<validation>validation|decimals)\b"
    r"|\b(?P<type>type)\b|\b(?P<label>label)\b"
)
PROBLEM_COLUMN_NAMES = {
    "branching": BRANCHING,
    "calculation": CHOICES,
    "choices": CHOICES,
    "matrix": MATRIX,
    "min": MIN,
    "max": MAX,
    "name": VARIABLE,
    "required": REQUIRED,
    "validation": VALIDATION,
    "type": TYPE,
    "label": LABEL,
}
INSTRUMENT_FIELDS = (
    "title",
    "version",
    "respondent",
    "licence",
    "description",
    "minutes",
)


@dataclass(frozen=True)
class RowProblem:
    row: int | None
    column: str
    message: str

    def __str__(self) -> str:
        where = f"row {self.row}" if self.row is not None else "dictionary"
        column = f", column '{self.column}'" if self.column else ""
        return f"{where}{column}: {self.message}"


class DictionaryError(ValueError):
    def __init__(self, problems: list[RowProblem]):
        self.problems = problems
        super().__init__("\n".join(str(problem) for problem in problems))


# ---------------------------------------------------------------------------
# Export


def export_dictionary(definition: Definition) -> str:
    """The definition as REDCap data dictionary CSV text, every cell verbatim.

    For importing back into REDCap or StudyPortal: a label may start with "=",
    so a spreadsheet could run it as a formula. People get ``readable_dictionary``.
    """
    return _dictionary_csv(definition, cell=str)


def readable_dictionary(definition: Definition) -> str:
    """The data dictionary to open in a spreadsheet: no cell runs as a formula.

    Cells are neutralised by the portal's one rule, so REDCap would import the
    leading apostrophe as part of a label; ``export_dictionary`` is for that.
    """
    return _dictionary_csv(definition, cell=neutralise)


def _dictionary_csv(definition: Definition, *, cell: Callable[[str], str]) -> str:
    output = io.StringIO()
    writer = csv.writer(output, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for row in _dictionary_rows(definition):
        writer.writerow([cell(row[column]) for column in COLUMNS])
    return output.getvalue()


def _dictionary_rows(definition: Definition) -> Iterator[dict[str, str]]:
    first = True
    for section in definition.sections:
        for index, item in enumerate(section.items):
            row = _item_row(item, definition.slug)
            if index == 0 and section.title:
                row[SECTION] = section.title
            if first:
                row[ANNOTATION] = _join_annotation(
                    _tag(INSTRUMENT_TAG, _instrument_meta(definition)), row[ANNOTATION]
                )
                first = False
            yield row
    for score in definition.scores:
        yield _score_row(score, definition)


def _instrument_meta(definition: Definition) -> dict:
    meta = {"title": definition.title, "version": definition.version}
    meta["respondent"] = definition.respondent
    for key in ("licence", "description", "minutes"):
        value = getattr(definition, key)
        if value:
            meta[key] = value
    return meta


def _tag(tag: str, payload: dict) -> str:
    return tag + json.dumps(payload, ensure_ascii=False, separators=(",", ":"))


def _join_annotation(*parts: str) -> str:
    return " ".join(part for part in parts if part)


def _number(value: float | str | None) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _choices_text(item: Item) -> str:
    return " | ".join(f"{code}, {label}" for code, label in item.choice_list)


def _item_row(item: Item, form: str) -> dict[str, str]:
    row = dict.fromkeys(COLUMNS, "")
    row.update(
        {
            VARIABLE: item.name,
            FORM: form,
            LABEL: item.label,
            NOTE: item.note,
            IDENTIFIER: "y" if item.identifier else "",
            BRANCHING: item.branching or "",
            REQUIRED: "y" if item.required else "",
            MATRIX: item.matrix or "",
            ANNOTATION: item.annotation,
        }
    )
    kind = item.type
    if kind in ("radio", "dropdown", "checkbox"):
        row[TYPE], row[CHOICES] = kind, _choices_text(item)
    elif kind in ("yesno", "notes", "descriptive"):
        row[TYPE] = kind
    elif kind == "calc":
        row[TYPE], row[CHOICES] = "calc", item.calculation or ""
    elif kind == "rating":
        row[TYPE], row[VALIDATION] = "slider", "number"
        if item.anchors is not None:
            anchors = item.anchors
            row[CHOICES] = f"{anchors.low} | {anchors.middle} | {anchors.high}"
        row[MIN], row[MAX] = _number(item.min), _number(item.max)
    elif kind == "integer":
        row[TYPE], row[VALIDATION] = "text", "integer"
        row[MIN], row[MAX] = _number(item.min), _number(item.max)
    elif kind == "decimal":
        row[TYPE] = "text"
        decimals = item.decimals
        row[VALIDATION] = f"number_{decimals}dp" if decimals else "number"
        row[MIN], row[MAX] = _number(item.min), _number(item.max)
        if decimals == 0:
            row[ANNOTATION] = _join_annotation("@SP-DECIMALS=0", row[ANNOTATION])
    elif kind == "date":
        row[TYPE], row[VALIDATION] = "text", "date_ymd"
        row[MIN], row[MAX] = _number(item.min), _number(item.max)
    else:  # text
        row[TYPE], row[VALIDATION] = "text", item.validation or ""
    return row


def _score_term(score: Score, item: Item) -> str:
    """One item as the score's calc row counts it: reversed, as a percentage."""
    name = f"[{item.name}]"
    low, high = item.numeric_range
    if not score.percent:
        if item.name in score.reverse:
            return f"({_number(low + high)} - {name})"
        return name
    # Reversed, an item reaches (high - value) of its range; otherwise (value - low).
    if item.name in score.reverse:
        reached = f"({_number(high)} - {name})"
    elif low > 0:
        reached = f"({name} - {_number(low)})"
    elif low < 0:
        reached = f"({name} + {_number(-low)})"
    else:
        reached = name
    return f"{reached} * 100 / {_number(high - low)}"


def _score_row(score: Score, definition: Definition) -> dict[str, str]:
    terms = [_score_term(score, definition.item(name)) for name in score.items]
    payload = {"method": score.method, "items": score.items}
    if score.reverse:
        payload["reverse"] = score.reverse
    if score.min_answered is not None:
        payload["min_answered"] = score.min_answered
    if score.prorate:
        payload["prorate"] = True
    if score.percent:
        payload["percent"] = True
    row = dict.fromkeys(COLUMNS, "")
    row.update(
        {
            VARIABLE: score.name,
            FORM: definition.slug,
            TYPE: "calc",
            LABEL: score.label,
            CHOICES: f"{score.method}({', '.join(terms)})",
            ANNOTATION: _tag(SCORE_TAG, payload),
        }
    )
    return row


# ---------------------------------------------------------------------------
# Import


def import_dictionary(text: str, *, slug: str | None = None) -> list[Definition]:
    """Definitions from REDCap data dictionary CSV text, one per form.

    With ``slug``, a single-form dictionary is imported under that slug, and a
    multi-form dictionary contributes only the form of that name.
    """
    rows = _read_rows(text)
    forms: dict[str, list[tuple[int, dict[str, str]]]] = {}
    for number, row in rows:
        forms.setdefault(row[FORM].strip(), []).append((number, row))
    problems: list[RowProblem] = []
    if "" in forms:
        problems.extend(
            RowProblem(number, FORM, "every row needs a form name")
            for number, _ in forms.pop("")
        )
    if slug is not None and len(forms) > 1:
        if slug not in forms:
            names = ", ".join(sorted(forms))
            raise DictionaryError(
                [RowProblem(None, FORM, f"no form {slug!r}; forms: {names}")]
            )
        forms = {slug: forms[slug]}
    definitions = []
    for form, form_rows in forms.items():
        try:
            definitions.append(
                _definition(slug or form if len(forms) == 1 else form, form_rows)
            )
        except DictionaryError as exc:
            problems.extend(exc.problems)
    if problems:
        # Top to bottom, as someone fixing the spreadsheet reads it.
        problems.sort(key=lambda problem: (problem.row is None, problem.row or 0))
        raise DictionaryError(problems)
    return definitions


def _read_rows(text: str) -> list[tuple[int, dict[str, str]]]:
    text = text.removeprefix("\ufeff")
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise DictionaryError([RowProblem(None, "", "the file is empty")]) from None
    except csv.Error as exc:
        raise DictionaryError(
            [RowProblem(1, "", f"not readable as CSV: {exc}")]
        ) from None
    normalised = [_normalise_header(name) for name in header]
    expected = [_normalise_header(name) for name in COLUMNS]
    missing = [
        name
        for name, key in zip(COLUMNS, expected, strict=True)
        if key not in normalised
    ]
    if missing:
        raise DictionaryError(
            [
                RowProblem(
                    1, name, "this column of the REDCap data dictionary is missing"
                )
                for name in missing
            ]
        )
    positions = {
        name: normalised.index(key) for name, key in zip(COLUMNS, expected, strict=True)
    }
    rows = []
    number = 1
    try:
        for record in reader:
            number += 1
            if not any(cell.strip() for cell in record):
                continue
            # Windows line breaks inside a cell become \n, so the same dictionary
            # saved on any system gives the same definition (and checksum).
            record = [cell.replace("\r\n", "\n") for cell in record]
            record = record + [""] * (len(header) - len(record))
            rows.append(
                (number, {name: record[index] for name, index in positions.items()})
            )
    except csv.Error as exc:
        raise DictionaryError(
            [RowProblem(number + 1, "", f"not readable as CSV: {exc}")]
        ) from None
    if not rows:
        raise DictionaryError([RowProblem(None, "", "the dictionary has no fields")])
    return rows


def _normalise_header(name: str) -> str:
    return re.sub(r"\s+", " ", name.strip().lower())


def _definition(form: str, rows: list[tuple[int, dict[str, str]]]) -> Definition:
    problems: list[RowProblem] = []
    meta: dict = {}
    sections: list[dict] = []
    scores: list[dict] = []
    first_row: dict[str, int] = {}
    last_row: dict[str, int] = {}
    # Rows for problems about the form rather than one field.
    places: dict[str, int] = {"slug": rows[0][0]}
    broken: set[str] = set()
    for number, row in rows:
        known = len(problems)
        annotation = row[ANNOTATION]
        instrument, annotation = _take_tag(annotation, INSTRUMENT_TAG, number, problems)
        if instrument:
            meta.update({k: v for k, v in instrument.items() if k in INSTRUMENT_FIELDS})
            places.update(dict.fromkeys(INSTRUMENT_FIELDS, number))
        score, annotation = _take_tag(annotation, SCORE_TAG, number, problems)
        name = row[VARIABLE].strip()
        if not name:
            problems.append(RowProblem(number, VARIABLE, "the variable name is empty"))
            continue
        if not re.fullmatch(NAME_PATTERN, name):
            problems.append(
                RowProblem(
                    number,
                    VARIABLE,
                    f"{name!r} is not a variable name: use lower-case letters, "
                    "digits and _, starting with a letter",
                )
            )
            broken.add(name)
            continue
        first_row.setdefault(name, number)
        last_row[name] = number
        if score is not None:
            scores.append(_score_from_row(name, row, score))
        else:
            item = _item_from_row(number, row, annotation, problems)
            header = row[SECTION].strip()
            if header or not sections:
                sections.append({"title": header, "items": []})
            if item is not None:
                sections[-1]["items"].append(item)
                if item.get("matrix"):
                    places[f"matrix {item['matrix']!r}"] = number
        if len(problems) > known:
            broken.add(name)
    data = {
        "slug": form,
        "title": meta.get("title") or form.replace("_", " ").capitalize(),
        "sections": [section for section in sections if section["items"]],
        "scores": scores,
        **{k: meta[k] for k in INSTRUMENT_FIELDS if k in meta and k != "title"},
    }
    # The whole definition is checked even when rows have problems, so that a
    # wrong branching is reported in the same pass as a wrong choice list.
    rejected = bool(problems)
    try:
        definition = from_data(data, source=f"form {form!r}")
    except DefinitionError as exc:
        problems.extend(
            _row_problem(problem, first_row, last_row, places)
            for problem in exc.problems
            if not (rejected and _follows_from(problem, broken))
        )
    if problems:
        raise DictionaryError(problems)
    return definition


def _follows_from(message: str, broken: set[str]) -> bool:
    """Whether a definition problem only echoes a row already reported.

    A rejected row is left out or half-read, so what refers to it (branching on
    a file field, a score over it) or needs it (a form left empty) would report
    the same mistake twice.
    """
    if message.startswith("sections"):
        return True
    subject = ROW_NAME.search(message)
    if subject is not None and subject.group(2) in broken:
        return True
    if "cannot be read" in message:  # about its own wording, whatever it names
        return False
    return any(
        f"'{name}'" in message or f"[{name}]" in message or f"[{name}(" in message
        for name in broken
    )


def _take_tag(
    annotation: str, tag: str, number: int, problems: list[RowProblem]
) -> tuple[dict | None, str]:
    start = annotation.find(tag)
    if start < 0:
        return None, annotation
    try:
        payload, end = json.JSONDecoder().raw_decode(annotation, start + len(tag))
    except json.JSONDecodeError as exc:
        problems.append(
            RowProblem(
                number, ANNOTATION, f"{tag.rstrip('=')} is not valid JSON: {exc}"
            )
        )
        return None, annotation
    if not isinstance(payload, dict):
        problems.append(
            RowProblem(number, ANNOTATION, f"{tag.rstrip('=')} must hold an object")
        )
        return None, annotation
    # Only the space that joined the tag goes: the rest keeps its own line breaks.
    before, after = annotation[:start].strip(), annotation[end:].strip()
    return payload, " ".join(part for part in (before, after) if part)


def _score_from_row(name: str, row: dict[str, str], payload: dict) -> dict:
    score = {"name": name, "label": row[LABEL].strip(), **payload}
    return score


def _item_from_row(
    number: int, row: dict[str, str], annotation: str, problems: list[RowProblem]
) -> dict | None:
    def problem(column: str, message: str) -> None:
        problems.append(RowProblem(number, column, message))

    name = row[VARIABLE].strip()
    field_type = row[TYPE].strip().lower()
    validation = row[VALIDATION].strip()
    item: dict = {"name": name, "label": row[LABEL].strip()}
    if row[NOTE].strip():
        item["note"] = row[NOTE].strip()
    required = row[REQUIRED].strip().lower()
    if required in ("y", "yes", "1"):
        item["required"] = True
    elif required not in ("", "n", "no", "0"):
        problem(REQUIRED, f"{row[REQUIRED]!r} is not y or empty")
    identifier = row[IDENTIFIER].strip().lower()
    if identifier in ("y", "yes", "1"):
        item["identifier"] = True
    elif identifier not in ("", "n", "no", "0"):
        problem(IDENTIFIER, f"{row[IDENTIFIER]!r} is not y or empty")
    if row[BRANCHING].strip():
        item["branching"] = " ".join(row[BRANCHING].split())
    if row[MATRIX].strip():
        item["matrix"] = row[MATRIX].strip()
    decimals_zero = "@SP-DECIMALS=0" in annotation
    annotation = annotation.replace("@SP-DECIMALS=0", "").strip()
    if annotation:
        item["annotation"] = annotation
    choices_text = row[CHOICES].strip()
    low, high = row[MIN].strip(), row[MAX].strip()

    if field_type in UNSUPPORTED_TYPES:
        problem(TYPE, f"field type {field_type!r} is not supported")
        return None
    if field_type in ("radio", "dropdown", "checkbox", "truefalse"):
        item["type"] = "radio" if field_type == "truefalse" else field_type
        if field_type == "truefalse":
            item["choices"] = [
                {"code": "1", "label": "True"},
                {"code": "0", "label": "False"},
            ]
        else:
            item["choices"] = _parse_choices(choices_text, problem)
    elif field_type in ("yesno", "notes", "descriptive"):
        item["type"] = field_type
    elif field_type == "calc":
        item["type"] = "calc"
        if not choices_text:
            problem(CHOICES, "a calc field needs a calculation")
        item["calculation"] = " ".join(choices_text.split())
    elif field_type == "slider":
        item["type"] = "rating"
        item["min"] = _parse_number(low, MIN, problem) if low else 0
        item["max"] = _parse_number(high, MAX, problem) if high else 100
        if choices_text:
            parts = [part.strip() for part in choices_text.split("|")]
            if len(parts) == 2:
                parts = [parts[0], "", parts[1]]
            parts += [""] * (3 - len(parts))
            item["anchors"] = dict(
                zip(("low", "middle", "high"), parts[:3], strict=True)
            )
    elif field_type == "text":
        _text_item(item, validation, low, high, problem)
    elif not field_type:
        problem(TYPE, "the field type is empty")
        return None
    else:
        problem(TYPE, f"field type {field_type!r} is not a REDCap field type")
        return None
    if item.get("type") == "decimal" and decimals_zero:
        item["decimals"] = 0
    if item["type"] not in ("rating", "integer", "decimal", "date") and (low or high):
        problem(MIN if low else MAX, f"min/max do not apply to a {field_type} field")
    return item


def _text_item(item: dict, validation: str, low: str, high: str, problem) -> None:
    decimal = DECIMAL_VALIDATION.match(validation)
    if not validation:
        item["type"] = "text"
    elif validation in ("email", "phone"):
        item["type"], item["validation"] = "text", validation
    elif validation == "integer":
        item["type"] = "integer"
    elif decimal:
        item["type"] = "decimal"
        if decimal.group(1):
            item["decimals"] = int(decimal.group(1))
    elif validation in DATE_VALIDATIONS:
        item["type"] = "date"
        for column, value, key in ((MIN, low, "min"), (MAX, high, "max")):
            if value:
                item[key] = _parse_date(value, validation, column, problem)
        return
    else:
        problem(VALIDATION, f"validation type {validation!r} is not supported")
        item["type"] = "text"
        return
    if item["type"] in ("integer", "decimal"):
        if low:
            item["min"] = _parse_number(low, MIN, problem)
        if high:
            item["max"] = _parse_number(high, MAX, problem)


def _parse_choices(text: str, problem) -> list[dict]:
    if not text:
        problem(CHOICES, "choices are needed, written as '1, First | 2, Second'")
        return []
    choices = []
    for part in text.split("|"):
        code, comma, label = part.strip().partition(",")
        code, label = code.strip(), label.strip()
        if not comma or not code or not label:
            problem(CHOICES, f"{part.strip()!r} is not written as 'code, label'")
            continue
        if not re.fullmatch(r"-?[A-Za-z0-9_]+", code):
            problem(CHOICES, f"choice code {code!r} may use only letters, digits and _")
            continue
        choices.append({"code": code, "label": label})
    codes = [choice["code"] for choice in choices]
    for code in sorted({code for code in codes if codes.count(code) > 1}):
        problem(CHOICES, f"choice code {code!r} is used twice")
    return choices


def _parse_number(text: str, column: str, problem) -> float | None:
    try:
        return float(text.replace(",", "."))
    except ValueError:
        problem(column, f"{text!r} is not a number")
        return None


def _parse_date(text: str, validation: str, column: str, problem) -> str | None:
    if text.lower() in ("today", "now"):
        return "today"
    match = re.fullmatch(r"(\d{1,4})-(\d{1,2})-(\d{1,4})", text)
    if match:
        a, b, c = match.groups()
        if len(a) == 4:
            year, month, day = a, b, c
        elif validation == "date_mdy":
            month, day, year = a, b, c
        else:
            day, month, year = a, b, c
        candidate = f"{int(year):04d}-{int(month):02d}-{int(day):02d}"
        try:
            dt.date.fromisoformat(candidate)
        except ValueError:
            pass
        else:
            return candidate
    problem(column, f"{text!r} is not a date")
    return None


def _row_problem(
    message: str,
    first_row: dict[str, int],
    last_row: dict[str, int],
    places: dict[str, int],
) -> RowProblem:
    match = ROW_NAME.search(message)
    if match is None:
        subject = message.partition(":")[0]
        row = places.get(subject)
        if subject == "slug":
            return RowProblem(row, FORM, message)
        if subject in INSTRUMENT_FIELDS:
            tag = INSTRUMENT_TAG.rstrip("=")
            return RowProblem(row, ANNOTATION, f"{tag} {message}")
        return RowProblem(row, _problem_column(message), message)
    kind, name = match.groups()
    twice = "twice" in message or "already used" in message
    row = (last_row if twice else first_row).get(name)
    rest = message[: match.start()] + message[match.end() :].lstrip(": ")
    if kind == "score":
        # A score's settings travel in its @SP-SCORE tag.
        column = _problem_column(rest) if twice or rest.startswith("label") else ""
        column = column or ANNOTATION
    else:
        column = _problem_column(rest)
    return RowProblem(row, column, f"{name}: {rest}")


def _problem_column(message: str) -> str:
    found = PROBLEM_COLUMNS.search(message.lower())
    return PROBLEM_COLUMN_NAMES[found.lastgroup] if found else ""
