"""Instrument definitions: the schema, and loading with messages people can act on.

A definition is data (YAML or JSON under ``instruments/definitions/`` or imported
from a REDCap data dictionary). It is checked in two passes: the structure by
pydantic, then the meaning (unique names, branching that refers to real fields,
scores over numeric items, matrix groups that share options). Every problem is
reported with the file and the item it concerns, all at once.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterator
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from instruments import expressions

DEFINITIONS_DIR = Path(__file__).resolve().parent / "definitions"

NAME_PATTERN = r"^[a-z][a-z0-9_]*$"
ItemType = Literal[
    "radio",
    "dropdown",
    "checkbox",
    "yesno",
    "rating",
    "integer",
    "decimal",
    "text",
    "notes",
    "date",
    "calc",
    "descriptive",
]
CHOICE_TYPES = frozenset({"radio", "dropdown", "checkbox"})
ANSWERABLE_TYPES = frozenset(
    {"radio", "dropdown", "checkbox", "yesno", "rating", "integer", "decimal"}
    | {"text", "notes", "date"}
)
NUMERIC_TYPES = frozenset(
    {"radio", "dropdown", "yesno", "rating", "integer", "decimal"}
)
YES_NO_CHOICES = (("1", "Yes"), ("0", "No"))
# Items that become variables of a study's data, by type (see analysed_items).
NUMERIC_ITEM_TYPES = frozenset({"integer", "decimal", "rating", "calc"})
SINGLE_CHOICE_TYPES = frozenset({"radio", "dropdown", "yesno"})
MAX_RATING_POINTS = 101


class DefinitionError(ValueError):
    """A definition that cannot be used, with every problem found in it."""

    def __init__(self, source: str, problems: list[str]):
        self.source = source
        self.problems = problems
        listed = "\n".join(f"  - {problem}" for problem in problems)
        super().__init__(f"{source}: {len(problems)} problem(s)\n{listed}")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Choice(Strict):
    code: Annotated[
        str, Field(min_length=1, max_length=50, pattern=r"^-?[A-Za-z0-9_]+$")
    ]
    label: Annotated[str, Field(min_length=1)]

    @field_validator("code", mode="before")
    @classmethod
    def code_as_text(cls, value: Any) -> Any:
        return (
            str(value)
            if isinstance(value, int) and not isinstance(value, bool)
            else value
        )


class Anchors(Strict):
    """Labels under the low end, the middle and the high end of a rating scale."""

    low: str = ""
    middle: str = ""
    high: str = ""


class Item(Strict):
    name: Annotated[str, Field(pattern=NAME_PATTERN, max_length=100)]
    type: ItemType
    label: str = ""
    note: str = ""
    required: bool = False
    choices: list[Choice] | str | None = None
    min: float | str | None = None
    max: float | str | None = None
    decimals: Annotated[int, Field(ge=0, le=4)] | None = None  # REDCap: number_4dp
    anchors: Anchors | None = None
    validation: Literal["email", "phone"] | None = None
    branching: str | None = None
    calculation: str | None = None
    matrix: Annotated[str, Field(pattern=NAME_PATTERN)] | None = None
    identifier: bool = False
    annotation: str = ""

    @field_validator("min", "max", mode="before")
    @classmethod
    def dates_as_text(cls, value: Any) -> Any:
        return value.isoformat() if isinstance(value, dt.date) else value

    @property
    def is_answerable(self) -> bool:
        return self.type in ANSWERABLE_TYPES

    @property
    def choice_list(self) -> tuple[tuple[str, str], ...]:
        if self.type == "yesno":
            return YES_NO_CHOICES
        if self.type == "rating":
            low, high = int(self.min), int(self.max)
            return tuple((str(n), str(n)) for n in range(low, high + 1))
        if isinstance(self.choices, list):
            return tuple((choice.code, choice.label) for choice in self.choices)
        return ()

    def choice_label(self, code: str) -> str | None:
        return dict(self.choice_list).get(code)

    # Cached: scoring asks for these once per answer, and an item never changes.
    @cached_property
    def choice_numbers(self) -> frozenset[float | None]:
        """The choices' codes as numbers: the values a choice item can score."""
        return frozenset(expressions.as_number(code) for code, _ in self.choice_list)

    @cached_property
    def numeric_range(self) -> tuple[float, float] | None:
        """Lowest and highest scorable value, used to reverse-code."""
        if self.type in ("rating", "integer", "decimal"):
            if self.min is None or self.max is None:
                return None
            return float(self.min), float(self.max)
        numbers = [expressions.as_number(code) for code, _ in self.choice_list]
        if not numbers or any(number is None for number in numbers):
            return None
        return min(numbers), max(numbers)


