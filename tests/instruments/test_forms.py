"""Forms built from a definition: every item type renders and validates."""

import datetime as dt

import pytest
import yaml
from django.template.loader import render_to_string

from instruments.definitions import from_data
from instruments.forms import REQUIRED_MESSAGE, InstrumentForm

TODAY = dt.date(2026, 12, 1)
EVERY_TYPE = yaml.safe_load(
    """
slug: every_type
title: Every type
choice_sets:
  agree: [{code: 1, label: Agree}, {code: 2, label: Disagree}]
sections:
  - title: First
    items:
      - {name: intro, type: descriptive, label: Please read.}
      - name: sex
        type: radio
        label: Sex
        required: true
        choices: [{code: 1, label: Female}, {code: 2, label: Male}]
      - name: region
        type: dropdown
        label: Region
        choices: [{code: n, label: North}, {code: s, label: South}]
      - name: reasons
        type: checkbox
        label: Reasons
        choices:
          - {code: 1, label: Work}
          - {code: 2, label: Home}
          - {code: 3, label: Other}
      - name: other
        type: text
        label: Other reason
        required: true
        branching: "[reasons(3)] = '1'"
      - {name: smoker, type: yesno, label: "Smoker?"}
      - name: pain
        type: rating
        label: Pain
        min: 0
        max: 10
        anchors: {low: None, high: Worst}
      - {name: wide, type: rating, label: VAS, min: 0, max: 100}
  - title: Second
    items:
      - {name: age, type: integer, label: Age, min: 18, max: 110}
      - {name: weight, type: decimal, label: Weight, min: 30, max: 300, decimals: 1}
      - {name: email, type: text, label: Email, validation: email}
      - {name: phone, type: text, label: Phone, validation: phone}
      - {name: story, type: notes, label: Tell us}
      - {name: seen, type: date, label: Seen on, min: 2020-01-01, max: today}
      - name: bmi_ish
        type: calc
        label: Double weight
        calculation: "[weight] * 2"
      - {name: m1, type: radio, label: Row one, choices: agree, matrix: grid}
      - {name: m2, type: radio, label: Row two, choices: agree, matrix: grid}
"""
)


@pytest.fixture(scope="module")
def definition():
    return from_data(EVERY_TYPE, source="every_type")


def make(definition, data=None, **kwargs):
    return InstrumentForm(data, definition=definition, today=TODAY, **kwargs)


def test_every_answerable_item_gets_a_field(definition):
    form = make(definition)
    assert set(form.fields) == {
        "sex", "region", "reasons", "other", "smoker", "pain", "wide", "age",
        "weight", "email", "phone", "story", "seen", "m1", "m2",
    }  # fmt: skip


def test_every_type_renders(definition):
    html = render_to_string("instruments/_form_body.html", {"form": make(definition)})
    for text in ("Please read.", "Female", "North", "Work", "Smoker?", "Worst",
                 'type="date"', 'max="2026-12-01"', "Double weight", "matrix-row",
                 'type="email"', 'type="tel"', "<textarea"):  # fmt: skip
        assert text in html, text
    # Branching travels to the browser as the parsed tree, not as code to run.
    assert 'data-branching="[&quot;cmp&quot;' in html


