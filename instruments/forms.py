"""Django forms built from a definition.

The patient's pages, staff data entry and the preview all render and validate
through InstrumentForm, so a definition behaves the same everywhere. Branching is
enforced here: hidden items lose their answers and are never required.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django import forms
from django.core.validators import RegexValidator

from instruments import answers as answer_rules
from instruments.definitions import Definition, Item, Section
from instruments.wording import as_html, as_text

REQUIRED_MESSAGE = "Please answer this question."
PHONE_VALIDATOR = RegexValidator(
    r"^\+?[0-9 ()-]{7,20}$", "Enter a phone number, for example +44 7700 900123."
)
RADIO_RATING_MAX_POINTS = 11
DATE_MESSAGES = {"invalid": "Enter a date, for example 15/06/1970."}
EMAIL_MESSAGES = {"invalid": "Enter an email address, like name@example.com."}
TEXT_MAX_LENGTH = 500
NOTES_MAX_LENGTH = 10000


def _range_text(item: Item) -> str:
    low, high = item.min, item.max

    def show(value):
        return (
            str(int(value))
            if isinstance(value, float) and value.is_integer()
            else str(value)
        )

    if low is not None and high is not None:
        return f"between {show(low)} and {show(high)}"
    if low is not None:
        return f"of {show(low)} or more"
    if high is not None:
        return f"of {show(high)} or less"
    return ""


def rating_as_radios(item: Item) -> bool:
    return int(item.max) - int(item.min) + 1 <= RADIO_RATING_MAX_POINTS


def _date_bound(value: Any, today: dt.date) -> dt.date | None:
    if value is None:
        return None
    if value == "today":
        return today
    return dt.date.fromisoformat(str(value))


def build_field(item: Item, *, today: dt.date) -> forms.Field | None:
    """The Django form field for one item; None for calc and descriptive items."""
    # Crispy shows help text unescaped: the wording is made safe here, once.
    common = {
        "label": as_html(item.label),
        "help_text": as_html(item.note),
        "required": item.required,
        "error_messages": {"required": REQUIRED_MESSAGE},
    }
    choices = [(code, as_html(label)) for code, label in item.choice_list]
    kind = item.type
    if kind in ("radio", "yesno"):
        return forms.ChoiceField(choices=choices, widget=forms.RadioSelect, **common)
    if kind == "dropdown":
        # An <option> holds text only.
        options = [(code, as_text(label)) for code, label in item.choice_list]
        return forms.ChoiceField(choices=[("", "Choose…"), *options], **common)
    if kind == "checkbox":
        return forms.MultipleChoiceField(
            choices=choices, widget=forms.CheckboxSelectMultiple, **common
        )
    if kind == "rating":
        if rating_as_radios(item):
            return forms.ChoiceField(
                choices=choices, widget=forms.RadioSelect, **common
            )
        return forms.IntegerField(
            min_value=int(item.min),
            max_value=int(item.max),
            widget=forms.NumberInput(attrs={"inputmode": "numeric"}),
            **common | {"error_messages": _number_messages(item, "whole number")},
        )
    if kind == "integer":
        return forms.IntegerField(
            min_value=None if item.min is None else int(item.min),
            max_value=None if item.max is None else int(item.max),
            widget=forms.NumberInput(attrs={"inputmode": "numeric"}),
            **common | {"error_messages": _number_messages(item, "whole number")},
        )
    if kind == "decimal":
        return forms.DecimalField(
            min_value=None if item.min is None else Decimal(str(item.min)),
            max_value=None if item.max is None else Decimal(str(item.max)),
            decimal_places=item.decimals,
            widget=forms.NumberInput(attrs={"inputmode": "decimal", "step": "any"}),
            **common | {"error_messages": _number_messages(item, "number")},
        )
    if kind == "date":
        low, high = _date_bound(item.min, today), _date_bound(item.max, today)
        attrs = {"type": "date"}
        if low:
            attrs["min"] = low.isoformat()
        if high:
            attrs["max"] = high.isoformat()
        return DateItemField(
            low=low,
            high=high,
            widget=forms.DateInput(attrs=attrs, format="%Y-%m-%d"),
            input_formats=["%Y-%m-%d", "%d/%m/%Y"],
            **common
            | {"error_messages": {**DATE_MESSAGES, "required": REQUIRED_MESSAGE}},
        )
    if kind == "notes":
        return forms.CharField(
            max_length=NOTES_MAX_LENGTH,
            widget=forms.Textarea(attrs={"rows": 4}),
            **common,
        )
    if kind == "text":
        if item.validation == "email":
            return forms.EmailField(
                max_length=254,
                widget=forms.EmailInput(attrs={"autocomplete": "off"}),
                **common
                | {"error_messages": {**EMAIL_MESSAGES, "required": REQUIRED_MESSAGE}},
            )
        validators = [PHONE_VALIDATOR] if item.validation == "phone" else []
        widget = forms.TextInput(
            attrs={"type": "tel"} if item.validation == "phone" else {}
        )
        return forms.CharField(
            max_length=TEXT_MAX_LENGTH, validators=validators, widget=widget, **common
        )
    return None


def _number_messages(item: Item, noun: str) -> dict[str, str]:
    range_text = _range_text(item)
    message = f"Enter a {noun} {range_text}".strip() + "."
    return {
        "required": REQUIRED_MESSAGE,
        "invalid": message,
        "min_value": message,
        "max_value": message,
        "max_decimal_places": f"Use at most {item.decimals} decimal places.",
        "max_digits": message,
        "max_whole_digits": message,
    }


class DateItemField(forms.DateField):
    def __init__(self, *, low: dt.date | None, high: dt.date | None, **kwargs):
        self.low, self.high = low, high
        super().__init__(**kwargs)

    def validate(self, value):
        super().validate(value)
        if value is None:
            return
        if self.low and value < self.low:
            raise forms.ValidationError(
                f"Enter a date on or after {self.low:%d/%m/%Y}."
            )
        if self.high and value > self.high:
            raise forms.ValidationError(
                f"Enter a date on or before {self.high:%d/%m/%Y}."
            )


def to_answer(item: Item, value: Any) -> Any:
    """A cleaned form value as it is stored in a response's JSON answers."""
    if value is None or value == "" or value == []:
        return None
    if item.type == "rating":
        return int(value)
    if item.type == "decimal":
        return float(value)
    if item.type == "date":
        return value.isoformat()
    if item.type == "checkbox":
        return sorted(
            value, key=lambda code: [c for c, _ in item.choice_list].index(code)
        )
    return value


