"""REDCap data dictionary CSV: round trips, REDCap's own files, and row-level errors.

A dictionary either imports whole or not at all; every problem names the
spreadsheet row (the header is row 1) and the column, so a study can fix its
file in one pass.
"""

from __future__ import annotations

import csv
import io
import json
import typing
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from instruments import catalogue, expressions, redcap
from instruments.definitions import (
    Definition,
    ItemType,
    from_data,
    load_file,
    shipped_definition_files,
)
from instruments.models import InstrumentVersion
from instruments.redcap import (
    ANNOTATION,
    BRANCHING,
    CHOICES,
    COLUMNS,
    FORM,
    IDENTIFIER,
    LABEL,
    MATRIX,
    MAX,
    MIN,
    NOTE,
    REQUIRED,
    SECTION,
    TYPE,
    VALIDATION,
    VARIABLE,
    DictionaryError,
    RowProblem,
    export_dictionary,
    import_dictionary,
)
from instruments.scoring import score_answers

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "redcap_export.csv"
SHORT_COLUMNS = {
    "section": SECTION,
    "label": LABEL,
    "choices": CHOICES,
    "note": NOTE,
    "validation": VALIDATION,
    "min": MIN,
    "max": MAX,
    "identifier": IDENTIFIER,
    "branching": BRANCHING,
    "required": REQUIRED,
    "matrix": MATRIX,
    "annotation": ANNOTATION,
}


def field(name: str, field_type: str, form: str = "survey", **cells: str) -> dict:
    """One dictionary row; keyword names are the short names in SHORT_COLUMNS."""
    row = dict.fromkeys(COLUMNS, "")
    row.update({VARIABLE: name, FORM: form, TYPE: field_type})
    row.update({SHORT_COLUMNS[key]: value for key, value in cells.items()})
    return row


def dictionary(*rows: dict, columns: list[str] = COLUMNS) -> str:
    output = io.StringIO()
    writer = csv.DictWriter(
        output, fieldnames=columns, lineterminator="\r\n", extrasaction="ignore"
    )
    writer.writeheader()
    writer.writerows(rows)
    return output.getvalue()


def exported_rows(definition: Definition) -> dict[str, dict[str, str]]:
    reader = csv.DictReader(io.StringIO(export_dictionary(definition), newline=""))
    return {row[VARIABLE]: row for row in reader}


def problems_of(text: str, **kwargs) -> list[RowProblem]:
    with pytest.raises(DictionaryError) as caught:
        import_dictionary(text, **kwargs)
    return caught.value.problems


def where(problems: list[RowProblem]) -> set[tuple[int | None, str]]:
    return {(problem.row, problem.column) for problem in problems}


def fixture_text() -> str:
    # Bytes, not read_text(): universal newlines would hide the CRLF under test.
    return FIXTURE.read_bytes().decode("utf-8")


# ---------------------------------------------------------------------------
# Round trips


@pytest.mark.parametrize("path", shipped_definition_files(), ids=lambda path: path.name)
def test_every_shipped_definition_survives_a_round_trip(path):
    definition = load_file(path)

    imported = import_dictionary(export_dictionary(definition))

    assert len(imported) == 1
    assert imported[0].to_data() == definition.to_data()
    assert imported[0].checksum == definition.checksum


