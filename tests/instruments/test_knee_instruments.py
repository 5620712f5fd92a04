"""The knee-pain physiotherapy cohort's instruments: load, render, branch, score.

Each expected score is worked out by hand in the comment beside it. Answers are
given as the forms store them: text for choices, numbers for ratings.
"""

import csv
import datetime as dt
import io
from functools import cache

import pytest
from django.template.loader import render_to_string
from django.utils.html import escape

from instruments import catalogue, expressions
from instruments.answers import resolve
from instruments.definitions import DEFINITIONS_DIR, Definition, load_file
from instruments.forms import REQUIRED_MESSAGE, InstrumentForm
from instruments.models import Instrument
from instruments.redcap import (
    CHOICES,
    VARIABLE,
    export_dictionary,
    import_dictionary,
)
from instruments.scoring import score_answers

KNEE = {
    "knee_characteristics": [],
    "knee_pain": ["knee_pain"],
    "knee_function": ["knee_function_daily", "knee_function_active", "knee_function"],
    "knee_confidence": ["knee_confidence"],
    "exercise_adherence": ["exercise_adherence"],
    "knee_global_change": ["knee_global_change"],
}
TODAY = dt.date(2026, 12, 1)


@cache
def load(slug: str) -> Definition:
    return load_file(DEFINITIONS_DIR / f"{slug}.yaml")


def scored(slug: str, answers: dict) -> dict:
    return score_answers(load(slug), answers)


def numbered(prefix: str, values: list, start: int = 1) -> dict[str, str]:
    """{"kfunc_01": "2", ...} from codes in item order; None leaves a gap."""
    return {
        f"{prefix}{number:02d}": str(value)
        for number, value in enumerate(values, start=start)
        if value is not None
    }


def form(slug: str, data: dict | None = None) -> InstrumentForm:
    return InstrumentForm(data, definition=load(slug), today=TODAY)


# ---------------------------------------------------------------------------
# Every knee instrument


@pytest.mark.parametrize("slug", KNEE)
def test_each_knee_instrument_loads_with_its_scores(slug):
    definition = load(slug)
    assert definition.slug == slug
    # The characteristics are taken by staff at enrolment, as in every study.
    expected = "staff" if slug == "knee_characteristics" else "patient"
    assert definition.respondent == expected
    assert definition.title and definition.description and definition.minutes
    assert [score.name for score in definition.scores] == KNEE[slug]


def test_the_shipped_catalogue_stores_every_knee_instrument(db):
    catalogue.load_shipped()
    for slug in KNEE:
        stored = Instrument.objects.get(slug=slug).latest_version()
        assert stored.parsed.to_data() == load(slug).to_data()


@pytest.mark.parametrize("slug", KNEE)
def test_each_knee_instrument_renders_every_item(slug):
    html = render_to_string("instruments/_form_body.html", {"form": form(slug)})
    for item in load(slug).items():
        assert escape(item.label) in html, item.name
        if item.is_answerable:
            assert f'name="{item.name}"' in html, item.name


@pytest.mark.parametrize("slug", KNEE)
def test_each_knee_instrument_comes_back_unchanged_from_a_redcap_dictionary(slug):
    definition = load(slug)
    (imported,) = import_dictionary(export_dictionary(definition))
    assert imported.to_data() == definition.to_data()
    assert imported.checksum == definition.checksum


@pytest.mark.parametrize(
    ("slug", "answers"),
    [
        ("knee_pain", {"kpain_average": 6, "kpain_walking": 4, "kpain_stairs": 8}),
        ("knee_function", numbered("kfunc_", [0, 1, 2, 3, 4, 1, 2, 0, 4, 3, 2, 1])),
        ("knee_confidence", numbered("kconf_", [7, 5, 8, 6, 9, 3])),
        ("exercise_adherence", {"exercise_days": 5, "exercise_followed": "4"}),
        ("knee_global_change", {"knee_change": "-2"}),
    ],
)
def test_redcap_computes_each_knee_score_as_the_engine_does(slug, answers):
    # A score's calc row is what a REDCap project would compute from the answers.
    definition = load(slug)
    reader = csv.DictReader(io.StringIO(export_dictionary(definition)))
    calculations = {row[VARIABLE]: row[CHOICES] for row in reader}
    results = score_answers(definition, answers)
    assert results
    for name, result in results.items():
        value = expressions.parse(calculations[name]).evaluate(answers)
        assert round(value, 6) == result.value, name


# ---------------------------------------------------------------------------
# Knee characteristics: shared demographics, validation and BMI


