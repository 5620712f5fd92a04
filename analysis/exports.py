"""De-identified downloads of a study's data, in the layout and format asked for.

``prepare`` decides the variables from the protocol and the instrument versions
in use; ``Export.rows`` then reads only whitelisted fields: the study code (to
make the pseudonym, or as the study ID when asked), site code, participant and
visit status, enrolment and completion dates (given as days since enrolment or
shifted per participant) and the answers and scores of exported items.
ParticipantContact is never queried, and free-text items (``text``, ``notes``)
and identifier items (a date of birth) never become variables, so names,
emails, phone numbers, tokens and free text cannot leave through an export.

``write`` turns an export into CSV, XLSX, SPSS, Stata or a zip bundle (the
writers are in ``analysis.export_formats``); ``analysis.codebook`` documents it.

Missing values carry a code saying why (``MISSING_CODES``); see ``MissingCode``.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, fields
from typing import Any, BinaryIO

from django.db import connection
from django.db.models import F, JSONField, Q, QuerySet, Value
from django.utils import timezone
from django.utils.crypto import salted_hmac

from analysis.dataset import (
    SINGLE_CHOICE_TYPES,
    analysed_items,
    included_participants,
    score_label,
    ticked_label,
)
from instruments.answers import resolve
from instruments.definitions import Definition, Item
from instruments.expressions import as_number
from instruments.models import InstrumentVersion, Response, ResponseStatus
from participants import followup
from participants.enrolment import characteristics_instrument_slug, protocol_links
from participants.models import (
    Participant,
    ParticipantStatus,
    Study,
    Timepoint,
    Visit,
    VisitStatus,
)
from studyportal.errors import DomainError

LAYOUTS = {
    "wide": "Wide: one row per participant",
    "long": "Long: one row per participant and visit",
    "items": "Items: one row per answered item",
}
FORMATS = {
    "csv": "CSV (UTF-8)",
    "xlsx": "Excel workbook (.xlsx)",
    "sav": "SPSS (.sav)",
    "dta": "Stata (.dta)",
    "zip": "Zip: CSV data, codebook (CSV and HTML), R and Python import scripts",
}
DATE_MODES = {
    "days": "Days since enrolment",
    "shifted": "Dates shifted by a fixed number of days per participant",
}
CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "sav": "application/x-spss-sav",
    "dta": "application/x-stata-dta",
    "zip": "application/zip",
}

# Different purposes give different keys: the export pseudonym cannot be joined
# to the analysis pseudonym (analysis.runs.pseudonym), nor the date shift guessed
# from either.
PSEUDONYM_PURPOSE = "studyportal.analysis.exports.pseudonym"
DATE_SHIFT_PURPOSE = "studyportal.analysis.exports.date-shift"
MAX_SHIFT_DAYS = 180

# Items holding an age in years; banded when the request asks for bands.
AGE_ITEMS = frozenset({"age", "age_years"})
AGE_BANDS = {
    0: "under 18",
    1: "18-29",
    2: "30-39",
    3: "40-49",
    4: "50-59",
    5: "60-69",
    6: "70-79",
    7: "80+",
}
SEX_ITEM = "sex"
SEX_NOT_RECORDED = "not recorded"

CHECKBOX_VALUES = {0: "Not ticked", 1: "Ticked"}
ROW_KINDS = {"item": "Item response", "score": "Score"}

# Stata allows 32 characters, SPSS 64; both want a letter first.
MAX_NAME_LENGTH = 32
# SPSS keywords, then Stata's reserved names.
RESERVED_NAMES = frozenset(
    {"all", "and", "by", "eq", "ge", "gt", "le", "lt", "ne", "not", "or", "to"}
    | {"with", "_all", "_b", "byte", "_coef", "_cons", "double", "float", "if"}
    | {"in", "int", "long", "_n", "_pi", "_pred", "_rc", "_skip", "strl", "using"}
)
# Participants read per round trip; rows are built one participant at a time.
PARTICIPANT_BATCH = 500
NO_JSON = Value(None, output_field=JSONField())
XLSX_MAX_ROWS = 1_048_576


class ExportError(DomainError):
    """An export that cannot be made as asked, with what to do instead."""


# ---------------------------------------------------------------------------
# Missing values


@dataclass(frozen=True)
class MissingCode:
    """Why a value is missing, as a number (data, SPSS) and a letter (Stata .a).

    The codes are far below any real value (even a date 200 years before
    enrolment is only about -73,000 days), so a code is never mistaken for data.
    """

    code: int
    stata: str
    reason: str
    meaning: str


NOT_ANSWERED = MissingCode(
    -99999,
    "a",
    "not answered",
    "shown but left blank; for a score, too few of its items were answered",
)
SKIPPED = MissingCode(
    -99998, "b", "skipped by branching", "not shown: the branching logic hid it"
)
NOT_ASKED = MissingCode(
    -99997,
    "c",
    "not asked",
    "not in the questionnaire version used, or not collected at this timepoint",
)
VISIT_MISSED = MissingCode(
    -99996,
    "d",
    "visit missed",
    "no submitted questionnaire at this visit, and none will come: the visit was "
    "missed, or the participant withdrew or was lost to follow-up",
)
VISIT_OPEN = MissingCode(
    -99995,
    "e",
    "visit still open",
    "no submitted questionnaire at this visit yet: it is not yet due, or still "
    "in its window (open or overdue)",
)
MISSING_CODES = (NOT_ANSWERED, SKIPPED, NOT_ASKED, VISIT_MISSED, VISIT_OPEN)
MISSING_BY_CODE = {missing.code: missing for missing in MISSING_CODES}

# A tick box left empty is 0 (not ticked), as in the analysis dataset.
CHOICE_MISSING = (SKIPPED, NOT_ASKED, VISIT_MISSED, VISIT_OPEN)
SCORE_MISSING = (NOT_ANSWERED, NOT_ASKED, VISIT_MISSED, VISIT_OPEN)
VISIT_DAY_MISSING = (VISIT_MISSED, VISIT_OPEN)


def missing_labels(codes: tuple[MissingCode, ...]) -> dict[int, str]:
    return {missing.code: missing.reason for missing in codes}


# ---------------------------------------------------------------------------
# The request


@dataclass(frozen=True)
class ExportRequest:
    """What an investigator asked for; every value is checked on creation.

    ``layout``: "wide" (one row per participant), "long" (one row per
    participant and visit) or "items" (one row per answered item, and per
    score when ``scores``). ``fmt``: a key of ``FORMATS``. ``instruments`` and
    ``timepoints``: slugs and codes, empty for all. ``items``/``scores``: which
    values to include (at least one). ``dates``: "days" (days since enrolment)
    or "shifted" (real dates moved by a per-participant offset of 1 to 180 days
    either way, the same in every download). ``age_bands``: ages in bands
    (``AGE_BANDS``) instead of years. ``pseudonym``: an export pseudonym, stable
    across downloads, instead of the study ID. ``excel_bom``: start the CSV
    (alone or in the zip) with a UTF-8 byte order mark so Excel reads it as
    UTF-8; ignored by the other formats. ``include_test_data``: keep the test
    data made while the study was set up, which a study in production leaves
    out (``included_participants``).
    """

    layout: str = "wide"
    fmt: str = "csv"
    instruments: tuple[str, ...] = ()
    timepoints: tuple[str, ...] = ()
    items: bool = True
    scores: bool = True
    dates: str = "days"
    age_bands: bool = False
    pseudonym: bool = True
    excel_bom: bool = False
    include_test_data: bool = False

    def __post_init__(self):
        _check_choice("layout", self.layout, LAYOUTS)
        _check_choice("fmt", self.fmt, FORMATS)
        _check_choice("dates", self.dates, DATE_MODES)
        for name in ("instruments", "timepoints"):
            value = getattr(self, name)
            if not isinstance(value, list | tuple) or not all(
                isinstance(entry, str) for entry in value
            ):
                raise ValueError(f"{name} must be a list of names, not {value!r}.")
            # A list from a form or JSON becomes a tuple, so requests hash.
            object.__setattr__(self, name, tuple(dict.fromkeys(value)))
        for name in (
            "items",
            "scores",
            "age_bands",
            "pseudonym",
            "excel_bom",
            "include_test_data",
        ):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be true or false.")
        if not (self.items or self.scores):
            raise ValueError("Choose item responses, scores or both.")

    def as_dict(self) -> dict:
        """JSON-ready: what a download log or a Celery task stores."""
        data = {item.name: getattr(self, item.name) for item in fields(self)}
        data["instruments"] = list(self.instruments)
        data["timepoints"] = list(self.timepoints)
        return data

    @classmethod
    def from_dict(cls, data: dict) -> ExportRequest:
        """The request ``as_dict`` gave; ValueError on an unknown key or value."""
        if not isinstance(data, dict):
            raise ValueError("An export request must be a mapping of options.")
        known = {item.name for item in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(
                f"Unknown export option(s): {', '.join(unknown)}; "
                f"known: {', '.join(sorted(known))}."
            )
        return cls(**data)

    def describe(self) -> list[tuple[str, str]]:
        """The choices in words, for a codebook or a log."""
        content = " and ".join(
            part
            for part, chosen in (
                ("item responses", self.items),
                ("scores", self.scores),
            )
            if chosen
        )
        return [
            ("Layout", LAYOUTS[self.layout]),
            ("Format", FORMATS[self.fmt]),
            ("Questionnaires", ", ".join(self.instruments) or "all"),
            ("Timepoints", ", ".join(self.timepoints) or "all"),
            ("Content", content),
            ("Dates", DATE_MODES[self.dates]),
            ("Age", "in bands" if self.age_bands else "in years"),
            (
                "Participant identifier",
                "export pseudonym" if self.pseudonym else "study ID",
            ),
        ] + ([("Test data", "included")] if self.include_test_data else [])


def _check_choice(name: str, value: Any, allowed: dict[str, str]) -> None:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(allowed)}, not {value!r}.")


# ---------------------------------------------------------------------------
# Keyed per-participant values


def export_pseudonym(study_id: str) -> str:
    """A participant's label in downloads: the same in every download, and
    unrelated to the analysis pseudonym (a different key)."""
    digest = salted_hmac(PSEUDONYM_PURPOSE, str(study_id), algorithm="sha256")
    return "E" + digest.hexdigest()[:12].upper()


def date_offset(study_id: str) -> int:
    """Days every date of a participant is moved by: 1 to MAX_SHIFT_DAYS either
    way, never 0, and the same in every download."""
    digest = salted_hmac(DATE_SHIFT_PURPOSE, str(study_id), algorithm="sha256")
    step = int.from_bytes(digest.digest()[:4], "big") % (2 * MAX_SHIFT_DAYS)
    return step - MAX_SHIFT_DAYS if step < MAX_SHIFT_DAYS else step - MAX_SHIFT_DAYS + 1


def age_band(years: float) -> int:
    """The key of ``AGE_BANDS`` an age in years falls in."""
    if years < 18:
        return 0
    if years < 30:
        return 1
    return min(int(years) // 10 - 1, max(AGE_BANDS))


# ---------------------------------------------------------------------------
# Variables


@dataclass(frozen=True)
class ExportVariable:
    """One column of an export (or, in the items layout, one value of its
    ``variable`` column; see ``Export.item_variables``).

    ``type`` is "numeric", "string" or "date". ``instrument`` is the slug of the
    questionnaire it comes from ("" for participant and visit columns) and
    ``version`` the version number its label and value labels come from.
    ``values`` maps codes to labels; ``missing`` maps missing-value codes to the
    reason (``MISSING_CODES``). ``categorical``: ``values`` label every valid
    value (options, tick boxes, age bands), so the variable can be a factor;
    a rating's ``values`` label only its anchors.
    """

    name: str
    label: str
    type: str
    instrument: str = ""
    version: int | None = None
    values: dict = field(default_factory=dict)
    missing: dict = field(default_factory=dict)
    categorical: bool = False


def variable_name(full: str, taken: set[str]) -> str:
    """A name SPSS and Stata accept, unique (ignoring case) among ``taken``.

    Letters, digits and underscores, starting with a letter, at most 32
    characters: a longer name keeps its start and ends with a hash of the full
    name, so it is the same in every download.
    """
    name = re.sub(r"[^A-Za-z0-9_]", "_", full)
    if not re.match(r"[A-Za-z]", name):
        name = "v_" + name
    if name.lower() in RESERVED_NAMES:
        name += "_"
    if len(name) > MAX_NAME_LENGTH:
        digest = hashlib.sha256(full.encode()).hexdigest()[:8]
        name = f"{name[: MAX_NAME_LENGTH - 9]}_{digest}"
    candidate, number = name, 2
    while candidate.lower() in taken:
        suffix = f"_{number}"
        candidate = name[: MAX_NAME_LENGTH - len(suffix)] + suffix
        number += 1
    taken.add(candidate.lower())
    return candidate


def exported_items(definition: Definition) -> list[Item]:
    """Items that become variables: those the analysis uses, and dates.

    Dates (never identifiers such as a date of birth) leave only as days since
    enrolment or shifted; free text and identifiers never leave.
    """
    analysed = {item.name for item in analysed_items(definition)}
    return [
        item
        for item in definition.items()
        if item.name in analysed or (item.type == "date" and not item.identifier)
    ]


@dataclass(frozen=True)
class _Entry:
    """A value an instrument gives: an item, one option of a tick box, a score."""

    kind: str  # "item", "choice" or "score"
    name: str  # the item's or score's name in the definition
    suffix: str  # its part of a variable name
    label: str
    version: int
    definition: Definition
    item_type: str = ""
    choice: str = ""
    # A score's or an option's own label, without the questionnaire's title.
    own_label: str = ""
    values: dict = field(default_factory=dict)
    categorical: bool = False


class _Plan:
    """An instrument's versions in use and the values it gives, newest first."""

    def __init__(
        self,
        instrument_id: int,
        slug: str,
        title: str,
        versions: list[InstrumentVersion],
        *,
        age_bands: bool,
    ):
        self.id = instrument_id
        self.slug = slug
        self.title = title
        self.versions: dict[int, tuple[int, Definition]] = {}
        self.exported: dict[int, dict[str, Item]] = {}
        self.codes: dict[int, dict[str, frozenset[str]]] = {}
        self.score_names: dict[int, frozenset[str]] = {}
        for version in sorted(versions, key=lambda v: -v.number):
            self._add_version(version)
        newest = {}
        for version_pk, (number, definition) in self.versions.items():
            for item in self.exported[version_pk].values():
                newest.setdefault(item.name, (number, definition, item))
        self.choice_numbers = self._choice_numbers()
        self.item_entries: list[_Entry] = []
        for number, definition, item in newest.values():
            self.item_entries += self._item_entries(
                number, definition, item, age_bands=age_bands
            )
        self.score_entries: list[_Entry] = []
        seen: set[str] = set()
        for number, definition in self.versions.values():
            for score in definition.scores:
                if score.name in seen:
                    continue
                seen.add(score.name)
                self.score_entries.append(
                    _Entry(
                        "score",
                        score.name,
                        score.name,
                        f"{definition.title}: {score.label}",
                        number,
                        definition,
                        own_label=score.label,
                    )
                )
        self._item_rows: dict[int, list[tuple[str, Item, list[_Entry]]]] = {}

    def _add_version(self, version: InstrumentVersion) -> None:
        definition = version.parsed
        self.versions[version.pk] = (version.number, definition)
        items = {item.name: item for item in exported_items(definition)}
        self.exported[version.pk] = items
        self.codes[version.pk] = {
            item.name: frozenset(code for code, _ in item.choice_list)
            for item in items.values()
        }
        self.score_names[version.pk] = frozenset(s.name for s in definition.scores)

    def version(self, version_pk: int) -> tuple[int, Definition]:
        # A version first used after ``prepare`` (a new definition loaded while
        # a long export runs) is read when met; its new items are not columns.
        if version_pk not in self.versions:
            self._add_version(InstrumentVersion.objects.get(pk=version_pk))
        return self.versions[version_pk]

    def _choice_numbers(self) -> dict[str, dict[str, int]]:
        """Option codes as numbers: the code itself when every code is a whole
        number, else the option's position (1, 2, ...) over all versions."""
        codes: dict[str, list[str]] = {}
        for version_pk in self.versions:
            for item in self.exported[version_pk].values():
                if item.type in SINGLE_CHOICE_TYPES or item.type == "checkbox":
                    known = codes.setdefault(item.name, [])
                    known += [c for c, _ in item.choice_list if c not in known]
        numbers = {}
        for name, listed in codes.items():
            if all(re.fullmatch(r"-?\d{1,9}", code) for code in listed):
                numbers[name] = {code: int(code) for code in listed}
            else:
                numbers[name] = {code: n for n, code in enumerate(listed, start=1)}
        return numbers

    def _item_entries(
        self, number: int, definition: Definition, item: Item, *, age_bands: bool
    ) -> list[_Entry]:
        label = item.label or item.name
        # Options over all versions in use, each labelled as its newest version
        # has it, so that an option an older version offered keeps its label.
        labels: dict[str, str] = {}
        for version_pk in self.versions:
            found = self.exported[version_pk].get(item.name)
            if found is not None and found.type == item.type:
                for code, text in found.choice_list:
                    labels.setdefault(code, text)
        if item.type == "checkbox":
            return [
                _Entry(
                    "choice",
                    item.name,
                    f"{item.name}_{code}",
                    ticked_label(item, text),
                    number,
                    definition,
                    item_type=item.type,
                    choice=code,
                    own_label=text,
                    values=CHECKBOX_VALUES,
                    categorical=True,
                )
                for code, text in labels.items()
            ]
        values: dict = {}
        categorical = item.type in SINGLE_CHOICE_TYPES
        if categorical:
            numbers = self.choice_numbers[item.name]
            values = {numbers[code]: text for code, text in labels.items()}
        elif item.type == "rating" and item.anchors is not None:
            low, high = int(item.min), int(item.max)
            middle = (low + high) // 2 if (low + high) % 2 == 0 else None
            for point, text in (
                (low, item.anchors.low),
                (middle, item.anchors.middle),
                (high, item.anchors.high),
            ):
                if point is not None and text:
                    values[point] = text
        if item.name in AGE_ITEMS and age_bands and item.type != "date":
            values, categorical = dict(AGE_BANDS), True
            label = f"{label} (in bands)"
        return [
            _Entry(
                "item",
                item.name,
                item.name,
                label,
                number,
                definition,
                item_type=item.type,
                values=values,
                categorical=categorical,
            )
        ]

    def item_rows(self, version_pk: int) -> list[tuple[str, Item, list[_Entry]]]:
        """For the items layout: the version's exported items, in column order,
        each with its entries (one, or one per option of a tick box)."""
        if version_pk not in self._item_rows:
            self.version(version_pk)
            exported = self.exported[version_pk]
            codes = self.codes[version_pk]
            grouped: dict[str, list[_Entry]] = {}
            for entry in self.item_entries:
                item = exported.get(entry.name)
                if item is None:
                    continue
                if entry.kind == "choice" and (
                    item.type != "checkbox" or entry.choice not in codes[entry.name]
                ):
                    continue
                if entry.kind == "item" and item.type == "checkbox":
                    continue
                grouped.setdefault(entry.name, []).append(entry)
            self._item_rows[version_pk] = [
                (name, exported[name], entries) for name, entries in grouped.items()
            ]
        return self._item_rows[version_pk]