ALL_FEATURES = {
    "slug": "all_features",
    "title": 'Every feature, "quoted", at once',
    "version": 3,
    "respondent": "staff",
    "licence": "Our own wording.\nLine two, with a comma.",
    "description": 'Say "hello", then: café, naïve, 5 €.',
    "minutes": 7,
    "sections": [
        {
            "title": 'About you, "briefly"',
            "items": [
                {
                    "name": "intro",
                    "type": "descriptive",
                    "label": 'Welcome.\nPlease answer, if you can, "honestly".',
                    "annotation": "First paragraph.\n\nSecond,  spaced paragraph.",
                },
                {
                    "name": "consent",
                    "type": "yesno",
                    "label": "Agree?",
                    "required": True,
                },
                {
                    "name": "email",
                    "type": "text",
                    "label": "Email",
                    "validation": "email",
                    "identifier": True,
                    "required": True,
                    "branching": "[consent] = '1'",
                },
                {
                    "name": "phone",
                    "type": "text",
                    "label": "Phone",
                    "validation": "phone",
                    "identifier": True,
                    "note": 'Mobile, "if any"',
                },
                {"name": "nickname", "type": "text", "label": "What do we call you?"},
                {
                    "name": "reasons",
                    "type": "checkbox",
                    "label": "Why, if at all?",
                    "choices": [
                        {"code": 1, "label": "Pain, mostly"},
                        {"code": 2, "label": 'Said "yes"'},
                        {"code": 3, "label": "Other"},
                    ],
                },
                {
                    "name": "reasons_other",
                    "type": "notes",
                    "label": "Other reasons\n(one per line)",
                    "branching": "[reasons(3)] = '1' and [consent] = '1'",
                },
                {
                    "name": "colour",
                    "type": "dropdown",
                    "label": "Colour",
                    "choices": [
                        {"code": "r", "label": "Red"},
                        {"code": "g", "label": "Green, sort of"},
                        {"code": -1, "label": "Don't know"},
                    ],
                },
            ],
        },
        {
            "title": "Numbers",
            "items": [
                {
                    "name": "visits",
                    "type": "integer",
                    "label": "Visits",
                    "min": 0,
                    "max": 52,
                    "required": True,
                },
                {
                    "name": "weight",
                    "type": "decimal",
                    "label": "Weight (kg)",
                    "min": 30.5,
                    "max": 250,
                    "decimals": 1,
                },
                {
                    "name": "height",
                    "type": "decimal",
                    "label": "Height (cm)",
                    "min": 100,
                    "max": 230,
                    "decimals": 0,
                    "annotation": "Whole centimetres.",
                },
                {"name": "ratio", "type": "decimal", "label": "Any number", "min": -5},
                {"name": "lab_value", "type": "decimal", "label": "Lab", "decimals": 3},
                {
                    "name": "visit_date",
                    "type": "date",
                    "label": "Visit date",
                    "min": "2020-01-01",
                    "max": "today",
                },
                {"name": "next_date", "type": "date", "label": "Next", "min": "today"},
                {
                    "name": "bmi",
                    "type": "calc",
                    "label": "BMI",
                    "note": "Worked out, not asked.",
                    "calculation": "round([weight] / (([height] / 100) ^ 2), 1)",
                },
            ],
        },
        {
            "title": "Pain",
            "items": [
                {
                    "name": "pain",
                    "type": "rating",
                    "label": "Pain now",
                    "min": 0,
                    "max": 10,
                    "required": True,
                    "anchors": {
                        "low": "No pain",
                        "middle": "Moderate",
                        "high": 'Worst, "ever"',
                    },
                },
                {
                    "name": "energy",
                    "type": "rating",
                    "label": "Energy",
                    "min": 1,
                    "max": 5,
                    "anchors": {"low": "None"},
                },
                {
                    "name": "ease",
                    "type": "rating",
                    "label": "Ease",
                    "min": 0,
                    "max": 100,
                },
            ],
        },
        {
            "title": "Mood",
            "items": [
                {
                    "name": f"mood_{number}",
                    "type": "radio",
                    "label": f"Mood statement {number}",
                    "choices": [
                        {"code": 0, "label": "Never"},
                        {"code": 1, "label": "Sometimes"},
                        {"code": 2, "label": "Often"},
                        {"code": 3, "label": "Always"},
                    ],
                    "matrix": "mood",
                    "required": number == 1,
                    **({"annotation": "Reverse-coded."} if number == 2 else {}),
                }
                for number in (1, 2, 3)
            ],
        },
    ],
    "scores": [
        {
            "name": "mood_total",
            "label": "Mood, total (0 to 9)",
            "method": "sum",
            "items": ["mood_1", "mood_2", "mood_3"],
            "reverse": ["mood_2"],
            "min_answered": 2,
            "prorate": True,
        },
        {
            "name": "wellbeing",
            "label": 'Mean of "pain" and mood',
            "method": "mean",
            "items": ["pain", "mood_1", "consent"],
            "reverse": ["pain"],
        },
    ],
}


def all_features() -> Definition:
    return from_data(ALL_FEATURES, source="all_features")


def test_hand_written_definition_uses_every_item_type():
    used = {item.type for item in all_features().items()}

    assert used == set(typing.get_args(ItemType))


def test_hand_written_definition_with_every_feature_survives_a_round_trip():
    definition = all_features()

    imported = import_dictionary(export_dictionary(definition))

    assert [d.to_data() for d in imported] == [definition.to_data()]


def test_round_trip_through_a_file_with_a_bom_and_a_new_slug():
    definition = all_features()
    text = "\ufeff" + export_dictionary(definition)

    (imported,) = import_dictionary(text, slug="renamed")

    assert imported.slug == "renamed"
    assert imported.to_data() == {**definition.to_data(), "slug": "renamed"}


def test_export_writes_the_columns_redcap_expects():
    definition = all_features()
    text = export_dictionary(definition)
    rows = exported_rows(definition)

    assert text.startswith(",".join(f'"{c}"' if "," in c else c for c in COLUMNS))
    assert text.endswith("\r\n")
    assert {row[FORM] for row in rows.values()} == {"all_features"}
    cells = {
        name: (rows[name][TYPE], rows[name][VALIDATION], rows[name][MIN])
        for name in ("email", "phone", "visits", "weight", "height", "visit_date")
    }
    assert cells == {
        "email": ("text", "email", ""),
        "phone": ("text", "phone", ""),
        "visits": ("text", "integer", "0"),
        "weight": ("text", "number_1dp", "30.5"),
        "height": ("text", "number", "100"),
        "visit_date": ("text", "date_ymd", "2020-01-01"),
    }
    assert rows["visit_date"][MAX] == "today"
    assert rows["pain"][TYPE] == "slider"
    assert rows["pain"][CHOICES] == 'No pain | Moderate | Worst, "ever"'
    assert (rows["pain"][MIN], rows["pain"][MAX]) == ("0", "10")
    assert rows["reasons"][CHOICES] == '1, Pain, mostly | 2, Said "yes" | 3, Other'
    assert (
        rows["bmi"][CHOICES] == ALL_FEATURES["sections"][1]["items"][-1]["calculation"]
    )
    assert rows["intro"][ANNOTATION].startswith(redcap.INSTRUMENT_TAG)
    assert rows["intro"][SECTION] == 'About you, "briefly"'
    assert rows["consent"][SECTION] == ""
    assert rows["mood_1"][MATRIX] == "mood"
    assert (rows["email"][REQUIRED], rows["email"][IDENTIFIER]) == ("y", "y")