def test_it_names_and_codes_the_demographics_as_the_reference_study_does():
    knee, reference = load("knee_characteristics"), load("baseline_characteristics")
    for name in ("education", "employment"):
        assert knee.item(name).choice_list == reference.item(name).choice_list
    assert knee.item("sex").choice_list[:2] == reference.item("sex").choice_list[:2]
    assert [code for code, _ in knee.item("sex").choice_list] == [
        code for code, _ in reference.item("sex").choice_list
    ]
    assert knee.item("sex").choice_label("4") == "I would rather not say"
    assert knee.item("age").type == "integer"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("age", "17", "Enter a whole number between 18 and 100."),
        ("age", "101", "Enter a whole number between 18 and 100."),
        ("weight_kg", "72.55", "Use at most 1 decimal places."),
        ("height_cm", "90", "Enter a whole number between 120 and 220."),
        ("knee_side", "4", "Select a valid choice"),
    ],
)
def test_it_refuses_knee_characteristics_out_of_range(field, value, message):
    answers = {"age": "54", "sex": "1", "knee_side": "2", "knee_pain_months": "8"}
    bound = form("knee_characteristics", answers | {field: value})
    assert not bound.is_valid()
    assert any(message in error for error in bound.errors[field])


def test_it_needs_age_sex_knee_and_duration():
    bound = form("knee_characteristics", {"education": "3"})
    assert not bound.is_valid()
    for name in ("age", "sex", "knee_side", "knee_pain_months"):
        assert bound.errors[name] == [REQUIRED_MESSAGE]


def test_it_works_out_bmi_from_height_and_weight():
    bound = form(
        "knee_characteristics",
        {"age": "54", "sex": "1", "knee_side": "3", "knee_pain_months": "0"}
        | {"height_cm": "170", "weight_kg": "72.5"},
    )
    assert bound.is_valid(), bound.errors
    answers = bound.all_answers()
    # 72.5 / 1.70 ^ 2 = 72.5 / 2.89 = 25.0865, to one decimal place 25.1
    assert answers["bmi"] == 25.1
    assert answers["knee_pain_months"] == 0  # under a month is an answer


def test_it_leaves_bmi_blank_without_a_weight():
    resolved = resolve(load("knee_characteristics"), {"height_cm": 170}, today=TODAY)
    assert "bmi" not in resolved.answers


def test_knee_characteristics_has_no_scores():
    assert scored("knee_characteristics", {"age": 54, "sex": "1"}) == {}


# ---------------------------------------------------------------------------
# Knee pain: mean of 4 ratings 0-10, at least 3 answered


def test_it_averages_the_four_knee_pain_ratings():
    answers = {"kpain_average": 6, "kpain_walking": 4, "kpain_stairs": 8}
    result = scored("knee_pain", answers | {"kpain_night": 3})["knee_pain"]
    assert result.value == 5.25  # (6 + 4 + 8 + 3) / 4 = 21 / 4
    assert (result.answered, result.items) == (4, 4)


def test_it_averages_knee_pain_over_three_ratings_counting_zero():
    answers = {"kpain_average": 0, "kpain_walking": 2, "kpain_night": 7}
    result = scored("knee_pain", answers)["knee_pain"]
    assert result.value == 3.0  # (0 + 2 + 7) / 3 = 9 / 3
    assert result.answered == 3


def test_it_leaves_knee_pain_missing_with_two_ratings():
    result = scored("knee_pain", {"kpain_average": 5, "kpain_stairs": 9})["knee_pain"]
    assert result.value is None
    assert result.missing_reason == "2 of 4 items answered; at least 3 needed"


# ---------------------------------------------------------------------------
# Knee function: difficulty 0-4 reversed and counted as a percentage, so
# each item is 100 - 25 x difficulty; subscales of 7 and 5, total of 12


def test_it_scores_knee_function_and_its_subscales_higher_for_less_difficulty():
    answers = numbered("kfunc_", [0, 1, 2, 1, 0, 3, 1, 2, 4, 3, 2, 1])
    scores = scored("knee_function", answers)
    # daily: 100, 75, 50, 75, 100, 25, 75 = 500; 500 / 7
    assert scores["knee_function_daily"].value == 71.428571
    # active: 50, 0, 25, 50, 75 = 200; 200 / 5
    assert scores["knee_function_active"].value == 40.0
    # total: (500 + 200) / 12 = 700 / 12
    assert scores["knee_function"].value == 58.333333