def to_initial(item: Item, value: Any) -> Any:
    """A stored answer as a form field's initial value."""
    if value is None:
        return None
    if item.type in ("radio", "yesno", "dropdown") or (
        item.type == "rating" and rating_as_radios(item)
    ):
        return str(value)
    return value


@dataclass
class Block:
    """One thing to render: a heading, an item, or a matrix of items."""

    kind: str  # "section" | "item" | "matrix" | "descriptive" | "calc"
    section: Section | None = None
    item: Item | None = None
    bound: Any = None
    rows: list[Block] = field(default_factory=list)
    options: tuple[tuple[str, str], ...] = ()
    branching: str = ""
    calculation: str = ""
    widget: str = ""  # "options" | "scale" | "input"
    value: Any = None

    @property
    def name(self) -> str:
        if self.item is not None:
            return self.item.name
        return self.rows[0].item.matrix if self.rows else ""


class InstrumentForm(forms.Form):
    """A form for one or more sections of a definition.

    ``other_answers`` are answers given on other pages; branching that refers to
    them is evaluated with them, so a page shows what the patient should see.
    """

    # Branching decides what is required, so browsers must not enforce it.
    use_required_attribute = False

    def __init__(
        self,
        *args,
        definition: Definition,
        sections: list[int] | None = None,
        answers: Mapping[str, Any] | None = None,
        today: dt.date | None = None,
        **kwargs,
    ):
        self.definition = definition
        self.today = today or dt.date.today()
        indexes = range(len(definition.sections)) if sections is None else sections
        self.sections = [definition.sections[index] for index in indexes]
        self.saved_answers = dict(answers or {})
        own = {item.name for section in self.sections for item in section.items}
        initial = {
            name: to_initial(definition.item(name), value)
            for name, value in self.saved_answers.items()
            if name in own
        }
        kwargs.setdefault("initial", initial)
        super().__init__(*args, **kwargs)
        for section in self.sections:
            for item in section.items:
                form_field = build_field(item, today=self.today)
                if form_field is not None:
                    self.fields[item.name] = form_field
        self.resolved: answer_rules.Resolved | None = None

    @property
    def other_answers_json(self) -> str:
        """Answers from other pages, for branching in the browser."""
        other = {
            name: value
            for name, value in self.saved_answers.items()
            if name not in self.fields
        }
        return json.dumps(other) if other else ""

    def items(self) -> Iterator[Item]:
        for section in self.sections:
            yield from section.items

    def clean(self):
        cleaned = super().clean()
        combined = dict(self.saved_answers)
        for item in self.items():
            if item.name in self.fields:
                combined.pop(item.name, None)
                if item.name in cleaned:
                    combined[item.name] = to_answer(item, cleaned[item.name])
                elif item.name in self.errors:
                    # An answer that failed validation still counts as given for
                    # branching; the patient sees the error, not a vanished item.
                    combined[item.name] = self.data.get(self.add_prefix(item.name))
        resolved = answer_rules.resolve(self.definition, combined, today=self.today)
        self.resolved = resolved
        for item in self.items():
            if item.name not in self.fields:
                continue
            if item.name in resolved.hidden:
                self.errors.pop(item.name, None)
                cleaned.pop(item.name, None)
            elif item.required and item.name not in self.errors:
                value = cleaned.get(item.name)
                if value is None or value == "" or value == []:
                    self.add_error(item.name, REQUIRED_MESSAGE)
        return cleaned

    def page_answers(self) -> dict[str, Any]:
        """This page's answers, JSON-ready, hidden items removed (after is_valid).

        On an invalid page the answers that passed are kept, and an item with an
        error keeps the answer saved before, so moving away never loses what was
        entered well, and a rejected value never replaces a good one.
        """
        result = {}
        hidden = self.resolved.hidden if self.resolved else frozenset()
        cleaned = getattr(self, "cleaned_data", {})
        for item in self.items():
            name = item.name
            if name not in self.fields or name in hidden:
                continue
            if name in self.errors:
                value = self.saved_answers.get(name)
            else:
                value = to_answer(item, cleaned.get(name))
            if value is not None:
                result[name] = value
        return result

    def all_answers(self) -> dict[str, Any]:
        """Saved answers merged with this page's, branching and calculations applied."""
        merged = {
            name: value
            for name, value in self.saved_answers.items()
            if name not in self.fields
        }
        merged.update(self.page_answers())
        return answer_rules.resolve(self.definition, merged, today=self.today).answers

    def blocks(self) -> Iterator[Block]:
        for section in self.sections:
            if section.title:
                yield Block("section", section=section)
            matrix: Block | None = None
            for item in section.items:
                block = self._item_block(item)
                if item.matrix:
                    if matrix is None or matrix.name != item.matrix:
                        matrix = Block("matrix", options=item.choice_list)
                        yield matrix
                    matrix.rows.append(block)
                    continue
                matrix = None
                yield block

    def _item_block(self, item: Item) -> Block:
        expression = self.definition.branching.get(item.name)
        branching = json.dumps(expression.to_json()) if expression else ""
        if item.type == "descriptive":
            return Block("descriptive", item=item, branching=branching)
        if item.type == "calc":
            calculation = json.dumps(self.definition.calculations[item.name].to_json())
            return Block(
                "calc", item=item, branching=branching, calculation=calculation
            )
        bound = self[item.name]
        widget = "input"
        if isinstance(
            bound.field.widget, forms.RadioSelect | forms.CheckboxSelectMultiple
        ):
            widget = "scale" if item.type == "rating" else "options"
        return Block("item", item=item, bound=bound, branching=branching, widget=widget)

    def _shown_answers(self) -> dict[str, Any]:
        if self.resolved is not None:
            return self.resolved.answers
        return answer_rules.resolve(
            self.definition, self.saved_answers, today=self.today
        ).answers

    def error_list(self) -> list[tuple[str, str, str]]:
        """(field id, question, message) for the error summary at the top."""
        listed = []
        for item in self.items():
            if item.name in self.errors:
                bound = self[item.name]
                anchor = bound.auto_id
                if isinstance(
                    bound.field.widget, forms.RadioSelect | forms.CheckboxSelectMultiple
                ):
                    anchor = f"{bound.auto_id}_0"
                label = as_text(item.label) or item.name
                for message in self.errors[item.name]:
                    listed.append((anchor, label, message))
        for message in self.non_field_errors():
            listed.append(("", "", message))
        return listed