def test_scores_are_exported_as_calc_rows_redcap_can_compute():
    rows = exported_rows(all_features())

    total, wellbeing = rows["mood_total"], rows["wellbeing"]

    assert total[TYPE] == "calc"
    assert total[CHOICES] == "sum([mood_1], (3 - [mood_2]), [mood_3])"
    assert total[ANNOTATION].startswith(redcap.SCORE_TAG)
    assert wellbeing[CHOICES] == "mean((10 - [pain]), [mood_1], [consent])"
    assert list(rows)[-2:] == ["mood_total", "wellbeing"]


PERCENT_SCORES = {
    "slug": "shares",
    "title": "Shares",
    "sections": [
        {
            "items": [
                {"name": "days", "type": "rating", "min": 0, "max": 7},
                {
                    "name": "grade",
                    "type": "radio",
                    "choices": [{"code": c, "label": f"G{c}"} for c in range(1, 6)],
                },
                {"name": "shift", "type": "rating", "min": -3, "max": 3},
            ]
        }
    ],
    "scores": [
        {
            "name": "share",
            "label": "Share",
            "method": "mean",
            "items": ["days", "grade", "shift"],
            "reverse": ["grade"],
            "min_answered": 2,
            "percent": True,
        }
    ],
}


def test_percent_scores_export_a_calc_redcap_computes_the_same_way():
    definition = from_data(PERCENT_SCORES, source="shares")
    row = exported_rows(definition)["share"]

    assert row[CHOICES] == (
        "mean([days] * 100 / 7, (5 - [grade]) * 100 / 4, ([shift] + 3) * 100 / 6)"
    )
    answers = {"days": "5", "grade": "2", "shift": "-1"}
    calculated = expressions.parse(row[CHOICES]).evaluate(answers)
    # 5 / 7 * 100 = 71.428571; (5 - 2) / 4 * 100 = 75; (-1 + 3) / 6 * 100 = 33.333333
    assert round(calculated, 6) == score_answers(definition, answers)["share"].value
    assert round(calculated, 6) == 59.920635
    (imported,) = import_dictionary(export_dictionary(definition))
    assert imported.scores[0].percent
    assert imported.to_data() == definition.to_data()


# ---------------------------------------------------------------------------
# Mapping of REDCap's own field types


def only_item(*rows: dict):
    (definition,) = import_dictionary(dictionary(*rows))
    return definition.sections[0].items[0]


MAPPING_IDS = [
    "text",
    "email",
    "phone",
    "integer",
    "number",
    "number-2dp",
    "date-ymd",
    "date-dmy",
    "date-mdy",
    "notes",
    "yesno",
    "truefalse",
    "dropdown",
    "slider-default",
    "slider-two-labels",
    "calc",
]


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        (field("q", "text"), {"type": "text"}),
        (
            field("q", "text", validation="email"),
            {"type": "text", "validation": "email"},
        ),
        (
            field("q", "text", validation="phone"),
            {"type": "text", "validation": "phone"},
        ),
        (
            field("q", "text", validation="integer", min="-3", max="7"),
            {"type": "integer", "min": -3.0, "max": 7.0},
        ),
        (field("q", "text", validation="number"), {"type": "decimal"}),
        (
            field("q", "text", validation="number_2dp", min="0.5"),
            {"type": "decimal", "decimals": 2, "min": 0.5},
        ),
        (
            field("q", "text", validation="date_ymd", min="2001-02-03", max="today"),
            {"type": "date", "min": "2001-02-03", "max": "today"},
        ),
        (
            field("q", "text", validation="date_dmy", min="03-02-2001"),
            {"type": "date", "min": "2001-02-03"},
        ),
        (
            field("q", "text", validation="date_mdy", min="02-03-2001"),
            {"type": "date", "min": "2001-02-03"},
        ),
        (field("q", "notes"), {"type": "notes"}),
        (field("q", "yesno"), {"type": "yesno"}),
        (
            field("q", "truefalse"),
            {
                "type": "radio",
                "choices": [
                    {"code": "1", "label": "True"},
                    {"code": "0", "label": "False"},
                ],
            },
        ),
        (
            field("q", "dropdown", choices="a, Apple | b, Banana, ripe"),
            {
                "type": "dropdown",
                "choices": [
                    {"code": "a", "label": "Apple"},
                    {"code": "b", "label": "Banana, ripe"},
                ],
            },
        ),
        (field("q", "slider"), {"type": "rating", "min": 0.0, "max": 100.0}),
        (
            field("q", "slider", choices="Low | High", min="1", max="7"),
            {
                "type": "rating",
                "min": 1.0,
                "max": 7.0,
                "anchors": {"low": "Low", "high": "High"},
            },
        ),
        (
            field("q", "calc", choices="sum(1,\n 2)"),
            {"type": "calc", "calculation": "sum(1, 2)"},
        ),
    ],
    ids=MAPPING_IDS,
)
def test_redcap_field_types_map_to_item_types(row, expected):
    item = only_item({**row, LABEL: "Question"})

    data = item.model_dump(mode="json", exclude_defaults=True)
    assert data == {"name": "q", "label": "Question", **expected}