def test_a_valid_submission_gives_typed_answers(definition):
    form = make(
        definition,
        {
            "sex": "1", "region": "s", "reasons": ["3", "1"], "other": "Dog",
            "smoker": "0", "pain": "7", "wide": "55", "age": "40", "weight": "72.5",
            "email": "a@example.org", "phone": "+44 7700 900123", "story": "Long",
            "seen": "2026-11-30", "m1": "1", "m2": "2",
        },
    )  # fmt: skip
    assert form.is_valid(), form.errors
    answers = form.all_answers()
    assert answers == {
        "sex": "1", "region": "s", "reasons": ["1", "3"], "other": "Dog",
        "smoker": "0", "pain": 7, "wide": 55, "age": 40, "weight": 72.5,
        "email": "a@example.org", "phone": "+44 7700 900123", "story": "Long",
        "seen": "2026-11-30", "m1": "1", "m2": "2", "bmi_ish": 145.0,
    }  # fmt: skip


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("age", "17", "Enter a whole number between 18 and 110."),
        ("age", "forty", "Enter a whole number between 18 and 110."),
        ("weight", "72.55", "Use at most 1 decimal places."),
        ("weight", "20", "Enter a number between 30 and 300."),
        ("email", "not-an-email", "Enter an email address"),
        ("phone", "call me", "Enter a phone number"),
        ("seen", "2019-12-31", "Enter a date on or after 01/01/2020."),
        ("seen", "2026-12-02", "Enter a date on or before 01/12/2026."),
        ("seen", "yesterday", "Enter a date, for example"),
        ("pain", "11", "Select a valid choice"),
        ("wide", "101", "Enter a whole number between 0 and 100."),
        ("sex", "9", "Select a valid choice"),
        ("reasons", ["7"], "Select a valid choice"),
    ],
)
def test_bad_input_gets_a_clear_message(definition, field, value, message):
    form = make(definition, {"sex": "1", field: value})
    assert not form.is_valid()
    assert any(message in error for error in form.errors[field])


def test_required_items_must_be_answered(definition):
    form = make(definition, {})
    assert not form.is_valid()
    assert form.errors["sex"] == [REQUIRED_MESSAGE]


def test_a_hidden_required_item_is_not_required(definition):
    form = make(definition, {"sex": "1", "reasons": ["1"]})
    assert form.is_valid(), form.errors
    assert "other" not in form.errors


def test_a_shown_required_item_is_required(definition):
    form = make(definition, {"sex": "1", "reasons": ["3"]})
    assert not form.is_valid()
    assert form.errors["other"] == [REQUIRED_MESSAGE]


def test_hidden_items_never_keep_answers(definition):
    form = make(definition, {"sex": "1", "reasons": ["1"], "other": "Left over"})
    assert form.is_valid(), form.errors
    assert "other" not in form.all_answers()


def test_an_invalid_value_in_a_hidden_item_is_ignored(definition):
    definition_with_hidden_number = from_data(
        {
            "slug": "h",
            "title": "H",
            "sections": [
                {
                    "items": [
                        {"name": "show", "type": "yesno"},
                        {"name": "n", "type": "integer", "branching": "[show] = '1'"},
                    ]
                }
            ],
        },
        source="h",
    )
    form = make(definition_with_hidden_number, {"show": "0", "n": "abc"})
    assert form.is_valid(), form.errors
    assert form.all_answers() == {"show": "0"}


def test_a_page_sees_answers_from_other_pages(definition):
    # "other" is on page 1 and depends on page 1 only; page 2's calc uses weight.
    form = make(definition, {"weight": "50"}, sections=[1], answers={"sex": "2"})
    assert form.is_valid(), form.errors
    assert form.all_answers() == {"sex": "2", "weight": 50.0, "bmi_ish": 100.0}


def test_saved_answers_fill_the_form(definition):
    saved = {"sex": "2", "reasons": ["1"], "pain": 4, "seen": "2026-01-02"}
    form = make(definition, answers=saved)
    assert form["sex"].value() == "2"
    assert form["reasons"].value() == ["1"]
    assert form["pain"].value() == "4"
    assert form["seen"].value() == "2026-01-02"


def test_the_error_summary_links_to_each_field(definition):
    form = make(definition, {"age": "3"})
    form.is_valid()
    anchors = {anchor for anchor, _, _ in form.error_list()}
    assert {"id_sex_0", "id_age"} <= anchors


def test_matrix_items_render_as_one_group(definition):
    blocks = list(make(definition, sections=[1]).blocks())
    matrices = [block for block in blocks if block.kind == "matrix"]
    assert len(matrices) == 1
    assert [row.name for row in matrices[0].rows] == ["m1", "m2"]
    assert matrices[0].options == (("1", "Agree"), ("2", "Disagree"))


def test_checkbox_answers_keep_option_order(definition):
    form = make(definition, {"sex": "1", "reasons": ["2", "1"]})
    assert form.is_valid()
    assert form.all_answers()["reasons"] == ["1", "2"]