class Section(Strict):
    title: str = ""
    items: Annotated[list[Item], Field(min_length=1)]


class Score(Strict):
    name: Annotated[str, Field(pattern=NAME_PATTERN, max_length=100)]
    label: Annotated[str, Field(min_length=1)]
    method: Literal["sum", "mean"]
    items: Annotated[list[str], Field(min_length=1)]
    reverse: list[str] = []
    min_answered: Annotated[int, Field(ge=1)] | None = None
    prorate: bool = False
    # Each item counts as a percentage of its own range, so items on different
    # scales weigh alike and a mean reads 0 to 100.
    percent: bool = False

    @property
    def required_answers(self) -> int:
        return self.min_answered if self.min_answered is not None else len(self.items)


class Definition(Strict):
    slug: Annotated[str, Field(pattern=NAME_PATTERN, max_length=60)]
    title: Annotated[str, Field(min_length=1, max_length=200)]
    version: Annotated[int, Field(ge=1)] = 1
    respondent: Literal["patient", "staff"] = "patient"
    licence: str = ""
    description: str = ""
    minutes: Annotated[int, Field(ge=1, le=240)] | None = None
    sections: Annotated[list[Section], Field(min_length=1)]
    scores: list[Score] = []

    def items(self) -> Iterator[Item]:
        for section in self.sections:
            yield from section.items

    @cached_property
    def items_by_name(self) -> dict[str, Item]:
        return {item.name: item for item in self.items()}

    def item(self, name: str) -> Item:
        return self.items_by_name[name]

    @cached_property
    def branching(self) -> dict[str, expressions.Expression]:
        return {
            item.name: expressions.parse(item.branching)
            for item in self.items()
            if item.branching
        }

    @cached_property
    def calculations(self) -> dict[str, expressions.Expression]:
        return {
            item.name: expressions.parse(item.calculation)
            for item in self.items()
            if item.type == "calc" and item.calculation
        }

    def to_data(self) -> dict:
        """Plain JSON-ready data, with choice sets resolved, defaults left out."""
        return self.model_dump(mode="json", exclude_defaults=True)

    @cached_property
    def checksum(self) -> str:
        content = self.model_dump(mode="json", exclude={"version"})
        canonical = json.dumps(content, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()


# ---------------------------------------------------------------------------
# Loading


def from_data(data: Any, *, source: str) -> Definition:
    """Build a Definition from parsed YAML/JSON; DefinitionError lists what is wrong."""
    if not isinstance(data, dict):
        raise DefinitionError(
            source, ["the file must hold a mapping (key: value) at the top"]
        )
    try:
        definition = Definition.model_validate(_resolve_choice_sets(data))
    except ValidationError as exc:
        raise DefinitionError(source, _describe_errors(exc, data)) from None
    problems = list(_check_meaning(definition))
    if problems:
        raise DefinitionError(source, problems)
    return definition


def load_file(path: Path) -> Definition:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DefinitionError(path.name, [f"cannot be read: {exc}"]) from None
    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (yaml.YAMLError, json.JSONDecodeError) as exc:
        raise DefinitionError(path.name, [f"is not valid YAML/JSON: {exc}"]) from None
    return from_data(data, source=path.name)


def shipped_definition_files() -> list[Path]:
    return sorted(
        path
        for path in DEFINITIONS_DIR.iterdir()
        if path.suffix in (".yaml", ".yml", ".json")
    )


def _resolve_choice_sets(data: dict) -> dict:
    """Replace ``choices: set_name`` by the named set's options.

    Choice sets are a convenience for writing files; the stored definition holds
    each item's options, as a REDCap data dictionary does.
    """
    resolved = dict(data)
    sets = resolved.pop("choice_sets", None)
    if not isinstance(sets, dict):
        return resolved
    sections = []
    for section in data.get("sections") or []:
        if not isinstance(section, dict):
            sections.append(section)
            continue
        items = []
        for item in section.get("items") or []:
            if isinstance(item, dict) and isinstance(item.get("choices"), str):
                named = sets.get(item["choices"])
                if named is not None:
                    item = {**item, "choices": named}
            items.append(item)
        sections.append({**section, "items": items})
    resolved["sections"] = sections
    return resolved


def _describe_errors(exc: ValidationError, data: dict) -> list[str]:
    problems = []
    for error in exc.errors():
        location = list(error["loc"])
        where = _describe_location(location, data)
        problems.append(f"{where}: {error['msg']}")
    return problems


def _describe_location(location: list, data: dict) -> str:
    if len(location) >= 4 and location[0] == "sections" and location[2] == "items":
        section, index = location[1], location[3]
        try:
            name = data["sections"][section]["items"][index].get("name")
        except (KeyError, IndexError, TypeError, AttributeError):
            name = None
        label = (
            f"item {name!r}" if name else f"item {index + 1} of section {section + 1}"
        )
        rest = ".".join(str(part) for part in location[4:])
        return f"{label}{': ' + rest if rest else ''}"
    if len(location) >= 2 and location[0] == "scores":
        try:
            name = data["scores"][location[1]].get("name")
        except (KeyError, IndexError, TypeError, AttributeError):
            name = None
        label = f"score {name!r}" if name else f"score {location[1] + 1}"
        rest = ".".join(str(part) for part in location[2:])
        return f"{label}{': ' + rest if rest else ''}"
    return ".".join(str(part) for part in location) or "definition"


def _check_meaning(definition: Definition) -> Iterator[str]:
    seen: set[str] = set()
    for item in definition.items():
        if item.name in seen:
            yield f"item {item.name!r}: the variable name is used twice"
        seen.add(item.name)
        yield from _check_item(item, definition)
    yield from _check_matrices(definition)
    score_names: set[str] = set()
    for score in definition.scores:
        if score.name in seen or score.name in score_names:
            yield f"score {score.name!r}: the name is already used by an item or score"
        score_names.add(score.name)
        yield from _check_score(score, definition)


def _check_item(item: Item, definition: Definition) -> Iterator[str]:
    where = f"item {item.name!r}"
    if item.type in CHOICE_TYPES:
        if isinstance(item.choices, str):
            yield f"{where}: choice set {item.choices!r} is not defined in choice_sets"
        elif not item.choices:
            yield f"{where}: a {item.type} item needs choices"
        else:
            codes = [choice.code for choice in item.choices]
            if len(set(codes)) != len(codes):
                yield f"{where}: choice codes must be unique"
    elif item.choices is not None:
        yield f"{where}: a {item.type} item cannot have choices"
    if item.type == "rating":
        yield from _check_rating(item, where)
    elif item.type in ("integer", "decimal"):
        yield from _check_number_limits(item, where)
    elif item.type == "date":
        yield from _check_date_limits(item, where)
    elif item.min is not None or item.max is not None:
        yield f"{where}: min and max apply only to numbers, ratings and dates"
    if item.anchors is not None and item.type != "rating":
        yield f"{where}: anchors apply only to rating items"
    if item.validation and item.type != "text":
        yield f"{where}: validation {item.validation!r} applies only to text items"
    if item.decimals is not None and item.type != "decimal":
        yield f"{where}: decimals apply only to decimal items"
    if item.type == "calc":
        if not item.calculation:
            yield f"{where}: a calc item needs a calculation"
        else:
            yield from _check_expression(
                item.calculation, where, "calculation", definition
            )
    elif item.calculation:
        yield f"{where}: only calc items have a calculation"
    if item.required and not item.is_answerable:
        yield f"{where}: a {item.type} item cannot be required"
    if item.branching:
        yield from _check_expression(item.branching, where, "branching", definition)
    if item.matrix and item.type not in ("radio", "checkbox"):
        yield f"{where}: only radio and checkbox items can be in a matrix"


def _check_rating(item: Item, where: str) -> Iterator[str]:
    if not (_is_whole(item.min) and _is_whole(item.max)):
        yield f"{where}: a rating needs whole-number min and max, e.g. 0 and 10"
    elif item.max <= item.min:
        yield f"{where}: max must be greater than min"
    elif item.max - item.min + 1 > MAX_RATING_POINTS:
        yield f"{where}: a rating can have at most {MAX_RATING_POINTS} points"


def _check_number_limits(item: Item, where: str) -> Iterator[str]:
    for bound in ("min", "max"):
        value = getattr(item, bound)
        if value is None:
            continue
        if isinstance(value, str):
            yield f"{where}: {bound} must be a number"
        elif item.type == "integer" and not _is_whole(value):
            yield f"{where}: {bound} of an integer item must be a whole number"
    if (
        isinstance(item.min, float)
        and isinstance(item.max, float)
        and item.max < item.min
    ):
        yield f"{where}: max is smaller than min"


def _check_date_limits(item: Item, where: str) -> Iterator[str]:
    for bound in ("min", "max"):
        value = getattr(item, bound)
        if value is None or value == "today":
            continue
        try:
            dt.date.fromisoformat(str(value))
        except ValueError:
            yield f"{where}: {bound} must be a date as YYYY-MM-DD or 'today'"


def _is_whole(value: Any) -> bool:
    return isinstance(value, float | int) and float(value).is_integer()


def _check_expression(
    source: str, where: str, what: str, definition: Definition
) -> Iterator[str]:
    try:
        expression = expressions.parse(source)
    except expressions.ExpressionError as exc:
        yield f"{where}: {what} {source!r} cannot be read: {exc}"
        return
    for name, code in expression.fields():
        target = definition.items_by_name.get(name)
        if target is None:
            yield f"{where}: {what} refers to unknown field [{name}]"
        elif code is not None:
            reference = f"{where}: {what} uses [{name}({code})] but {name}"
            if target.type != "checkbox":
                yield f"{reference} is not a checkbox"
            elif target.choice_label(code) is None:
                yield f"{reference} has no option {code}"
        elif target.type == "checkbox" and what == "branching":
            yield (
                f"{where}: {what} refers to checkbox [{name}] without an option code; "
                f"write [{name}(code)]"
            )


def _check_matrices(definition: Definition) -> Iterator[str]:
    groups: dict[str, list[Item]] = {}
    order: list[str] = []
    previous = None
    for item in definition.items():
        if item.matrix:
            if item.matrix in groups and previous != item.matrix:
                yield f"matrix {item.matrix!r}: its items must follow one another"
            groups.setdefault(item.matrix, []).append(item)
            if item.matrix not in order:
                order.append(item.matrix)
        previous = item.matrix
    for name in order:
        members = groups[name]
        first = members[0]
        for item in members[1:]:
            if item.type != first.type or item.choice_list != first.choice_list:
                yield (
                    f"matrix {name!r}: item {item.name!r} must have the same type "
                    f"and options as {first.name!r}"
                )


def _check_score(score: Score, definition: Definition) -> Iterator[str]:
    where = f"score {score.name!r}"
    for name in score.items:
        item = definition.items_by_name.get(name)
        if item is None:
            yield f"{where}: unknown item {name!r}"
        elif item.type not in NUMERIC_TYPES or item.numeric_range is None:
            yield f"{where}: item {name!r} has no numeric values to score"
        elif score.percent and item.numeric_range[0] == item.numeric_range[1]:
            yield (
                f"{where}: item {name!r} has a single value, so it has no range "
                "to count as a percentage"
            )
    for name in score.reverse:
        if name not in score.items:
            yield f"{where}: reverse-coded item {name!r} is not one of its items"
    if len(set(score.items)) != len(score.items):
        yield f"{where}: an item is listed twice"
    if score.min_answered is not None and score.min_answered > len(score.items):
        yield f"{where}: min_answered is larger than the number of items"
    if score.prorate and score.method != "sum":
        yield f"{where}: prorating applies to sums (a mean already uses answered items)"


def analysed_items(definition: Definition) -> list[Item]:
    """Items that become variables: numbers, choices and calculated values.

    Left out: identifiers (a date of birth), free text (which may name people)
    and the inputs of a calculation, whose result is the variable.
    """
    inputs = {
        name
        for expression in definition.calculations.values()
        for name, _ in expression.fields()
    }
    return [
        item
        for item in definition.items()
        if not item.identifier
        and item.name not in inputs
        and (
            item.type in NUMERIC_ITEM_TYPES
            or item.type in SINGLE_CHOICE_TYPES
            or item.type == "checkbox"
        )
    ]