def test_a_single_form_without_metadata_takes_its_title_from_the_form_name():
    (definition,) = import_dictionary(dictionary(field("q", "yesno", form="my_form")))

    assert (definition.slug, definition.title) == ("my_form", "My form")
    assert (definition.version, definition.respondent) == (1, "patient")


def test_headers_are_matched_whatever_their_case_spacing_and_order():
    columns = list(reversed(COLUMNS))
    text = dictionary(field("q", "yesno", label="Q"), columns=columns)
    text = text.replace("Field Type", "field  TYPE ", 1)

    (definition,) = import_dictionary(text)

    assert definition.item("q").type == "yesno"


def test_blank_rows_are_skipped_but_still_counted():
    text = dictionary(
        field("q1", "yesno"), dict.fromkeys(COLUMNS, ""), field("q2", "nope")
    )

    assert where(problems_of(text)) == {(4, TYPE)}


# ---------------------------------------------------------------------------
# A dictionary as REDCap exports it


def test_the_fixture_is_written_as_redcap_writes_it():
    raw = FIXTURE.read_bytes()
    first_line = raw.split(b"\r\n", 1)[0]

    assert raw.startswith(b"\xef\xbb\xbf")
    assert raw.count(b"\r\n") >= 20
    assert b"\n" not in raw.replace(b"\r\n", b"")
    assert first_line.decode("utf-8-sig") == ",".join(f'"{c}"' for c in COLUMNS)


def test_a_redcap_export_imports_one_definition_per_form():
    demographics, diary = import_dictionary(fixture_text())

    assert (demographics.slug, demographics.title) == ("demographics", "Demographics")
    assert (diary.slug, diary.title) == ("pain_diary", "Pain diary")
    assert [item.name for item in demographics.items()][:3] == [
        "record_id",
        "dob",
        "sex",
    ]
    assert [item.name for item in diary.items()] == [
        "diary_date",
        "pain_now",
        "pain_bother",
        "q1",
        "q2",
        "impact_mean",
        "took_meds",
        "med_doses",
        "diary_notes",
    ]
    assert demographics.scores == [] and diary.scores == []


def test_a_redcap_export_keeps_types_choices_and_validation():
    demographics, diary = import_dictionary(fixture_text())
    item = {**demographics.items_by_name, **diary.items_by_name}

    types = {name: value.type for name, value in item.items()}
    assert types == {
        "record_id": "text",
        "dob": "date",
        "sex": "radio",
        "still_working": "radio",
        "smoker": "yesno",
        "cigs_per_day": "integer",
        "weight_kg": "decimal",
        "email": "text",
        "join_reasons": "checkbox",
        "join_other": "text",
        "privacy_note": "descriptive",
        "diary_date": "date",
        "pain_now": "rating",
        "pain_bother": "rating",
        "q1": "radio",
        "q2": "radio",
        "impact_mean": "calc",
        "took_meds": "yesno",
        "med_doses": "integer",
        "diary_notes": "notes",
    }
    assert item["still_working"].choice_list == (("1", "Yes"), ("0", "No"))
    assert item["sex"].choice_label("3") == "Prefer not to say"
    assert (item["dob"].min, item["dob"].max) == ("1900-01-01", "today")
    assert item["dob"].identifier and item["dob"].required
    assert item["dob"].note == "YYYY-MM-DD"
    assert item["dob"].annotation == "@HIDEBUTTON"
    assert (item["cigs_per_day"].min, item["cigs_per_day"].max) == (1, 100)
    assert item["weight_kg"].decimals == 1
    assert item["email"].validation == "email"
    assert item["record_id"].validation is None
    assert (item["pain_now"].min, item["pain_now"].max) == (0, 10)
    assert item["pain_now"].anchors.model_dump() == {
        "low": "No pain",
        "middle": "Moderate",
        "high": "Worst imaginable",
    }
    assert (item["pain_bother"].min, item["pain_bother"].max) == (0, 100)
    assert item["pain_bother"].anchors.middle == ""
    assert item["impact_mean"].calculation == "round(mean([q1],[q2]),1)"
    assert item["q1"].required and not item["took_meds"].required