@pytest.mark.parametrize(("code", "expected"), [("0", 100.0), ("4", 0.0)])
def test_knee_function_runs_from_0_to_100(code, expected):
    scores = scored("knee_function", numbered("kfunc_", [code] * 12))
    for name in KNEE["knee_function"]:
        assert scores[name].value == expected


def test_it_scores_knee_function_over_ten_answered_items():
    # Two everyday items skipped: the total still has 10 of 12, the everyday
    # subscale only 5 of 7 (it needs 6), the active subscale all 5.
    answers = numbered("kfunc_", [None, 1, 2, None, 0, 3, 1, 2, 4, 3, 2, 1])
    scores = scored("knee_function", answers)
    # 75 + 50 + 100 + 25 + 75 + 50 + 0 + 25 + 50 + 75 = 525; 525 / 10
    assert scores["knee_function"].value == 52.5
    assert scores["knee_function"].answered == 10
    assert scores["knee_function_daily"].value is None
    assert scores["knee_function_daily"].missing_reason == (
        "5 of 7 items answered; at least 6 needed"
    )
    assert scores["knee_function_active"].value == 40.0  # 200 / 5, untouched


def test_it_scores_the_active_subscale_over_four_items():
    answers = numbered("kfunc_", [2, 4, 3, None, 3], start=8)
    result = scored("knee_function", answers)["knee_function_active"]
    assert result.value == 25.0  # 50 + 0 + 25 + 25 = 100; 100 / 4
    assert result.answered == 4


def test_it_leaves_knee_function_missing_with_nine_items():
    answers = numbered("kfunc_", [0, 1, 2, None, 0, 3, 1, None, 4, 3, None, 1])
    scores = scored("knee_function", answers)
    assert scores["knee_function"].value is None
    assert scores["knee_function"].missing_reason == (
        "9 of 12 items answered; at least 10 needed"
    )
    assert scores["knee_function_active"].missing_reason == (
        "3 of 5 items answered; at least 4 needed"
    )


def test_knee_function_items_form_one_grid_per_subscale():
    html = render_to_string(
        "instruments/_form_body.html", {"form": form("knee_function")}
    )
    assert html.count('data-matrix="kfunc_daily"') == 1
    assert html.count('data-matrix="kfunc_active"') == 1
    assert html.count('class="matrix-row') == 12
    assert "Extreme difficulty or could not do it" in html


# ---------------------------------------------------------------------------
# Knee confidence: mean of 6 ratings 0-10, at least 5 answered


def test_it_averages_the_six_confidence_ratings():
    result = scored("knee_confidence", numbered("kconf_", [7, 5, 8, 6, 9, 3]))
    assert result["knee_confidence"].value == 6.333333  # 38 / 6


def test_it_averages_confidence_over_five_ratings():
    answers = numbered("kconf_", [10, 0, 8, None, 9, 3])
    result = scored("knee_confidence", answers)["knee_confidence"]
    assert result.value == 6.0  # (10 + 0 + 8 + 9 + 3) / 5 = 30 / 5
    assert result.answered == 5


def test_it_leaves_confidence_missing_with_four_ratings():
    answers = numbered("kconf_", [10, None, 8, None, 9, 3])
    result = scored("knee_confidence", answers)["knee_confidence"]
    assert result.value is None
    assert result.missing_reason == "4 of 6 items answered; at least 5 needed"


# ---------------------------------------------------------------------------
# Exercise adherence: days 0-7 and a 1-5 rating, each as a percentage, averaged;
# the follow-up on what got in the way only below 3 days a week


def test_it_scores_adherence_from_days_and_how_closely_the_plan_was_kept():
    answers = {"exercise_days": 5, "exercise_followed": "4"}
    result = scored("exercise_adherence", answers)["exercise_adherence"]
    # days 5 / 7 * 100 = 71.428571; followed (4 - 1) / 4 * 100 = 75;
    # (71.428571 + 75) / 2 = 73.214286
    assert result.value == 73.214286


@pytest.mark.parametrize(
    ("days", "followed", "expected"),
    [
        (0, "1", 0.0),  # no days, not at all
        (7, "5", 100.0),  # every day, all of the plan
        (2, "3", 39.285714),  # (2 / 7 * 100 + 2 / 4 * 100) / 2 = (28.571429 + 50) / 2
    ],
)
def test_adherence_runs_from_0_to_100(days, followed, expected):
    answers = {"exercise_days": days, "exercise_followed": followed}
    assert scored("exercise_adherence", answers)["exercise_adherence"].value == expected