# ---------------------------------------------------------------------------
# What rows are built from


@dataclass(frozen=True)
class _Person:
    label: str
    site: str
    status: str
    enrolled_on: dt.date
    offset: int


class _View:
    """One submitted response, as the rows read it."""

    __slots__ = (
        "version_pk",
        "number",
        "definition",
        "exported",
        "codes",
        "score_names",
        "answers",
        "scores",
        "submitted_at",
        "_hidden",
    )

    def __init__(self, plan: _Plan, version_pk, answers, scores, submitted_at):
        self.version_pk = version_pk
        self.number, self.definition = plan.version(version_pk)
        self.exported = plan.exported[version_pk]
        self.codes = plan.codes[version_pk]
        self.score_names = plan.score_names[version_pk]
        self.answers = answers if isinstance(answers, dict) else {}
        self.scores = scores if isinstance(scores, dict) else {}
        self.submitted_at = submitted_at
        self._hidden: frozenset[str] | None = None

    @property
    def hidden(self) -> frozenset[str]:
        """Items the branching logic hid; worked out only for a blank answer."""
        if self._hidden is None:
            if not self.definition.branching:
                self._hidden = frozenset()
            else:
                today = (
                    timezone.localtime(self.submitted_at).date()
                    if self.submitted_at
                    else None
                )
                self._hidden = resolve(
                    self.definition, self.answers, today=today
                ).hidden
        return self._hidden