def test_a_redcap_export_keeps_branching_matrices_sections_and_html():
    demographics, diary = import_dictionary(fixture_text())

    assert demographics.item("cigs_per_day").branching == "[smoker] = '1'"
    assert demographics.item("join_other").branching == "[join_reasons(3)] = '1'"
    assert diary.item("med_doses").branching == "[took_meds] = '1'"
    assert set(diary.branching) == {"med_doses"}
    assert [section.title for section in demographics.sections] == [
        "",
        "Personal details",
        "Contact",
    ]
    assert [section.title for section in diary.sections] == [
        "Your pain today",
        "In the last 24 hours, pain interfered with...",
    ]
    assert [item.matrix for item in diary.sections[1].items[:3]] == [
        "pain_impact",
        "pain_impact",
        None,
    ]
    # A line break inside a cell is kept, as \n whatever the file used.
    assert demographics.item("privacy_note").label == (
        "<b>bold</b> Please read this carefully.\nYour answers are kept private."
    )


def test_slug_selects_one_form_of_a_redcap_export():
    (diary,) = import_dictionary(fixture_text(), slug="pain_diary")

    assert diary.slug == "pain_diary"
    assert diary.item("pain_now").type == "rating"


def test_slug_naming_no_form_lists_the_forms():
    (problem,) = problems_of(fixture_text(), slug="nope")

    assert (problem.row, problem.column) == (None, FORM)
    assert "demographics, pain_diary" in problem.message


def test_a_redcap_export_survives_our_own_round_trip():
    for definition in import_dictionary(fixture_text()):
        (again,) = import_dictionary(export_dictionary(definition))
        assert again.to_data() == definition.to_data()


# ---------------------------------------------------------------------------
# Malformed dictionaries


BAD_ROWS = [
    pytest.param(
        [field("q", "radio", choices="1 Yes | 2, No")],
        (2, CHOICES),
        "'1 Yes' is not written as 'code, label'",
        id="choice-without-comma",
    ),
    pytest.param(
        [field("q", "radio", choices="1, Yes | 1, No")],
        (2, CHOICES),
        "choice code '1' is used twice",
        id="duplicate-choice-code",
    ),
    pytest.param(
        [field("q", "dropdown", choices="1.5, Half | 2, Two")],
        (2, CHOICES),
        "choice code '1.5'",
        id="bad-choice-code",
    ),
    pytest.param(
        [field("q", "checkbox")],
        (2, CHOICES),
        "choices are needed",
        id="missing-choices",
    ),
    pytest.param(
        [field("q1", "yesno"), field("q2", "text", branching="[q9] = '1'")],
        (3, BRANCHING),
        "unknown field [q9]",
        id="unknown-field-in-branching",
    ),
    pytest.param(
        [field("q1", "yesno"), field("q2", "text", branching="[q1] = = '1'")],
        (3, BRANCHING),
        "cannot be read",
        id="unparseable-branching",
    ),
    pytest.param(
        [field("q1", "yesno"), field("q2", "text", branching="[q1 = '1'")],
        (3, BRANCHING),
        "cannot be read",
        id="unclosed-bracket-in-branching",
    ),
    pytest.param(
        [field("q1", "yesno"), field("q2", "text"), field("q1", "notes")],
        (4, VARIABLE),
        "q1: the variable name is used twice",
        id="duplicate-variable-name",
    ),
    pytest.param(
        [field("q", "file")],
        (2, TYPE),
        "field type 'file' is not supported",
        id="file-field",
    ),
    pytest.param(
        [field("q", "sql", choices="select 1")],
        (2, TYPE),
        "field type 'sql' is not supported",
        id="sql-field",
    ),
    pytest.param(
        [field("q", "signature")],
        (2, TYPE),
        "'signature' is not a REDCap field type",
        id="unknown-field-type",
    ),
    pytest.param(
        [field("q", "")],
        (2, TYPE),
        "the field type is empty",
        id="empty-field-type",
    ),
    pytest.param(
        [field("q", "text", validation="datetime_ymd")],
        (2, VALIDATION),
        "validation type 'datetime_ymd' is not supported",
        id="datetime-validation",
    ),
    pytest.param(
        [field("q", "text", validation="zipcode")],
        (2, VALIDATION),
        "validation type 'zipcode' is not supported",
        id="zipcode-validation",
    ),
    pytest.param(
        [field("q", "text", validation="integer", min="ten")],
        (2, MIN),
        "'ten' is not a number",
        id="non-numeric-min",
    ),
    pytest.param(
        [field("q", "text", validation="integer", min="1.5")],
        (2, MIN),
        "whole number",
        id="fractional-integer-min",
    ),
    pytest.param(
        [field("q", "text", validation="number", min="5", max="1")],
        (2, MAX),
        "max is smaller than min",
        id="max-below-min",
    ),
    pytest.param(
        [field("q", "text", validation="date_ymd", max="2020-02-30")],
        (2, MAX),
        "'2020-02-30' is not a date",
        id="impossible-date",
    ),
    pytest.param(
        [field("q", "text", min="1")],
        (2, MIN),
        "min/max do not apply to a text field",
        id="min-on-plain-text",
    ),
    pytest.param(
        [field("q", "slider", min="0", max="1000")],
        (2, MAX),
        "at most 101 points",
        id="slider-too-long",
    ),
    pytest.param(
        [
            field("reasons", "checkbox", choices="1, A | 2, B"),
            field("why", "text", branching="[reasons(3)] = '1'"),
        ],
        (3, BRANCHING),
        "uses [reasons(3)] but reasons has no option 3",
        id="checkbox-code-that-does-not-exist",
    ),
    pytest.param(
        [
            field("age", "text", validation="integer"),
            field("why", "text", branching="[age(1)] = '1'"),
        ],
        (3, BRANCHING),
        "age is not a checkbox",
        id="option-code-on-a-non-checkbox",
    ),
    pytest.param(
        [field("q", "calc")],
        (2, CHOICES),
        "a calc field needs a calculation",
        id="calc-without-calculation",
    ),
    pytest.param(
        [field("q", "calc", choices="sum([nope])")],
        (2, CHOICES),
        "calculation refers to unknown field [nope]",
        id="calc-with-unknown-field",
    ),
    pytest.param(
        [field("q", "yesno", required="maybe")],
        (2, REQUIRED),
        "'maybe' is not y or empty",
        id="bad-required-flag",
    ),
    pytest.param(
        [field("q", "descriptive", required="y")],
        (2, REQUIRED),
        "cannot be required",
        id="required-descriptive",
    ),
    pytest.param(
        [field("q", "yesno", form="")],
        (2, FORM),
        "every row needs a form name",
        id="row-without-form-name",
    ),
    pytest.param(
        [field("", "yesno")],
        (2, VARIABLE),
        "the variable name is empty",
        id="empty-variable-name",
    ),
    pytest.param(
        [field("Q1", "yesno")],
        (2, VARIABLE),
        "'Q1'",
        id="upper-case-variable-name",
    ),
    pytest.param(
        [
            field("a", "radio", choices="1, A | 2, B", matrix="m"),
            field("b", "radio", choices="1, A | 3, C", matrix="m"),
        ],
        (3, MATRIX),
        "must have the same type and options as 'a'",
        id="matrix-with-different-options",
    ),
    pytest.param(
        [field("q", "yesno", annotation="@SP-INSTRUMENT={not json")],
        (2, ANNOTATION),
        "@SP-INSTRUMENT is not valid JSON",
        id="broken-instrument-tag",
    ),
]


