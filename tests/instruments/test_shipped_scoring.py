"""Worked examples for every score of the shipped instruments.

Each expected value is worked out by hand in the comment beside it, so a change to
a definition file or to the scoring engine that moves a score shows up here.
Answers are given as text, as the forms store them.
"""

import datetime as dt
from functools import cache

import pytest

from instruments.answers import resolve
from instruments.definitions import (
    DEFINITIONS_DIR,
    Definition,
    load_file,
    shipped_definition_files,
)
from instruments.scoring import score_answers

SHIPPED = {
    "pain_severity",
    "partnership",
    "self_management",
    "anxiety_depression",
    "baseline_characteristics",
}


@cache
def load(slug: str) -> Definition:
    return load_file(DEFINITIONS_DIR / f"{slug}.yaml")


def numbered(prefix: str, values: list[int], start: int = 1) -> dict[str, str]:
    """{"partner_01": "5", ...} from a list of codes in item order."""
    return {
        f"{prefix}{number:02d}": str(value)
        for number, value in enumerate(values, start=start)
    }


def scored(slug: str, answers: dict) -> dict:
    return score_answers(load(slug), answers)


# ---------------------------------------------------------------------------
# Every shipped file


@pytest.mark.parametrize("path", shipped_definition_files(), ids=lambda p: p.name)
def test_every_shipped_file_loads_and_names_its_licence_route(path):
    definition = load_file(path)
    # The file name is the slug, so a reader can find an instrument by either.
    assert path.stem == definition.slug
    assert definition.description and definition.minutes
    # The note must tell a study how to bring in the licensed wording.
    assert "import_dictionary" in definition.licence


def test_it_ships_the_five_study_instruments():
    slugs = {load_file(path).slug for path in shipped_definition_files()}
    assert SHIPPED.issubset(slugs)


# The characteristics forms of the two example studies share the names of the
# demographics that descriptive tables and models read; no study uses both forms.
SHARED_DEMOGRAPHICS = {"age", "sex", "education", "employment"}
CHARACTERISTICS_FORMS = {"baseline_characteristics", "knee_characteristics"}


def test_no_two_instruments_share_a_variable_name():
    # Items and scores are exported side by side, so a clash would merge columns.
    owners: dict[str, list[str]] = {}
    for path in shipped_definition_files():
        definition = load_file(path)
        names = [item.name for item in definition.items()]
        names += [score.name for score in definition.scores]
        for name in names:
            owners.setdefault(name, []).append(definition.slug)
    shared = {
        name: slugs
        for name, slugs in owners.items()
        if len(slugs) > 1
        and not (name in SHARED_DEMOGRAPHICS and set(slugs) <= CHARACTERISTICS_FORMS)
    }
    assert shared == {}


# ---------------------------------------------------------------------------
# Pain severity: mean of 4 ratings, at least 3 answered


def test_it_averages_the_four_pain_ratings():
    answers = {"pain_worst": "8", "pain_least": "2", "pain_average": "5"}
    answers["pain_now"] = "4"
    result = scored("pain_severity", answers)["pain_severity"]
    assert result.value == 4.75  # (8 + 2 + 5 + 4) / 4 = 19 / 4
    assert (result.answered, result.items) == (4, 4)


def test_it_counts_a_pain_rating_of_zero_as_answered():
    # 0 means "no pain", not "skipped".
    answers = dict.fromkeys(
        ["pain_worst", "pain_least", "pain_average", "pain_now"], "0"
    )
    result = scored("pain_severity", answers)["pain_severity"]
    assert result.value == 0.0  # (0 + 0 + 0 + 0) / 4
    assert result.answered == 4


def test_it_averages_pain_over_three_answered_ratings():
    answers = {"pain_worst": "9", "pain_least": "3", "pain_average": "6"}
    result = scored("pain_severity", answers)["pain_severity"]
    assert result.value == 6.0  # (9 + 3 + 6) / 3 = 18 / 3; a mean is not prorated
    assert result.answered == 3


