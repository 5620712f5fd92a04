"""The scoring engine's percent rule, worked by hand on a small definition.

A percent score counts each item, after reverse-coding, as the share of its own
range it reaches, so items on different scales weigh alike.
"""

import pytest

from instruments.definitions import from_data
from instruments.scoring import score_answers

GRADES = [{"code": code, "label": f"Grade {code}"} for code in range(1, 6)]


def definition(**score):
    return from_data(
        {
            "slug": "scales",
            "title": "Scales",
            "sections": [
                {
                    "items": [
                        {"name": "days", "type": "rating", "min": 0, "max": 7},
                        {
                            "name": "grade",
                            "type": "radio",
                            "choices": [
                                {"code": c, "label": f"G{c}"} for c in range(1, 6)
                            ],
                        },
                        {"name": "shift", "type": "rating", "min": -3, "max": 3},
                    ]
                }
            ],
            "scores": [{"name": "score", "label": "Score", "method": "mean", **score}],
        },
        source="scales",
    )


def value(answers: dict, **score) -> float | None:
    return score_answers(definition(**score), answers)["score"].value


def test_it_counts_each_item_as_a_percentage_of_its_own_range():
    answers = {"days": "5", "grade": "4", "shift": "-1"}
    # days 5 of 0-7: 5 / 7 * 100 = 71.428571; grade 4 of 1-5: (4 - 1) / 4 * 100 = 75;
    # shift -1 of -3..3: (-1 + 3) / 6 * 100 = 33.333333; mean 179.761905 / 3
    assert value(answers, items=["days", "grade", "shift"], percent=True) == 59.920635


def test_it_reverses_before_taking_the_percentage():
    answers = {"grade": "2"}
    # reversed 1 + 5 - 2 = 4; (4 - 1) / 4 * 100 = 75
    assert value(answers, items=["grade"], reverse=["grade"], percent=True) == 75.0


@pytest.mark.parametrize(("grade", "expected"), [("1", 0.0), ("5", 100.0)])
def test_it_gives_0_and_100_at_the_ends_of_the_range(grade, expected):
    assert value({"grade": grade}, items=["grade"], percent=True) == expected


def test_it_prorates_a_percent_sum_over_answered_items():
    answers = {"days": "7", "grade": "3"}
    # 100 + 50 = 150 over 2 of 3 items; 150 * 3 / 2
    result = value(
        answers,
        items=["days", "grade", "shift"],
        method="sum",
        min_answered=2,
        prorate=True,
        percent=True,
    )
    assert result == 225.0


def test_it_leaves_a_percent_score_missing_below_min_answered():
    scores = score_answers(
        definition(items=["days", "grade"], min_answered=2, percent=True),
        {"days": "3"},
    )
    assert scores["score"].value is None
    assert scores["score"].missing_reason == "1 of 2 items answered; at least 2 needed"


def test_without_percent_items_keep_their_own_values():
    answers = {"days": "5", "grade": "4"}
    assert value(answers, items=["days", "grade"]) == 4.5  # (5 + 4) / 2