@pytest.mark.parametrize(("rows", "location", "message"), BAD_ROWS)
def test_a_malformed_row_is_reported_by_row_and_column(rows, location, message):
    problems = problems_of(dictionary(*rows))

    assert location in where(problems), problems
    assert any(message in problem.message for problem in problems), problems
    assert all(problem.row is not None for problem in problems)


def score_row(name: str, payload: dict, **cells: str) -> dict:
    tag = redcap.SCORE_TAG + json.dumps(payload)
    return field(name, "calc", label="Score", choices="sum(1)", annotation=tag, **cells)


FORM_PROBLEMS = [
    pytest.param(
        [
            field("q", "yesno"),
            score_row("total", {"method": "median", "items": ["q"]}),
        ],
        (3, ANNOTATION),
        "total: method: Input should be 'sum' or 'mean'",
        id="score-method",
    ),
    pytest.param(
        [field("q", "yesno"), score_row("total", {"method": "sum", "items": ["x"]})],
        (3, ANNOTATION),
        "total: unknown item 'x'",
        id="score-over-unknown-item",
    ),
    pytest.param(
        [field("q", "notes"), score_row("total", {"method": "sum", "items": ["q"]})],
        (3, ANNOTATION),
        "total: item 'q' has no numeric values to score",
        id="score-over-text",
    ),
    pytest.param(
        [field("q", "yesno"), score_row("q", {"method": "sum", "items": ["q"]})],
        (3, VARIABLE),
        "q: the name is already used by an item or score",
        id="score-named-like-an-item",
    ),
    pytest.param(
        [
            field("a", "radio", choices="1, A | 2, B", matrix="m"),
            field("b", "yesno"),
            field("c", "radio", choices="1, A | 2, B", matrix="m"),
        ],
        (4, MATRIX),
        "matrix 'm': its items must follow one another",
        id="matrix-split-in-two",
    ),
    pytest.param(
        [field("q", "yesno", matrix="m")],
        (2, MATRIX),
        "only radio and checkbox items can be in a matrix",
        id="matrix-of-yesno",
    ),
    pytest.param(
        [field("q", "yesno", form="Pain Diary")],
        (2, FORM),
        "slug: String should match pattern",
        id="form-name-with-spaces",
    ),
    pytest.param(
        [
            field("q1", "yesno"),
            field(
                "q2",
                "yesno",
                annotation=redcap.INSTRUMENT_TAG + '{"respondent": "robot"}',
            ),
        ],
        (3, ANNOTATION),
        "@SP-INSTRUMENT respondent: Input should be 'patient' or 'staff'",
        id="instrument-tag-with-bad-respondent",
    ),
    pytest.param(
        [field("q", "yesno", annotation='@SP-SCORE=["sum"]')],
        (2, ANNOTATION),
        "@SP-SCORE must hold an object",
        id="score-tag-not-an-object",
    ),
    pytest.param(
        [field("min_age", "descriptive", required="y")],
        (2, REQUIRED),
        "min_age: a descriptive item cannot be required",
        id="column-not-guessed-from-the-name",
    ),
]


