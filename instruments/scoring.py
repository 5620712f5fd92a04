"""The one scoring engine: every score in StudyPortal is computed here.

A score is the sum or mean of its items' numeric values, with reverse-coded items
flipped within their range (low + high - value). When fewer than ``min_answered``
items are answered the score is missing and says why. A prorated sum scales the
answered items' sum up to the full number of items. A percent score counts
each item, after reverse-coding, as the share of its range it reaches (0 at its
lowest value, 100 at its highest), so a mean of such items reads 0 to 100.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from instruments.definitions import Definition, Item, Score
from instruments.expressions import as_number


@dataclass(frozen=True)
class ScoreResult:
    name: str
    label: str
    value: float | None
    answered: int
    items: int
    missing_reason: str = ""

    def as_json(self) -> dict:
        return {
            "value": self.value,
            "answered": self.answered,
            "items": self.items,
            "missing_reason": self.missing_reason,
        }


def item_value(item: Item, answer: Any) -> float | None:
    """The numeric value of one answer; None when unanswered or not a valid value.

    Answers arrive through forms, paper entry and imports; a value outside the
    item's options or range is not scored rather than scored wrongly.
    """
    if answer is None or answer == "" or isinstance(answer, list | dict):
        return None
    value = as_number(answer)
    if value is None:
        return None
    if item.type in ("radio", "dropdown", "yesno", "rating"):
        return value if value in item.choice_numbers else None
    low, high = item.numeric_range or (None, None)
    if (low is not None and value < low) or (high is not None and value > high):
        return None
    return value


def score_one(
    score: Score, definition: Definition, answers: Mapping[str, Any]
) -> ScoreResult:
    values = []
    for name in score.items:
        item = definition.item(name)
        value = item_value(item, answers.get(name))
        if value is None:
            continue
        low, high = item.numeric_range
        if name in score.reverse:
            value = low + high - value
        if score.percent:
            value = (value - low) * 100 / (high - low)
        values.append(value)
    answered, total = len(values), len(score.items)
    if answered < score.required_answers:
        reason = (
            f"{answered} of {total} items answered; "
            f"at least {score.required_answers} needed"
        )
        return ScoreResult(score.name, score.label, None, answered, total, reason)
    if score.method == "mean":
        value = math.fsum(values) / answered
    else:
        value = math.fsum(values)
        if score.prorate and answered < total:
            value = value * total / answered
    return ScoreResult(score.name, score.label, round(value, 6), answered, total)


def score_answers(
    definition: Definition, answers: Mapping[str, Any]
) -> dict[str, ScoreResult]:
    """Every score of the definition, from already-resolved answers."""
    return {
        score.name: score_one(score, definition, answers) for score in definition.scores
    }