def test_it_leaves_pain_severity_missing_with_two_ratings():
    answers = {"pain_worst": "9", "pain_now": "3"}
    result = scored("pain_severity", answers)["pain_severity"]
    assert result.value is None
    assert result.missing_reason == "2 of 4 items answered; at least 3 needed"


# ---------------------------------------------------------------------------
# Partnership: two means of 8 items coded 1-5, one reversed item in each


def test_it_scores_both_partnership_subscales_reversing_the_negative_items():
    answers = numbered("partner_", [5, 4, 4, 5, 2, 4, 5, 3])
    answers |= numbered("partner_", [4, 3, 4, 4, 3, 1, 4, 5], start=9)
    scores = scored("partnership", answers)
    # partner_05 (felt rushed) 2 -> 1 + 5 - 2 = 4;
    # (5 + 4 + 4 + 5 + 4 + 4 + 5 + 3) / 8 = 34 / 8
    assert scores["partnership_clinician"].value == 4.25
    # partner_14 (not able to cope) 1 -> 1 + 5 - 1 = 5;
    # (4 + 3 + 4 + 4 + 3 + 5 + 4 + 5) / 8 = 32 / 8
    assert scores["partnership_confidence"].value == 4.0


def test_it_lowers_partnership_when_the_negative_items_are_agreed_with():
    # Strongly agreeing with everything, including "I felt rushed", is not a
    # perfect partnership: the reversed item counts 1.
    answers = numbered("partner_", [5] * 16)
    scores = scored("partnership", answers)
    assert scores["partnership_clinician"].value == 4.5  # (7 * 5 + 1) / 8 = 36 / 8
    assert scores["partnership_confidence"].value == 4.5  # (7 * 5 + 1) / 8


def test_it_averages_partnership_over_six_answered_items():
    answers = numbered("partner_", [3, 3, 4, 4, 5, 2])
    result = scored("partnership", answers)["partnership_clinician"]
    # partner_05 5 -> 1 + 5 - 5 = 1; (3 + 3 + 4 + 4 + 1 + 2) / 6 = 17 / 6
    assert result.value == 2.833333
    assert (result.answered, result.items) == (6, 8)


def test_it_leaves_partnership_missing_with_five_items():
    answers = numbered("partner_", [4, 4, 4, 4, 4], start=9)
    scores = scored("partnership", answers)
    assert scores["partnership_confidence"].value is None
    assert (
        scores["partnership_confidence"].missing_reason
        == "5 of 8 items answered; at least 6 needed"
    )
    assert scores["partnership_clinician"].missing_reason == (
        "0 of 8 items answered; at least 6 needed"
    )


# ---------------------------------------------------------------------------
# Self-management: sums of items rated 0-8, higher is better, none reversed

SELFMGMT_COMPLETE = [6, 5, 7, 4, 8, 8, 3, 5, 4, 2, 6, 5]


def test_it_sums_the_self_management_subscales_and_total():
    scores = scored("self_management", numbered("selfmgmt_", SELFMGMT_COMPLETE))
    assert scores["selfmgmt_knowledge"].value == 11  # 6 + 5
    assert scores["selfmgmt_partnership"].value == 27  # 7 + 4 + 8 + 8
    assert scores["selfmgmt_symptoms"].value == 12  # 3 + 5 + 4
    assert scores["selfmgmt_coping"].value == 13  # 2 + 6 + 5
    assert scores["selfmgmt_total"].value == 63  # 11 + 27 + 12 + 13


def test_it_reverses_no_self_management_item():
    # Every item is worded so that more is better; reversing one would be a bug.
    assert all(not score.reverse for score in load("self_management").scores)