@pytest.mark.parametrize(("rows", "location", "message"), FORM_PROBLEMS)
def test_a_problem_with_the_form_points_at_a_row(rows, location, message):
    problems = problems_of(dictionary(*rows))

    assert [(p.row, p.column) for p in problems] == [location], problems
    assert message in problems[0].message


def test_a_duplicate_name_points_at_the_second_use():
    text = dictionary(field("q1", "yesno"), field("q2", "yesno"), field("q1", "yesno"))

    (problem,) = problems_of(text)

    assert (problem.row, problem.column) == (4, VARIABLE)
    assert str(problem).startswith("row 4, column 'Variable / Field Name': q1:")


def test_row_numbers_count_spreadsheet_rows_not_lines():
    text = dictionary(
        field("intro", "descriptive", label="Line one\nLine two\nLine three"),
        field("q", "radio", choices="1 Yes | 2, No"),
    )

    assert where(problems_of(text)) == {(3, CHOICES)}


def test_a_missing_column_is_reported_in_the_header():
    columns = [column for column in COLUMNS if column != BRANCHING]

    problems = problems_of(dictionary(field("q", "yesno"), columns=columns))

    assert [(p.row, p.column) for p in problems] == [(1, BRANCHING)]
    assert "missing" in problems[0].message


def test_a_file_that_is_not_a_data_dictionary_lists_every_missing_column():
    problems = problems_of("name,age\r\nann,40\r\n")

    assert [p.column for p in problems] == COLUMNS
    assert {p.row for p in problems} == {1}


@pytest.mark.parametrize("text", ["", "\ufeff"], ids=["empty", "bom-only"])
def test_an_empty_file_is_reported(text):
    (problem,) = problems_of(text)

    assert problem.row is None
    assert "empty" in problem.message


def test_a_header_without_fields_is_reported():
    (problem,) = problems_of(dictionary())

    assert "no fields" in problem.message


def test_every_problem_in_a_file_is_reported_together():
    text = dictionary(
        field("q1", "radio", choices="1 Yes | 2, No"),
        field("q2", "file"),
        field("q3", "text", validation="datetime_ymd"),
        field("q4", "text", validation="integer", min="low"),
        field("q5", "yesno", form=""),
        field("q6", "yesno", form="other", branching="[nope] = '1'"),
        field("q6", "yesno", form="other"),
    )

    problems = problems_of(text)

    assert [problem.row for problem in problems] == [2, 3, 4, 5, 6, 7, 8]
    assert where(problems) == {
        (2, CHOICES),
        (3, TYPE),
        (4, VALIDATION),
        (5, MIN),
        (6, FORM),
        (7, BRANCHING),
        (8, VARIABLE),
    }


def test_row_problems_and_meaning_problems_in_one_form_are_reported_together():
    text = dictionary(
        field("q1", "radio", choices="1, Yes | 1, No"),
        field("q2", "yesno", branching="[q1] = '1' and [q3] = '1'"),
        field("q2", "yesno"),
        field("q4", "text", branching="[q1] = = '1'"),
    )

    problems = problems_of(text)

    assert where(problems) == {
        (2, CHOICES),
        (3, BRANCHING),
        (4, VARIABLE),
        (5, BRANCHING),
    }


def test_a_reference_to_a_rejected_row_is_not_reported_again():
    # q1 is rejected (file upload); q2's branching on it is not a second problem.
    text = dictionary(
        field("q1", "file"),
        field("q2", "yesno", branching="[q1] <> ''"),
        field("q3", "checkbox", choices="1 A | 2, B"),
        field("q4", "text", branching="[q3(1)] = '1'"),
    )

    assert where(problems_of(text)) == {(2, TYPE), (4, CHOICES)}


def test_a_malformed_dictionary_imports_nothing_even_from_good_forms():
    text = dictionary(
        field("fine", "yesno", form="good"),
        field("broken", "file", form="bad"),
    )

    with pytest.raises(DictionaryError) as caught:
        import_dictionary(text)

    assert where(caught.value.problems) == {(3, TYPE)}
    assert "row 3, column 'Field Type'" in str(caught.value)


# ---------------------------------------------------------------------------
# Commands


def run(*args, **options) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out, stderr=io.StringIO(), **options)
    return out.getvalue()