@dataclass
class _Context:
    person: _Person
    # timepoint id: (visit status, completed at, follow-up state)
    visits: dict[int, tuple[str, dt.datetime | None, str]]
    views: dict[tuple[int, int], _View]
    timepoint_id: int | None = None


def _no_visit_data(ctx: _Context, timepoint_id) -> MissingCode:
    """Why a visit gave nothing: still to come, by its follow-up state, or missed
    (which includes withdrawn and lost)."""
    state = ctx.visits.get(timepoint_id, ("", None, ""))[2]
    return VISIT_OPEN if state in followup.STILL_TO_COME else VISIT_MISSED


def _blank(answer: Any) -> bool:
    return answer is None or answer == "" or answer == []


def _checked_number(number: float) -> int | float:
    if number in MISSING_BY_CODE:
        raise ExportError(
            f"A value of {number:g} is also a missing-value code; the export "
            "cannot tell them apart."
        )
    return int(number) if float(number).is_integer() else number


# ---------------------------------------------------------------------------
# The export


class Export:
    """What a download holds: ``variables`` in column order, and ``rows()``.

    Made by ``prepare``. ``rows()`` reads participants PARTICIPANT_BATCH at a
    time (participants, their visits and submitted responses, the responses
    through a server-side cursor), so memory does not grow with the number of
    rows; it holds one small entry per participant (id and sort key) to put the
    rows in pseudonym order, which reveals nothing of the order of enrolment.

    In the items layout ``item_variables`` describes what the ``variable``
    column can hold (its name, label and value labels); elsewhere it is empty.
    """

    def __init__(
        self,
        study: Study,
        request: ExportRequest,
        *,
        timepoints: list[Timepoint],
        plans: dict[int, _Plan],
        plans_at: dict[int, list[_Plan]],
        characteristics: str | None,
        sites: dict[str, str],
        today: dt.date | None = None,
    ):
        self.study = study
        self.request = request
        # Whether a visit without answers is missed or still open depends on it.
        self.today = today or timezone.localdate()
        self._timepoints = timepoints
        self._plans = plans
        self._plans_at = plans_at
        self._linked = {
            (tp_id, plan.id) for tp_id, plans in plans_at.items() for plan in plans
        }
        self._characteristics = characteristics
        self._sites = sites
        self._shifted = request.dates == "shifted"
        self._taken: set[str] = set()
        self._getters: list[Callable[[_Context], Any]] = []
        self._count: int | None = None
        self.variables: list[ExportVariable] = []
        self.item_variables: list[ExportVariable] = []
        self._lead_columns()
        if request.layout == "wide":
            self._wide_columns()
        elif request.layout == "long":
            self._long_columns()
        else:
            self._items_columns()

    # -- columns ------------------------------------------------------------

    def _column(
        self, full: str, label: str, kind: str, getter, **details
    ) -> ExportVariable:
        name = variable_name(full, self._taken)
        if name != full:
            label = f"{label} [{full}]"
        variable = ExportVariable(name=name, label=label, type=kind, **details)
        self.variables.append(variable)
        self._getters.append(getter)
        return variable

    def _lead_columns(self) -> None:
        if self.request.pseudonym:
            self._column(
                "pseudonym",
                "Export pseudonym (the same in every download; not the study ID)",
                "string",
                lambda ctx: ctx.person.label,
            )
        else:
            self._column("study_id", "Study ID", "string", lambda ctx: ctx.person.label)
        self._column(
            "site",
            "Site (clinic)",
            "string",
            lambda ctx: ctx.person.site,
            values=dict(self._sites),
        )
        if self.request.layout == "items":
            return
        self._column(
            "status",
            "Participant status",
            "string",
            lambda ctx: ctx.person.status,
            values=dict(ParticipantStatus.choices),
        )
        if self._shifted:
            self._column(
                "enrolled_on",
                "Date enrolled (shifted)",
                "date",
                lambda ctx: (
                    ctx.person.enrolled_on + dt.timedelta(days=ctx.person.offset)
                ),
            )

    def _visit_columns(self, prefix: str, suffix: str, timepoint_id: int | None):
        visit_status = functools.partial(self._visit_status, timepoint_id)
        self._column(
            f"{prefix}visit",
            f"Visit status{suffix}",
            "string",
            visit_status,
            values=dict(VisitStatus.choices),
        )
        visit_day = functools.partial(self._visit_day, timepoint_id)
        if self._shifted:
            self._column(
                f"{prefix}date",
                f"Date the visit was completed, shifted{suffix}",
                "date",
                visit_day,
            )
        else:
            self._column(
                f"{prefix}day",
                f"Days from enrolment to completing the visit{suffix}",
                "numeric",
                visit_day,
                missing=missing_labels(VISIT_DAY_MISSING),
            )

    def _entry_column(
        self, plan: _Plan, entry: _Entry, full: str, label: str, timepoint_id
    ) -> None:
        dated = entry.item_type == "date" and self._shifted
        if entry.kind == "score":
            missing = SCORE_MISSING
        elif entry.kind == "choice":
            missing = CHOICE_MISSING
        else:
            missing = MISSING_CODES
        if entry.item_type == "date":
            label += " (shifted date)" if dated else " (days since enrolment)"
        self._column(
            full,
            label,
            "date" if dated else "numeric",
            functools.partial(self._cell, plan, entry, timepoint_id, dated),
            instrument=plan.slug,
            version=entry.version,
            values=dict(entry.values),
            missing={} if dated else missing_labels(missing),
            categorical=entry.categorical,
        )

    def _entries(self, plan: _Plan) -> list[_Entry]:
        chosen = []
        if self.request.items:
            chosen += plan.item_entries
        if self.request.scores:
            chosen += plan.score_entries
        return chosen

    def _wide_columns(self) -> None:
        for timepoint in self._timepoints:
            tp_suffix = f" ({timepoint.label})"
            self._visit_columns(f"{timepoint.code}_", tp_suffix, timepoint.pk)
            for plan in self._plans_at[timepoint.pk]:
                # The enrolment form's items keep their own names, as in the
                # analysis dataset, when it is collected at one timepoint.
                bare = plan.slug == self._characteristics and not any(
                    plan in plans
                    for tp_id, plans in self._plans_at.items()
                    if tp_id != timepoint.pk
                )
                for entry in self._entries(plan):
                    if entry.kind == "score":
                        label = score_label(
                            entry.definition, entry.own_label, timepoint.label
                        )
                        full = f"{timepoint.code}_{entry.suffix}"
                    elif bare:
                        label, full = entry.label, entry.suffix
                    else:
                        label = entry.label + tp_suffix
                        full = f"{timepoint.code}_{entry.suffix}"
                    self._entry_column(plan, entry, full, label, timepoint.pk)

    def _long_columns(self) -> None:
        self._column(
            "timepoint",
            "Timepoint",
            "string",
            lambda ctx: self._timepoint_codes[ctx.timepoint_id],
            values={tp.code: tp.label for tp in self._timepoints},
        )
        self._visit_columns("", "", None)
        for plan in self._ordered_plans():
            for entry in self._entries(plan):
                self._entry_column(plan, entry, entry.suffix, entry.label, None)

    def _items_columns(self) -> None:
        fixed = [
            (
                "timepoint",
                "Timepoint",
                "string",
                {tp.code: tp.label for tp in self._timepoints},
            ),
        ]
        if self._shifted:
            fixed.append(("date", "Date submitted (shifted)", "date", {}))
        else:
            fixed.append(
                (
                    "day",
                    "Days from enrolment to submitting the questionnaire",
                    "numeric",
                    {},
                )
            )
        fixed += [
            (
                "instrument",
                "Questionnaire",
                "string",
                {plan.slug: plan.title for plan in self._ordered_plans()},
            ),
            ("version", "Questionnaire version", "numeric", {}),
            (
                "variable",
                "Item or score (see the codebook's variable= rows)",
                "string",
                {},
            ),
            ("kind", "Item response or score", "string", dict(ROW_KINDS)),
            ("value", "Value (a code, number or days since enrolment)", "numeric", {}),
            ("value_label", "Label of the value, where it has one", "string", {}),
        ]
        has_dates = (
            self._shifted
            and self.request.items
            and any(
                entry.item_type == "date"
                for plan in self._ordered_plans()
                for entry in plan.item_entries
            )
        )
        if has_dates:
            fixed.append(("value_date", "Value of a date item (shifted)", "date", {}))
        for name, label, kind, values in fixed:
            self._column(name, label, kind, None, values=values)
        for plan in self._ordered_plans():
            for entry in self._entries(plan):
                dated = entry.item_type == "date" and self._shifted
                label = entry.label
                if entry.item_type == "date":
                    label += " (shifted date)" if dated else " (days since enrolment)"
                self.item_variables.append(
                    ExportVariable(
                        name=entry.suffix,
                        label=label,
                        type="date" if dated else "numeric",
                        instrument=plan.slug,
                        version=entry.version,
                        values=dict(entry.values),
                        categorical=entry.categorical,
                    )
                )

    def _ordered_plans(self) -> list[_Plan]:
        ordered: dict[int, _Plan] = {}
        for timepoint in self._timepoints:
            for plan in self._plans_at[timepoint.pk]:
                ordered.setdefault(plan.id, plan)
        return list(ordered.values())

    @functools.cached_property
    def _timepoint_codes(self) -> dict[int, str]:
        return {tp.pk: tp.code for tp in self._timepoints}

    # -- cells ----------------------------------------------------------------

    def _visit_status(self, timepoint_id, ctx: _Context) -> str:
        tp_id = ctx.timepoint_id if timepoint_id is None else timepoint_id
        return ctx.visits.get(tp_id, ("", None, ""))[0]

    def _visit_day(self, timepoint_id, ctx: _Context):
        tp_id = ctx.timepoint_id if timepoint_id is None else timepoint_id
        completed = ctx.visits.get(tp_id, ("", None, ""))[1]
        if completed is None:
            # A visit still open may have some questionnaires submitted.
            submitted = [
                view.submitted_at
                for (view_tp, _), view in ctx.views.items()
                if view_tp == tp_id and view.submitted_at
            ]
            completed = max(submitted, default=None)
        if completed is None:
            return None if self._shifted else _no_visit_data(ctx, tp_id).code
        return self._date(timezone.localtime(completed).date(), ctx.person)

    def _date(self, day: dt.date, person: _Person) -> int | dt.date:
        if self._shifted:
            return day + dt.timedelta(days=person.offset)
        return _checked_number((day - person.enrolled_on).days)

    def _cell(self, plan: _Plan, entry: _Entry, timepoint_id, dated: bool, ctx):
        value = self._cell_value(plan, entry, timepoint_id, ctx)
        return None if dated and isinstance(value, int) else value

    def _cell_value(self, plan: _Plan, entry: _Entry, timepoint_id, ctx: _Context):
        tp_id = ctx.timepoint_id if timepoint_id is None else timepoint_id
        view = ctx.views.get((tp_id, plan.id))
        if view is None:
            if plan not in self._plans_at.get(tp_id, ()):
                return NOT_ASKED.code
            return _no_visit_data(ctx, tp_id).code
        if entry.kind == "score":
            if entry.name not in view.score_names:
                return NOT_ASKED.code
            stored = view.scores.get(entry.name)
            value = stored.get("value") if isinstance(stored, dict) else None
            number = as_number(value)
            return NOT_ANSWERED.code if number is None else _checked_number(number)
        item = view.exported.get(entry.name)
        if item is None:
            return NOT_ASKED.code
        if entry.kind == "choice" and (
            item.type != "checkbox" or entry.choice not in view.codes[entry.name]
        ):
            return NOT_ASKED.code
        answer = view.answers.get(entry.name)
        if _blank(answer):
            if entry.name in view.hidden:
                return SKIPPED.code
            return 0 if entry.kind == "choice" else NOT_ANSWERED.code
        if entry.kind == "choice":
            return int(entry.choice in _ticked(answer))
        return self._answer_value(plan, entry, item, answer, ctx.person)

    def _answer_value(self, plan: _Plan, entry: _Entry, item: Item, answer, person):
        if item.type in SINGLE_CHOICE_TYPES:
            return plan.choice_numbers.get(entry.name, {}).get(str(answer))
        if item.type == "date":
            try:
                day = dt.date.fromisoformat(str(answer))
            except ValueError:
                return None
            return self._date(day, person)
        number = as_number(answer)
        if number is None:
            return None
        if self.request.age_bands and entry.name in AGE_ITEMS:
            return age_band(number)
        return _checked_number(number)

    # -- reading --------------------------------------------------------------

    def _participants(self) -> QuerySet:
        return included_participants(
            self.study, include_test_data=self.request.include_test_data
        )

    def _responses(self) -> QuerySet:
        """Submitted responses to the chosen instruments at the chosen timepoints."""
        pairs = Q(pk__in=[])
        for timepoint in self._timepoints:
            ids = [plan.id for plan in self._plans_at[timepoint.pk]]
            pairs |= Q(visit__timepoint_id=timepoint.pk, instrument_id__in=ids)
        return Response.objects.filter(pairs, status=ResponseStatus.SUBMITTED)

    def _participant_order(self) -> list[tuple[int, str]]:
        """(id, label) of each participant, in label order; the label (the
        export pseudonym or the study ID) is kept, as a pseudonym costs an HMAC."""
        key = export_pseudonym if self.request.pseudonym else str
        ids = self._participants().values_list("pk", "code").iterator(chunk_size=5000)
        return [
            (pk, label) for label, pk in sorted((key(code), pk) for pk, code in ids)
        ]

    def _contexts(self) -> Iterator[_Context]:
        order = self._participant_order()
        timepoint_ids = [tp.pk for tp in self._timepoints]
        for start in range(0, len(order), PARTICIPANT_BATCH):
            labels = dict(order[start : start + PARTICIPANT_BATCH])
            pks = list(labels)
            people = {
                pk: _Person(
                    label=labels[pk],
                    site=site,
                    status=status,
                    enrolled_on=enrolled_on,
                    offset=date_offset(code) if self._shifted else 0,
                )
                for pk, code, site, status, enrolled_on in Participant.objects.filter(
                    pk__in=pks
                ).values_list("pk", "code", "site__code", "status", "enrolled_on")
            }
            visits: dict[int, dict] = defaultdict(dict)
            visit_of: dict[int, tuple[int, int]] = {}
            for visit_id, participant_id, tp_id, status, completed_at, state in (
                followup.with_states(
                    Visit.objects.filter(
                        participant_id__in=pks, timepoint_id__in=timepoint_ids
                    ),
                    today=self.today,
                )
                .order_by()
                .values_list(
                    "pk",
                    "participant_id",
                    "timepoint_id",
                    "status",
                    "completed_at",
                    followup.STATE_FIELD,
                )
            ):
                visits[participant_id][tp_id] = (status, completed_at, state)
                visit_of[visit_id] = (participant_id, tp_id)
            views: dict[int, dict] = defaultdict(dict)
            # By visit, which the index on visit_id finds without a scan; the
            # JSON not needed is not read, as decoding it is a large share of
            # the time.
            responses = (
                Response.objects.filter(
                    visit_id__in=visit_of,
                    instrument_id__in=self._plans,
                    status=ResponseStatus.SUBMITTED,
                )
                .order_by()
                .annotate(
                    given=F("answers") if self.request.items else NO_JSON,
                    scored=F("scores") if self.request.scores else NO_JSON,
                )
                .values_list(
                    "visit_id",
                    "instrument_id",
                    "instrument_version_id",
                    "given",
                    "scored",
                    "submitted_at",
                )
                .iterator(chunk_size=2000)
            )
            for visit_id, instrument_id, version_pk, *rest in responses:
                participant_id, tp_id = visit_of[visit_id]
                if (tp_id, instrument_id) in self._linked:
                    views[participant_id][tp_id, instrument_id] = _View(
                        self._plans[instrument_id], version_pk, *rest
                    )
            for pk in pks:
                if pk in people:
                    yield _Context(people[pk], visits[pk], views[pk])

    def rows(self) -> Iterator[tuple]:
        """Each row's values in the order of ``variables``.

        Numbers are int or float (missing-value codes are negative ints),
        strings str, dates datetime.date, and None where there is nothing
        (a date with no value, or a value that could not be read).
        """
        if self.request.layout == "items":
            yield from self._item_rows()
            return
        getters = self._getters
        for ctx in self._contexts():
            if self.request.layout == "wide":
                yield tuple(getter(ctx) for getter in getters)
                continue
            for timepoint in self._timepoints:
                if timepoint.pk in ctx.visits:
                    ctx.timepoint_id = timepoint.pk
                    yield tuple(getter(ctx) for getter in getters)

    def _item_rows(self) -> Iterator[tuple]:
        items, scores, shifted = self.request.items, self.request.scores, self._shifted
        tail = (None,) if any(v.name == "value_date" for v in self.variables) else ()
        for ctx in self._contexts():
            person = ctx.person
            for timepoint in self._timepoints:
                for plan in self._plans_at[timepoint.pk]:
                    view = ctx.views.get((timepoint.pk, plan.id))
                    if view is None:
                        continue
                    when = (
                        self._date(timezone.localtime(view.submitted_at).date(), person)
                        if view.submitted_at
                        else None
                    )
                    head = (
                        person.label,
                        person.site,
                        timepoint.code,
                        when,
                        plan.slug,
                        view.number,
                    )
                    if items:
                        answers = view.answers
                        for name, item, entries in plan.item_rows(view.version_pk):
                            answer = answers.get(name)
                            if _blank(answer):
                                continue
                            if item.type == "checkbox":
                                ticked = _ticked(answer)
                                for entry in entries:
                                    value = int(entry.choice in ticked)
                                    yield (
                                        *head,
                                        entry.suffix,
                                        "item",
                                        value,
                                        CHECKBOX_VALUES[value],
                                        *tail,
                                    )
                                continue
                            entry = entries[0]
                            value = self._answer_value(
                                plan, entry, item, answer, person
                            )
                            if shifted and item.type == "date":
                                yield (*head, entry.suffix, "item", None, None, value)
                            else:
                                label = (
                                    entry.values.get(value) if entry.values else None
                                )
                                yield (*head, entry.suffix, "item", value, label, *tail)
                    if scores:
                        for entry in plan.score_entries:
                            stored = view.scores.get(entry.name)
                            if not isinstance(stored, dict):
                                continue
                            number = as_number(stored.get("value"))
                            if number is None:
                                continue
                            yield (
                                *head,
                                entry.suffix,
                                "score",
                                _checked_number(number),
                                None,
                                *tail,
                            )

    def count(self) -> int:
        """How many rows ``rows()`` will give, from aggregate queries alone.

        Counted once per export: an Excel build asks twice (progress, row
        limit), and in the items layout a count reads every response.
        """
        if self._count is None:
            self._count = self._row_count()
        return self._count

    def _row_count(self) -> int:
        if self.request.layout == "wide":
            return self._participants().count()
        if self.request.layout == "long":
            return Visit.objects.filter(
                participant__in=self._participants(),
                timepoint_id__in=[tp.pk for tp in self._timepoints],
            ).count()
        return self._item_count()

    def _item_count(self) -> int:
        if not self._timepoints:
            return 0
        responses = (
            self._responses()
            .filter(visit__participant__in=self._participants())
            .order_by()
        )
        plans_by_version = {
            version_pk: self._plans[instrument_id]
            for instrument_id, version_pk in responses.values_list(
                "instrument_id", "instrument_version_id"
            ).distinct()
        }
        # Rows per answered key: one per item, one per option of a tick box.
        item_weights = {
            version_pk: {
                name: len(entries) for name, _, entries in plan.item_rows(version_pk)
            }
            for version_pk, plan in plans_by_version.items()
        }
        score_names = {
            version_pk: frozenset(entry.name for entry in plan.score_entries)
            for version_pk, plan in plans_by_version.items()
        }
        total = 0
        if connection.vendor == "postgresql":
            if self.request.items:
                for version_pk, key, n in self._key_counts(responses, "answers"):
                    total += item_weights[version_pk].get(key, 0) * n
            if self.request.scores:
                for version_pk, key, n in self._key_counts(responses, "scores"):
                    total += n if key in score_names[version_pk] else 0
            return total
        # Other databases (the SQLite demo): the same sums, response by response.
        for version_pk, answers, stored in responses.values_list(
            "instrument_version_id", "answers", "scores"
        ).iterator(chunk_size=2000):
            if self.request.items:
                weights = item_weights[version_pk]
                total += sum(
                    weights.get(key, 0)
                    for key, answer in (answers or {}).items()
                    if not _blank(answer)
                )
            if self.request.scores:
                total += sum(
                    1
                    for key, result in (stored or {}).items()
                    if key in score_names[version_pk]
                    and isinstance(result, dict)
                    and as_number(result.get("value")) is not None
                )
        return total

    @staticmethod
    def _key_counts(responses: QuerySet, column: str) -> list[tuple[int, str, int]]:
        """Per version and JSON key, how many responses have a value there."""
        subquery, params = responses.values("pk").query.sql_with_params()
        table = Response._meta.db_table
        if column == "answers":
            present = "entry.value NOT IN ('null'::jsonb, '\"\"'::jsonb, '[]'::jsonb)"
        else:
            present = "jsonb_typeof(entry.value -> 'value') = 'number'"
        sql = (
            f"SELECT response.instrument_version_id, entry.key, count(*) "
            f"FROM {table} AS response "
            f"CROSS JOIN LATERAL jsonb_each(response.{column}) AS entry "
            f"WHERE response.id IN ({subquery}) AND {present} "
            f"GROUP BY 1, 2"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall()


def _ticked(answer: Any) -> set[str]:
    values = answer if isinstance(answer, list | tuple) else [answer]
    return {str(value) for value in values}


def check_identifier(study: Study, request: ExportRequest) -> None:
    """Study IDs leave only studies that allow them; ValueError otherwise.

    Every export (the download page, the queued build, ``export_dataset``)
    passes through ``prepare``, which asks this.
    """
    if not request.pseudonym and not study.study_ids_in_downloads:
        raise ValueError(
            f"{study.short_name}'s downloads identify participants by export "
            "pseudonym only; an administrator can allow study IDs in the study's "
            "settings."
        )


def prepare(
    study: Study, request: ExportRequest, *, today: dt.date | None = None
) -> Export:
    """The export ``request`` asks for, checked against the study's protocol;
    ``today`` (the local date by default) tells a missed visit from one still open.

    Raises ValueError naming an instrument or timepoint the study does not have,
    or for study IDs the study does not allow.
    Reads the protocol and the instrument versions in use; no participant data.
    """
    check_identifier(study, request)
    timepoints = list(study.timepoints.order_by("order"))
    unknown = sorted(set(request.timepoints) - {tp.code for tp in timepoints})
    if unknown:
        raise ValueError(
            f"The study has no timepoint {', '.join(unknown)}; it has "
            f"{', '.join(tp.code for tp in timepoints)}."
        )
    links = list(protocol_links(study))
    linked = {link.instrument.slug for link in links}
    unknown = sorted(set(request.instruments) - linked)
    if unknown:
        raise ValueError(
            f"The study collects no questionnaire {', '.join(unknown)}; it "
            f"collects {', '.join(sorted(linked))}."
        )
    links = [
        link
        for link in links
        if (not request.instruments or link.instrument.slug in request.instruments)
    ]
    chosen = {
        tp.pk
        for tp in timepoints
        if not request.timepoints or tp.code in request.timepoints
    }
    links = [link for link in links if link.timepoint_id in chosen]
    instruments = {link.instrument_id: link.instrument for link in links}
    # Versions some response used, and the latest, which names the variables.
    used = set(
        Response.objects.filter(
            visit__participant__study=study,
            instrument_id__in=instruments,
            status=ResponseStatus.SUBMITTED,
        )
        .values_list("instrument_version_id", flat=True)
        .distinct()
    )
    versions: dict[int, list[InstrumentVersion]] = defaultdict(list)
    latest: dict[int, int] = {}
    for version in InstrumentVersion.objects.filter(
        instrument_id__in=instruments
    ).order_by("instrument_id", "-number"):
        latest.setdefault(version.instrument_id, version.pk)
        if version.pk in used or latest[version.instrument_id] == version.pk:
            versions[version.instrument_id].append(version)
    plans = {
        pk: _Plan(
            pk,
            instrument.slug,
            instrument.title,
            versions[pk],
            age_bands=request.age_bands,
        )
        for pk, instrument in instruments.items()
        if versions[pk]
    }
    plans_at: dict[int, list[_Plan]] = defaultdict(list)
    for link in links:
        if link.instrument_id in plans:
            plans_at[link.timepoint_id].append(plans[link.instrument_id])
    return Export(
        study,
        request,
        timepoints=[tp for tp in timepoints if plans_at.get(tp.pk)],
        plans=plans,
        plans_at=dict(plans_at),
        characteristics=characteristics_instrument_slug(study),
        sites=dict(study.sites.order_by("code").values_list("code", "name")),
        today=today,
    )


# ---------------------------------------------------------------------------
# Disclosure check


@dataclass(frozen=True)
class SmallCell:
    site: str
    sex: str
    count: int


def small_cells(study: Study, *, threshold: int = 5) -> list[SmallCell]:
    """Site-by-sex cells with 1 to ``threshold`` - 1 participants.

    A small cell can single a person out (the one man at a clinic), so a
    download page warns before exporting. Sex comes from the enrolment form's
    ``sex`` item; participants without one count as "not recorded".
    """
    participants = included_participants(study)
    slug = characteristics_instrument_slug(study)
    sexes: dict[int, str] = {}
    if slug:
        labels: dict[int, dict[str, str]] = {}
        for version in InstrumentVersion.objects.filter(instrument__slug=slug):
            item = version.parsed.items_by_name.get(SEX_ITEM)
            labels[version.pk] = dict(item.choice_list) if item else {}
        for participant_id, version_pk, code in (
            Response.objects.filter(
                visit__participant__in=participants,
                instrument__slug=slug,
                status=ResponseStatus.SUBMITTED,
            )
            .order_by("visit__timepoint__order")
            .values_list(
                "visit__participant_id", "instrument_version_id", f"answers__{SEX_ITEM}"
            )
        ):
            if code not in (None, "") and participant_id not in sexes:
                sexes[participant_id] = labels.get(version_pk, {}).get(
                    str(code), str(code)
                )
    counts = Counter(
        (site, sexes.get(pk, SEX_NOT_RECORDED))
        for pk, site in participants.values_list("pk", "site__code")
    )
    return [
        SmallCell(site, sex, count)
        for (site, sex), count in sorted(counts.items())
        if 0 < count < threshold
    ]


# ---------------------------------------------------------------------------
# Files


@dataclass(frozen=True)
class WriteResult:
    rows: int
    sha256: str
    size: int


def write(
    export: Export,
    out: BinaryIO,
    *,
    progress: Callable[[int], None] | None = None,
) -> WriteResult:
    """Write ``export`` to ``out`` in the request's format.

    ``progress(rows_done)`` is called after every chunk of rows and at the end.
    CSV is written as it is read (constant memory); XLSX uses openpyxl's
    write-only mode (constant memory); SPSS and Stata need the whole table in a
    pandas DataFrame first, so their memory grows with the number of rows.
    Raises ExportError when the format cannot hold the export (Excel's row limit).
    """
    # Imported here: the writers use this module's names.
    from analysis import export_formats

    return export_formats.write(export, out, progress=progress)


def file_name(
    study: Study, request: ExportRequest, *, today: dt.date | None = None
) -> str:
    """``<study-slug>-<layout>-<date>.<format>``, e.g. for a download."""
    day = today or timezone.localdate()
    return f"{study.slug}-{request.layout}-{day.isoformat()}.{request.fmt}"