def test_it_prorates_the_self_management_total_over_ten_items():
    answers = numbered("selfmgmt_", SELFMGMT_COMPLETE)
    del answers["selfmgmt_01"], answers["selfmgmt_12"]
    scores = scored("self_management", answers)
    # 5 + 7 + 4 + 8 + 8 + 3 + 5 + 4 + 2 + 6 = 52; 52 * 12 / 10
    assert scores["selfmgmt_total"].value == 62.4
    assert scores["selfmgmt_total"].answered == 10
    # Short subscales are not prorated: one gap and they are missing.
    assert scores["selfmgmt_knowledge"].value is None
    assert scores["selfmgmt_knowledge"].missing_reason == (
        "1 of 2 items answered; at least 2 needed"
    )
    assert scores["selfmgmt_coping"].missing_reason == (
        "2 of 3 items answered; at least 3 needed"
    )
    assert scores["selfmgmt_partnership"].value == 27  # 7 + 4 + 8 + 8, untouched
    assert scores["selfmgmt_symptoms"].value == 12  # 3 + 5 + 4, untouched


def test_it_leaves_the_self_management_total_missing_with_nine_items():
    answers = numbered("selfmgmt_", SELFMGMT_COMPLETE)
    del answers["selfmgmt_01"], answers["selfmgmt_05"], answers["selfmgmt_12"]
    result = scored("self_management", answers)["selfmgmt_total"]
    assert result.value is None
    assert result.missing_reason == "9 of 12 items answered; at least 10 needed"


def test_it_needs_every_item_of_a_self_management_subscale():
    answers = {"selfmgmt_07": "3", "selfmgmt_08": "5"}
    result = scored("self_management", answers)["selfmgmt_symptoms"]
    assert result.value is None
    assert result.missing_reason == "2 of 3 items answered; at least 3 needed"


# ---------------------------------------------------------------------------
# Anxiety and depression: two sums of 7 items coded 0-3, positive items reversed


def hads(anxiety: list, depression: list) -> dict[str, str]:
    """Answers for a1..a7 and d1..d7; None leaves an item unanswered."""
    answers = {}
    for number, (a, d) in enumerate(zip(anxiety, depression, strict=True), 1):
        if a is not None:
            answers[f"hads_a{number}"] = str(a)
        if d is not None:
            answers[f"hads_d{number}"] = str(d)
    return answers


def test_it_alternates_anxiety_and_depression_items():
    names = [
        item.name for item in load("anxiety_depression").items() if item.type == "radio"
    ]
    expected = [f"hads_{scale}{n}" for n in range(1, 8) for scale in ("a", "d")]
    assert names == expected


def test_it_reverses_at_least_two_items_in_each_hads_subscale():
    reverse = {s.name: s.reverse for s in load("anxiety_depression").scores}
    assert sorted(reverse["hads_anxiety"]) == ["hads_a2", "hads_a5"]
    assert sorted(reverse["hads_depression"]) == ["hads_d1", "hads_d2", "hads_d6"]


def test_it_sums_anxiety_and_depression_reversing_the_positive_items():
    answers = hads([2, 1, 3, 2, 0, 1, 2], [1, 3, 2, 1, 0, 2, 1])
    scores = scored("anxiety_depression", answers)
    # a2 1 -> 0 + 3 - 1 = 2, a5 0 -> 3; 2 + 2 + 3 + 2 + 3 + 1 + 2
    assert scores["hads_anxiety"].value == 15
    # d1 1 -> 2, d2 3 -> 0, d6 2 -> 1; 2 + 0 + 2 + 1 + 0 + 1 + 1
    assert scores["hads_depression"].value == 7


@pytest.mark.parametrize(
    ("code", "anxiety", "depression"),
    [
        ("0", 6, 9),  # 5 * 0 + 2 * (3 - 0) = 6; 4 * 0 + 3 * (3 - 0) = 9
        ("3", 15, 12),  # 5 * 3 + 2 * (3 - 3) = 15; 4 * 3 + 3 * 0 = 12
    ],
)
def test_it_never_scores_the_same_answer_everywhere_as_zero_or_full(
    code, anxiety, depression
):
    # "Not at all" to everything includes "not at all calm": that is distress.
    scores = scored("anxiety_depression", hads([code] * 7, [code] * 7))
    assert scores["hads_anxiety"].value == anxiety
    assert scores["hads_depression"].value == depression