def test_import_command_stores_a_version_per_form(db):
    output = run("import_dictionary", str(FIXTURE))

    versions = InstrumentVersion.objects.order_by("instrument__slug")
    assert [(v.instrument.slug, v.number) for v in versions] == [
        ("demographics", 1),
        ("pain_diary", 1),
    ]
    assert {v.source for v in versions} == {"import:redcap_export.csv"}
    assert output.count("new version") == 2
    stored = versions[1].parsed
    assert stored.to_data() == import_dictionary(fixture_text())[1].to_data()


def test_import_command_run_again_changes_nothing(db):
    run("import_dictionary", str(FIXTURE))

    output = run("import_dictionary", str(FIXTURE))

    assert InstrumentVersion.objects.count() == 2
    assert output.count("unchanged") == 2
    assert "new version" not in output


def test_import_command_with_slug_takes_one_form(db):
    output = run("import_dictionary", str(FIXTURE), slug="pain_diary")

    assert [v.instrument.slug for v in InstrumentVersion.objects.all()] == [
        "pain_diary"
    ]
    assert "pain_diary" in output and "demographics" not in output


def test_import_command_with_slug_renames_a_single_form(db, tmp_path):
    path = tmp_path / "one.csv"
    path.write_text(dictionary(field("q", "yesno", form="whatever")), "utf-8")

    run("import_dictionary", str(path), slug="chosen")

    assert InstrumentVersion.objects.get().instrument.slug == "chosen"


def test_import_command_rejects_a_malformed_file_and_stores_nothing(db, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text(
        dictionary(
            field("fine", "yesno", form="good"),
            field("q", "radio", form="bad", choices="1 Yes | 2, No"),
        ),
        "utf-8",
    )

    with pytest.raises(CommandError) as caught:
        run("import_dictionary", str(path))

    message = str(caught.value)
    assert "bad.csv: nothing imported" in message
    assert "row 3, column 'Choices, Calculations, OR Slider Labels'" in message
    assert InstrumentVersion.objects.count() == 0


def test_import_command_refuses_a_binary_file_and_stores_nothing(db, tmp_path):
    path = tmp_path / "binary.csv"
    path.write_bytes(dictionary(field("q", "yesno", form="x")).encode() + b"\x00")

    with pytest.raises(CommandError, match="binary data"):
        run("import_dictionary", str(path))
    assert InstrumentVersion.objects.count() == 0


def test_import_command_reports_an_unreadable_file(db, tmp_path):
    latin = tmp_path / "latin.csv"
    latin.write_bytes("é".encode("latin-1"))

    with pytest.raises(CommandError, match="not UTF-8"):
        run("import_dictionary", str(latin))
    with pytest.raises(CommandError, match="cannot read"):
        run("import_dictionary", str(tmp_path / "missing.csv"))


def test_export_command_writes_the_dictionary_to_stdout(db):
    run("load_instruments")

    output = run("export_dictionary", "pain_severity")

    assert output.startswith("Variable / Field Name,Form Name,")
    (definition,) = import_dictionary(output)
    shipped = next(
        load_file(path)
        for path in shipped_definition_files()
        if path.stem == "pain_severity"
    )
    assert shipped.slug == "pain_severity"
    assert definition.to_data() == shipped.to_data()


def test_export_then_import_command_is_unchanged(db, tmp_path):
    run("load_instruments")
    path = tmp_path / "out.csv"
    path.write_text(run("export_dictionary", "anxiety_depression"), "utf-8")

    output = run("import_dictionary", str(path))

    assert "unchanged" in output
    assert (
        InstrumentVersion.objects.filter(instrument__slug="anxiety_depression").count()
        == 1
    )


def test_export_command_rejects_an_unknown_slug(db):
    run("load_instruments")

    with pytest.raises(CommandError, match="no instrument 'nope'"):
        run("export_dictionary", "nope")
    with pytest.raises(CommandError, match="version 9"):
        run("export_dictionary", "pain_severity", number=9)
    output = run("export_dictionary", "pain_severity", "--number", "1")
    assert output.startswith("Variable / Field Name,")


def test_l8_the_export_command_is_verbatim_unless_asked_for_spreadsheets(db):
    formula = "=SUM(1+1)"
    text = dictionary(
        field("q_a", "radio", form="sums", label=formula, choices="1, One | 2, Two")
    )
    (definition,) = import_dictionary(text)
    catalogue.register(definition, source="import:sums.csv")

    verbatim = run("export_dictionary", "sums")
    safe = run("export_dictionary", "sums", "--spreadsheet-safe")

    assert exported_rows(definition)["q_a"][LABEL] == formula
    assert verbatim == export_dictionary(definition)
    (again,) = import_dictionary(verbatim)
    assert again.checksum == definition.checksum
    cells = [cell for row in csv.reader(io.StringIO(safe)) for cell in row]
    assert "'" + formula in cells
    assert not [cell for cell in cells if cell.startswith(("=", "+", "-", "@"))]
