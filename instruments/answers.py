"""What a set of answers means once branching and calculations are applied.

Hidden items never keep answers: an answer to an item whose branching logic is
false is dropped, and items that depend on it see it as blank. Calculated fields
are worked out from what remains. The browser's live branching mirrors this, but
this function is the rule.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from instruments.definitions import Definition

MAX_PASSES = 10


@dataclass(frozen=True)
class Resolved:
    answers: dict[str, Any]
    hidden: frozenset[str]


def resolve(
    definition: Definition, answers: Mapping[str, Any], *, today: dt.date | None = None
) -> Resolved:
    """Drop hidden items' answers and fill in calculated fields."""
    today = today or dt.date.today()
    names = set(definition.items_by_name)
    current = {name: value for name, value in answers.items() if name in names}
    hidden: set[str] = set()
    # Branching may refer to items further down; repeat until nothing changes.
    for _ in range(MAX_PASSES):
        changed = False
        for item in definition.items():
            expression = definition.branching.get(item.name)
            shown = expression is None or expression.is_true(current, today=today)
            if not shown and item.name not in hidden:
                hidden.add(item.name)
                changed = True
            elif shown and item.name in hidden:
                hidden.discard(item.name)
                changed = True
            if not shown:
                current.pop(item.name, None)
        for name, expression in definition.calculations.items():
            value = (
                None if name in hidden else expression.evaluate(current, today=today)
            )
            if current.get(name) != value:
                current[name] = value
                changed = True
        if not changed:
            break
    for name in list(current):
        if current[name] is None or current[name] == "" or current[name] == []:
            del current[name]
    return Resolved(answers=current, hidden=frozenset(hidden))