def test_it_needs_both_answers_for_an_adherence_score():
    result = scored("exercise_adherence", {"exercise_days": 6})["exercise_adherence"]
    assert result.value is None
    assert result.missing_reason == "1 of 2 items answered; at least 2 needed"


def adherence(answers: dict):
    return resolve(load("exercise_adherence"), answers, today=TODAY)


@pytest.mark.parametrize("days", [0, 1, 2])
def test_it_asks_what_got_in_the_way_below_three_days(days):
    resolved = adherence({"exercise_days": days, "exercise_barriers": ["1", "3"]})
    assert "exercise_barriers" not in resolved.hidden
    assert resolved.answers["exercise_barriers"] == ["1", "3"]


@pytest.mark.parametrize("days", [3, 5, 7])
def test_it_does_not_ask_what_got_in_the_way_from_three_days(days):
    resolved = adherence({"exercise_days": days, "exercise_barriers": ["2"]})
    assert "exercise_barriers" in resolved.hidden
    # A barrier ticked before the days were changed upwards is not kept.
    assert "exercise_barriers" not in resolved.answers


def test_it_does_not_ask_what_got_in_the_way_before_the_days_are_given():
    assert "exercise_barriers" in adherence({}).hidden


def test_it_asks_for_the_other_barrier_only_when_something_else_is_ticked():
    shown = adherence(
        {"exercise_days": 1}
        | {"exercise_barriers": ["2", "7"], "exercise_barriers_other": "Moving house"}
    )
    assert shown.answers["exercise_barriers_other"] == "Moving house"
    hidden = adherence(
        {"exercise_days": 1}
        | {"exercise_barriers": ["2"], "exercise_barriers_other": "Moving house"}
    )
    assert "exercise_barriers_other" in hidden.hidden
    assert "exercise_barriers_other" not in hidden.answers


def test_more_days_hide_the_barriers_and_the_other_barrier_together():
    resolved = adherence(
        {"exercise_days": 4}
        | {"exercise_barriers": ["7"], "exercise_barriers_other": "Moving house"}
    )
    assert {"exercise_barriers", "exercise_barriers_other"} <= resolved.hidden
    assert set(resolved.answers) == {"exercise_days"}


def test_the_adherence_form_keeps_barriers_only_when_asked():
    below = form(
        "exercise_adherence",
        {"exercise_days": "2", "exercise_followed": "3", "exercise_barriers": ["1"]},
    )
    assert below.is_valid(), below.errors
    assert below.all_answers()["exercise_barriers"] == ["1"]
    above = form(
        "exercise_adherence",
        {"exercise_days": "6", "exercise_followed": "5", "exercise_barriers": ["1"]}
        | {"exercise_comments": "Easier once I had a routine."},
    )
    assert above.is_valid(), above.errors
    answers = above.all_answers()
    assert "exercise_barriers" not in answers
    assert answers["exercise_comments"] == "Easier once I had a routine."


def test_the_adherence_form_sends_the_branching_to_the_browser():
    html = render_to_string(
        "instruments/_form_body.html", {"form": form("exercise_adherence")}
    )
    # The parsed tree of "[exercise_days] < 3", not code to run.
    assert "[&quot;field&quot;, &quot;exercise_days&quot;, null]" in html


def test_it_needs_the_number_of_exercise_days():
    bound = form("exercise_adherence", {"exercise_followed": "3"})
    assert not bound.is_valid()
    assert bound.errors["exercise_days"] == [REQUIRED_MESSAGE]


# ---------------------------------------------------------------------------
# Global change: one answer coded -3 (much worse) to +3 (much better)


@pytest.mark.parametrize(
    ("code", "expected"),
    [("-3", -3.0), ("-1", -1.0), ("0", 0.0), ("2", 2.0), ("3", 3.0)],
)
def test_global_change_is_the_coded_answer(code, expected):
    result = scored("knee_global_change", {"knee_change": code})["knee_global_change"]
    assert result.value == expected
    assert result.answered == 1


def test_global_change_runs_from_much_worse_to_much_better():
    item = load("knee_global_change").item("knee_change")
    assert item.choice_list[0] == ("-3", "Much worse")
    assert item.choice_list[3] == ("0", "About the same")
    assert item.choice_list[-1] == ("3", "Much better")


def test_global_change_is_missing_when_unanswered():
    result = scored("knee_global_change", {})["knee_global_change"]
    assert result.value is None
    assert result.missing_reason == "0 of 1 items answered; at least 1 needed"