def test_it_prorates_hads_over_six_answered_items():
    answers = hads([2, 1, 3, 2, 0, 1, None], [1, 3, 2, 1, 0, 2, None])
    scores = scored("anxiety_depression", answers)
    # a2 1 -> 2, a5 0 -> 3; 2 + 2 + 3 + 2 + 3 + 1 = 13; 13 * 7 / 6 = 15.1666...
    assert scores["hads_anxiety"].value == 15.166667
    assert scores["hads_anxiety"].answered == 6
    # d1 1 -> 2, d2 3 -> 0, d6 2 -> 1; 2 + 0 + 2 + 1 + 0 + 1 = 6; 6 * 7 / 6
    assert scores["hads_depression"].value == 7.0


def test_it_leaves_hads_missing_with_five_items():
    answers = hads([2, 1, 3, 2, 0, None, None], [None, None, 2, 1, 0, 2, 1])
    scores = scored("anxiety_depression", answers)
    for name in ("hads_anxiety", "hads_depression"):
        assert scores[name].value is None
        assert scores[name].missing_reason == (
            "5 of 7 items answered; at least 6 needed"
        )


# ---------------------------------------------------------------------------
# Baseline characteristics: no scores; branching and the age calculation

TODAY = dt.date(2026, 12, 1)


def baseline(answers: dict, today: dt.date = TODAY):
    return resolve(load("baseline_characteristics"), answers, today=today)


def test_baseline_characteristics_has_no_scores():
    assert score_answers(load("baseline_characteristics"), {"sex": "1"}) == {}


def test_it_works_out_age_from_the_date_of_birth():
    resolved = baseline({"age_known_as": "1", "dob": "1970-06-15"})
    # 1970-06-15 to 2026-12-01 is 20623 days; 20623 / 365.2425 = 56.46, down to 56
    assert resolved.answers["age"] == 56
    assert "age_years" in resolved.hidden


def test_it_takes_age_from_age_in_years_and_drops_the_date_of_birth():
    resolved = baseline({"age_known_as": "2", "dob": "1970-06-15", "age_years": "45"})
    assert float(resolved.answers["age"]) == 45
    # A date of birth typed before switching to "age in years" must not be kept.
    assert "dob" not in resolved.answers
    assert "dob" in resolved.hidden


def test_it_drops_age_in_years_when_the_date_of_birth_is_used():
    resolved = baseline({"age_known_as": "1", "dob": "1980-01-10", "age_years": "30"})
    assert "age_years" not in resolved.answers
    # 1980-01-10 to 2026-12-01 is 17127 days; 17127 / 365.2425 = 46.89, down to 46
    assert resolved.answers["age"] == 46


def test_it_leaves_age_blank_until_the_age_is_entered():
    assert "age" not in baseline({"age_known_as": "1"}).answers
    assert "age" not in baseline({}).answers


def test_it_counts_a_birthday_as_a_full_year():
    resolved = baseline({"age_known_as": "1", "dob": "2008-12-01"})
    # 2008-12-01 to 2026-12-01 is 18 years exactly (6574 days) -> 18
    assert resolved.answers["age"] == 18
    # The day before the 18th birthday the participant is still 17.
    assert baseline({"age_known_as": "1", "dob": "2008-12-02"}).answers["age"] == 17


def test_it_drops_other_treatment_unless_other_is_ticked():
    resolved = baseline({"treatments": ["1", "2"], "treatments_other": "Yoga"})
    assert "treatments_other" not in resolved.answers
    assert "treatments_other" in resolved.hidden


def test_it_keeps_other_treatment_when_other_is_ticked():
    resolved = baseline({"treatments": ["1", "6"], "treatments_other": "Yoga"})
    assert resolved.answers["treatments_other"] == "Yoga"
    assert "treatments_other" not in resolved.hidden
