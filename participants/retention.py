"""Retention figures for the coordinator's dashboard.

Every function reads a constant number of queries however many participants
there are: counts are grouped and aggregated in the database, never looped over
participant by participant. The first timepoint (by order) is the baseline and
the last is the follow-up the retention rate is about. Whether a visit is open,
overdue, missed, lost and so on is ``participants.followup``'s to say.
"""

from __future__ import annotations

import datetime as dt
import io
import math
import re
import statistics
from dataclasses import dataclass, field

from django.db.models import (
    Avg,
    Case,
    CharField,
    Count,
    DateTimeField,
    F,
    FloatField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.fields.json import KT
from django.db.models.functions import Cast, Coalesce, TruncDate, TruncMonth
from django.utils import timezone

from instruments.models import Instrument, Response, ResponseStatus
from participants import followup, measures
from participants.followup import FollowUpState, StateCounts
from participants.models import (
    ContactAttempt,
    MessageKind,
    MessageStatus,
    OutboundMessage,
    Participant,
    ParticipantStatus,
    ScreeningRecord,
    Site,
    Study,
    Timepoint,
    Visit,
    VisitStatus,
)


@dataclass(frozen=True)
class Scope:
    """Which participants the figures are about: a study, its sites, a date range."""

    study: Study
    sites: tuple[Site, ...]
    enrolled_from: dt.date | None = None
    enrolled_to: dt.date | None = None

    def participant_filter(self, prefix: str = "") -> Q:
        """The scope as a filter on Participant, or on a model reaching it by prefix."""
        q = Q(
            **{
                f"{prefix}study": self.study,
                f"{prefix}site__in": [site.pk for site in self.sites],
            }
        )
        if self.enrolled_from:
            q &= Q(**{f"{prefix}enrolled_on__gte": self.enrolled_from})
        if self.enrolled_to:
            q &= Q(**{f"{prefix}enrolled_on__lte": self.enrolled_to})
        return q

    def participants(self) -> QuerySet[Participant]:
        return Participant.objects.filter(self.participant_filter())

    def visits(self) -> QuerySet[Visit]:
        return Visit.objects.filter(self.participant_filter("participant__"))

    def screenings(self) -> QuerySet[ScreeningRecord]:
        """Screenings of the scope's participants, and those not enrolled in range.

        A patient screened before the range and enrolled in it counts, so that
        the screened always add up to the excluded plus the enrolled.
        """
        not_enrolled = Q(
            study=self.study,
            site__in=[site.pk for site in self.sites],
            participant__isnull=True,
        )
        if self.enrolled_from:
            not_enrolled &= Q(screened_on__gte=self.enrolled_from)
        if self.enrolled_to:
            not_enrolled &= Q(screened_on__lte=self.enrolled_to)
        return ScreeningRecord.objects.filter(
            Q(participant__in=self.participants()) | not_enrolled
        )


def percent(share: float | None) -> str:
    return "–" if share is None else f"{100 * share:.0f}%"


def baseline_and_followup(
    timepoints: list[Timepoint],
) -> tuple[Timepoint | None, Timepoint | None]:
    """The first timepoint and the last one, when there are at least two."""
    ordered = sorted(timepoints, key=lambda timepoint: timepoint.order)
    if len(ordered) < 2:
        return (ordered[0] if ordered else None), None
    return ordered[0], ordered[-1]


# ---------------------------------------------------------------------------
# Visits by site and timepoint


@dataclass(frozen=True)
class VisitCounts:
    """One row of the dashboard's visit tables: visits by follow-up state.

    ``open`` counts every visit in its window, ``overdue`` those of them past
    their due date (as the work list does); the other columns do not overlap,
    so not yet due, open, completed, missed, withdrawn and lost add up to
    everyone with a visit at the timepoint.
    """

    site: Site | None  # None: all sites together
    timepoint: Timepoint
    states: StateCounts = field(default_factory=StateCounts)

    @property
    def not_yet_due(self) -> int:
        return self.states.not_yet_due

    @property
    def open(self) -> int:
        return self.states.in_window

    @property
    def overdue(self) -> int:
        return self.states.overdue

    @property
    def completed(self) -> int:
        return self.states.completed

    @property
    def missed(self) -> int:
        return self.states.missed

    @property
    def withdrawn(self) -> int:
        return self.states.withdrawn

    @property
    def lost(self) -> int:
        return self.states.lost

    @property
    def total(self) -> int:
        return self.states.total

    @property
    def due(self) -> int:
        """Visits whose window has opened."""
        return self.states.total - self.states.not_yet_due

    @property
    def completion_rate(self) -> float | None:
        return self.completed / self.due if self.due else None


def visit_counts(
    scope: Scope, *, timepoints: list[Timepoint], today: dt.date
) -> list[VisitCounts]:
    """Visits per site and timepoint by follow-up state, then one total row per
    timepoint; one query."""
    found = followup.count_states(
        scope.visits(), today=today, by=("participant__site_id", "timepoint_id")
    )
    table = []
    for timepoint in sorted(timepoints, key=lambda t: t.order):
        total = StateCounts()
        for site in scope.sites:
            states = found.get((site.pk, timepoint.pk), StateCounts())
            table.append(VisitCounts(site=site, timepoint=timepoint, states=states))
            total += states
        table.append(VisitCounts(site=None, timepoint=timepoint, states=total))
    return table


@dataclass(frozen=True)
class StatusCounts:
    site: Site | None  # None: all sites together
    enrolled: int = 0
    active: int = 0
    completed: int = 0
    withdrawn: int = 0
    lost: int = 0


def participant_status_counts(scope: Scope) -> list[StatusCounts]:
    """Participants per site by status, then the total."""
    rows = (
        scope.participants()
        .values("site_id")
        .annotate(
            enrolled=Count("id"),
            active=Count("id", filter=Q(status=ParticipantStatus.ACTIVE)),
            completed=Count("id", filter=Q(status=ParticipantStatus.COMPLETED)),
            withdrawn=Count("id", filter=Q(status=ParticipantStatus.WITHDRAWN)),
            lost=Count("id", filter=Q(status=ParticipantStatus.LOST)),
        )
        .order_by()
    )
    found = {row.pop("site_id"): row for row in rows}
    table = [StatusCounts(site=site, **found.get(site.pk, {})) for site in scope.sites]
    names = ("enrolled", "active", "completed", "withdrawn", "lost")
    total = {name: sum(getattr(row, name) for row in table) for name in names}
    return [*table, StatusCounts(site=None, **total)]


# ---------------------------------------------------------------------------
# Retention by enrolment month, and recruitment against target


@dataclass(frozen=True)
class RetentionRow:
    month: dt.date | None  # None: every month together
    enrolled: int = 0
    baseline_completed: int = 0
    followup_completed: int = 0  # of those who completed baseline
    followup_to_come: int = 0  # of those, follow-up still to come

    @property
    def rate(self) -> float | None:
        """Follow-up completed over baseline completed."""
        if not self.baseline_completed:
            return None
        return self.followup_completed / self.baseline_completed

    @property
    def rate_of_ended(self) -> float | None:
        """The same, leaving out those whose follow-up is still to come."""
        ended = self.baseline_completed - self.followup_to_come
        return self.followup_completed / ended if ended else None

    @property
    def in_progress(self) -> bool:
        return self.followup_to_come > 0

    @property
    def rate_text(self) -> str:
        return percent(self.rate)

    @property
    def rate_of_ended_text(self) -> str:
        return percent(self.rate_of_ended)


def retention_by_month(
    scope: Scope, *, timepoints: list[Timepoint], today: dt.date | None = None
) -> tuple[list[RetentionRow], RetentionRow]:
    """Rows per enrolment month (months without enrolment included) and the total."""
    today = today or timezone.localdate()
    baseline, last = baseline_and_followup(timepoints)
    participants = scope.participants().annotate(month=TruncMonth("enrolled_on"))
    if baseline is not None:
        participants = participants.annotate(
            baseline_state=followup.state_at(baseline, today=today)
        )
        baseline_done = Q(baseline_state=FollowUpState.COMPLETED)
    else:
        baseline_done = Q(pk__in=[])
    if last is not None:
        participants = participants.annotate(
            last_state=followup.state_at(last, today=today)
        )
        followup_done = Q(last_state=FollowUpState.COMPLETED)
        followup_ahead = Q(last_state__in=followup.STILL_TO_COME)
    else:
        followup_done = followup_ahead = Q(pk__in=[])
    rows = (
        participants.values("month")
        .annotate(
            enrolled=Count("id"),
            baseline_completed=Count("id", filter=baseline_done),
            followup_completed=Count("id", filter=baseline_done & followup_done),
            followup_to_come=Count("id", filter=baseline_done & followup_ahead),
        )
        .order_by("month")
    )
    found = {_as_date(row.pop("month")): row for row in rows}
    months = _months_between(min(found), max(found)) if found else []
    table = [RetentionRow(month=month, **found.get(month, {})) for month in months]
    names = ("enrolled", "baseline_completed", "followup_completed", "followup_to_come")
    total = RetentionRow(
        month=None, **{name: sum(getattr(row, name) for row in table) for name in names}
    )
    return table, total


def _as_date(value) -> dt.date:
    return value.date() if isinstance(value, dt.datetime) else value


def _months_between(first: dt.date, last: dt.date) -> list[dt.date]:
    months, month = [], first.replace(day=1)
    while month <= last:
        months.append(month)
        month = (month + dt.timedelta(days=32)).replace(day=1)
    return months


@dataclass(frozen=True)
class RecruitmentMonth:
    month: dt.date
    enrolled: int
    cumulative: int


@dataclass(frozen=True)
class Recruitment:
    months: list[RecruitmentMonth]
    target: int

    @property
    def enrolled(self) -> int:
        return self.months[-1].cumulative if self.months else 0

    @property
    def share_of_target(self) -> float | None:
        return self.enrolled / self.target if self.target else None

    @property
    def share_of_target_text(self) -> str:
        return percent(self.share_of_target)

    @property
    def recent_rate(self) -> float | None:
        """Mean enrolments a month over the last three months with any data."""
        recent = self.months[-3:]
        return sum(m.enrolled for m in recent) / len(recent) if recent else None

    @property
    def months_to_target(self) -> int | None:
        """Months still needed at the recent rate; None if unknown or never."""
        left = self.target - self.enrolled
        if left <= 0:
            return 0
        rate = self.recent_rate
        if not rate:
            return None
        return math.ceil(left / rate)


def recruitment(rows: list[RetentionRow], *, target: int) -> Recruitment:
    """Cumulative enrolment by month; built from the retention rows, no new query."""
    months, running = [], 0
    for row in rows:
        running += row.enrolled
        months.append(RecruitmentMonth(row.month, row.enrolled, running))
    return Recruitment(months=months, target=target)


# ---------------------------------------------------------------------------
# Reminders: what came last before a visit was completed


PHONE = "contact"
NO_PROMPT = "none"
PROMPT_LABELS = {
    **dict(MessageKind.choices),
    PHONE: "Call or contact by a coordinator",
    NO_PROMPT: "Nothing sent",
}


@dataclass(frozen=True)
class PromptRow:
    prompt: str
    label: str
    last_before_completion: int = 0  # completed visits this was the last prompt of
    visits_prompted: int = 0  # visits that received it
    completed_after: int = 0  # of those, completed after it

    @property
    def completion_rate(self) -> float | None:
        if not self.visits_prompted:
            return None
        return self.completed_after / self.visits_prompted

    @property
    def completion_text(self) -> str:
        return percent(self.completion_rate)


@dataclass(frozen=True)
class ReminderEffect:
    rows: list[PromptRow]
    completed_visits: int
    median_days_invitation_to_completion: float | None
    completed_after_invitation: int


def reminder_effect(scope: Scope) -> ReminderEffect:
    """For completed visits, the last message or call before completion; and the
    share of visits completed after each kind of prompt.

    A coordinator's contact attempt counts as a prompt when it was made after
    the last message sent before completion.
    """
    visits = scope.visits()
    completed = visits.filter(status=VisitStatus.COMPLETED)
    sent_before = OutboundMessage.objects.filter(
        visit=OuterRef("pk"),
        status=MessageStatus.SENT,
        sent_at__lt=OuterRef("completed_at"),
    ).order_by("-sent_at", "-pk")
    call_before = ContactAttempt.objects.filter(
        visit=OuterRef("pk"), made_at__lt=OuterRef("completed_at")
    ).order_by("-made_at")
    last_prompts = (
        completed.annotate(
            message_kind=Subquery(sent_before.values("kind")[:1]),
            message_at=Subquery(sent_before.values("sent_at")[:1]),
            call_at=Subquery(call_before.values("made_at")[:1]),
        )
        .annotate(
            prompt=Case(
                When(
                    Q(call_at__isnull=False)
                    & (Q(message_at__isnull=True) | Q(call_at__gt=F("message_at"))),
                    then=Value(PHONE),
                ),
                default=Coalesce("message_kind", Value(NO_PROMPT)),
                output_field=CharField(),
            )
        )
        .values("prompt")
        .annotate(n=Count("id"))
        .order_by()
    )
    last = {row["prompt"]: row["n"] for row in last_prompts}

    in_scope = scope.participant_filter("visit__participant__")
    completed_after = Q(
        visit__status=VisitStatus.COMPLETED, visit__completed_at__gt=F("sent_at")
    )
    messages = (
        OutboundMessage.objects.filter(in_scope, status=MessageStatus.SENT)
        .values("kind")
        .annotate(
            prompted=Count("visit", distinct=True),
            completed_after=Count("visit", distinct=True, filter=completed_after),
        )
        .order_by()
    )
    by_kind = {row["kind"]: row for row in messages}
    calls = ContactAttempt.objects.filter(in_scope).aggregate(
        prompted=Count("visit", distinct=True),
        completed_after=Count(
            "visit",
            distinct=True,
            filter=Q(
                visit__status=VisitStatus.COMPLETED,
                visit__completed_at__gt=F("made_at"),
            ),
        ),
    )
    rows = []
    for prompt in [*MessageKind.values, PHONE, NO_PROMPT]:
        counts = calls if prompt == PHONE else by_kind.get(prompt, {})
        rows.append(
            PromptRow(
                prompt=prompt,
                label=PROMPT_LABELS[prompt],
                last_before_completion=last.get(prompt, 0),
                visits_prompted=counts.get("prompted", 0),
                completed_after=counts.get("completed_after", 0),
            )
        )
    median, n = _median_days_from_invitation(completed)
    return ReminderEffect(
        rows=rows,
        completed_visits=sum(last.values()),
        median_days_invitation_to_completion=median,
        completed_after_invitation=n,
    )


def _median_days_from_invitation(
    completed: QuerySet[Visit],
) -> tuple[float | None, int]:
    """Median whole days from the first invitation sent to completion.

    Grouped by the two calendar days in the database, so that only a histogram
    crosses the wire however many visits there are.
    """
    first_invitation = (
        OutboundMessage.objects.filter(
            visit=OuterRef("pk"), kind=MessageKind.INVITE, status=MessageStatus.SENT
        )
        .order_by("sent_at")
        .values("sent_at")[:1]
    )
    pairs = (
        completed.annotate(
            invited_at=Subquery(first_invitation, output_field=DateTimeField())
        )
        .filter(invited_at__isnull=False, invited_at__lte=F("completed_at"))
        .annotate(
            invited_on=TruncDate("invited_at"), completed_on=TruncDate("completed_at")
        )
        .values("invited_on", "completed_on")
        .annotate(n=Count("id"))
        .order_by()
    )
    days = []
    for row in pairs:
        days.extend([(row["completed_on"] - row["invited_on"]).days] * row["n"])
    if not days:
        return None, 0
    return float(statistics.median(days)), len(days)


# ---------------------------------------------------------------------------
# Attrition: who completed follow-up, compared at baseline


COMPLETERS = "completed"
NON_COMPLETERS = "not_completed"


@dataclass(frozen=True)
class Summary:
    n: int = 0
    mean: float | None = None
    sd: float | None = None


@dataclass(frozen=True)
class AttritionRow:
    label: str
    completers: Summary
    non_completers: Summary


@dataclass(frozen=True)
class Attrition:
    completers: int
    non_completers: int
    rows: list[AttritionRow] = field(default_factory=list)
    # (label, completers n, non-completers n) for each sex recorded
    sex: list[tuple[str, int, int]] = field(default_factory=list)


def attrition(
    scope: Scope,
    *,
    timepoints: list[Timepoint],
    today: dt.date | None = None,
    people: StateCounts | None = None,
) -> Attrition:
    """Baseline characteristics and scores of follow-up completers and the rest.

    Non-completers are those whose follow-up has ended without completion:
    missed, withdrawn, or lost to follow-up (``followup.ENDED_WITHOUT_COMPLETION``).
    Those still to come are left out. A score or answer left empty is left out
    of its row, never counted as a value. ``people``: the scope's participants
    by state at the last timepoint, when the caller has counted them already
    (``ConsortCounts.followup``).
    """
    today = today or timezone.localdate()
    baseline, last = baseline_and_followup(timepoints)
    if baseline is None or last is None:
        return Attrition(completers=0, non_completers=0)
    if people is None:
        people = followup.participant_counts_at(scope.participants(), last, today=today)
    responses = (
        Response.objects.filter(
            scope.participant_filter("visit__participant__"),
            visit__timepoint=baseline,
            status=ResponseStatus.SUBMITTED,
        )
        .annotate(
            last_state=followup.state_at(
                last, today=today, participant="visit__participant_id"
            )
        )
        .annotate(
            group=Case(
                When(last_state=FollowUpState.COMPLETED, then=Value(COMPLETERS)),
                When(
                    last_state__in=followup.ENDED_WITHOUT_COMPLETION,
                    then=Value(NON_COMPLETERS),
                ),
                default=Value(""),
                output_field=CharField(),
            )
        )
        .exclude(group="")
    )
    chosen = measures.at_first_timepoint(scope.study, first=baseline)
    key_measures = chosen.key_measures
    aggregates = {}
    for measure in key_measures:
        value = Case(
            When(
                Q(instrument__slug=measure.instrument) & _has_value(measure.path),
                then=Cast(KT(measure.path), FloatField()),
            ),
            output_field=FloatField(),
        )
        aggregates[f"{measure.name}__n"] = Count(value)
        aggregates[f"{measure.name}__mean"] = Avg(value)
        # Sum of squares, not StdDev: SQLite's STDDEV_SAMP fails below two values.
        aggregates[f"{measure.name}__squares"] = Sum(value * value)
    by_group = {
        row["group"]: row
        for row in responses.values("group").annotate(**aggregates).order_by()
    }
    rows = []
    for measure in key_measures:
        summaries = []
        for group in (COMPLETERS, NON_COMPLETERS):
            row = by_group.get(group, {})
            n = row.get(f"{measure.name}__n", 0)
            mean = row.get(f"{measure.name}__mean")
            sd = None
            if n > 1:
                squares = row[f"{measure.name}__squares"]
                sd = math.sqrt(max(squares - n * mean * mean, 0) / (n - 1))
            summaries.append(Summary(n=n, mean=mean, sd=sd))
        rows.append(AttritionRow(measure.label, *summaries))
    sex_measure = chosen.characteristics.get("sex")
    sexes = (
        responses.filter(instrument__slug=sex_measure.instrument)
        .values("group", sex=KT(sex_measure.path))
        .annotate(n=Count("id"))
        .order_by()
        if sex_measure
        else []
    )
    by_sex: dict[str, dict[str, int]] = {}
    for row in sexes:
        by_sex.setdefault(row["sex"] or "", {})[row["group"]] = row["n"]
    labels = _choice_labels(sex_measure) if sex_measure else {}
    sex = [
        (
            labels.get(code, code or "Not recorded"),
            counts.get(COMPLETERS, 0),
            counts.get(NON_COMPLETERS, 0),
        )
        for code, counts in sorted(by_sex.items())
    ]
    return Attrition(
        completers=people.completed,
        non_completers=people.ended_without_completion,
        rows=rows,
        sex=sex,
    )


def _has_value(path: str) -> Q:
    """The JSON key holds a value: present and not null. SQLite casts a JSON
    null to 0, so a score that could not be computed must be left out first."""
    return Q(**{f"{path}__isnull": False}) & ~Q(**{path: None})


def _choice_labels(measure: measures.KeyMeasure) -> dict[str, str]:
    """Code to label for a choice item, from the latest instrument version."""
    instrument = Instrument.objects.filter(slug=measure.instrument).first()
    version = instrument.latest_version() if instrument else None
    if version is None:
        return {}
    item = version.parsed.items_by_name.get(measure.path.split("__")[-1])
    if item is None:
        return {}
    return {str(code): str(label) for code, label in item.choice_list}


# ---------------------------------------------------------------------------
# Charts: matplotlib figures as SVG that a page can inline


BRAND = "#1f4e79"
MUTED = "#9bb3c9"
TARGET = "#b35900"


def chart_rc(**overrides) -> dict:
    """The matplotlib settings every chart in the project is drawn and saved with.

    Text is drawn as plain text: with mathtext on, a ``$`` in a site name, a
    label or a reason would be parsed as a formula, and a malformed one would
    fail the page for everyone.
    """
    return {
        "text.parse_math": False,
        "svg.fonttype": "none",  # real text: selectable, searchable, readable
        "svg.hashsalt": None,
        "font.family": "sans-serif",
        "font.sans-serif": ["DejaVu Sans", "Arial", "Helvetica"],
        "font.size": 11,
        "axes.spines.top": False,
        "axes.spines.right": False,
        **overrides,
    }


def figure_svg(figure, *, title: str, description: str, rc: dict | None = None) -> str:
    """An <svg> element with a title and description, and no style attributes.

    Matplotlib writes styles as inline CSS; they become presentation attributes,
    so the page needs no inline styles (and a strict CSP stays possible).
    ``rc`` is what the figure was drawn with (``chart_rc()`` unless given):
    text laid out while saving follows it too.
    """
    from matplotlib import rc_context

    buffer = io.StringIO()
    with rc_context(rc or chart_rc()):
        figure.savefig(buffer, format="svg", metadata={"Date": None})
    svg = buffer.getvalue()
    svg = svg[svg.index("<svg") :]
    svg = re.sub(r"<metadata>.*?</metadata>\s*", "", svg, flags=re.S)
    svg = re.sub(r"<style[^>]*>.*?</style>\s*", "", svg, flags=re.S)
    svg = re.sub(r' style="([^"]*)"', _style_to_attributes, svg)
    slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")
    svg = re.sub(
        r'<svg ([^>]*?)width="[^"]*" height="[^"]*" ',
        f'<svg \\1role="img" aria-labelledby="{slug}-title {slug}-desc" '
        'class="chart" stroke-linejoin="round" stroke-linecap="butt" ',
        svg,
        count=1,
    )
    heading = (
        f'<title id="{slug}-title">{_escape(title)}</title>'
        f'<desc id="{slug}-desc">{_escape(description)}</desc>'
    )
    return re.sub(r"(<svg[^>]*>)", lambda m: m.group(1) + heading, svg, count=1)


def figure_png(figure, *, rc: dict | None = None, **savefig) -> bytes:
    """The figure as PNG bytes, saved with the settings it was drawn with."""
    from matplotlib import rc_context

    buffer = io.BytesIO()
    with rc_context(rc or chart_rc()):
        figure.savefig(buffer, format="png", **savefig)
    return buffer.getvalue()


def _style_to_attributes(match: re.Match) -> str:
    attributes = []
    for declaration in match.group(1).split(";"):
        name, _, value = declaration.partition(":")
        if name.strip():
            value = value.strip().replace('"', "'")
            attributes.append(f'{name.strip()}="{value}"')
    return " " + " ".join(attributes)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def retention_chart(rows: list[RetentionRow]) -> str:
    from matplotlib import rc_context
    from matplotlib.figure import Figure

    with rc_context(chart_rc()):
        figure = Figure(figsize=(6, 3.6), layout="constrained")
        axes = figure.add_subplot()
        labels = [row.month.strftime("%b %Y") for row in rows]
        values = [100 * (row.rate or 0) for row in rows]
        colours = [MUTED if row.in_progress else BRAND for row in rows]
        positions = range(len(rows))
        bars = axes.bar(positions, values, color=colours)
        axes.set_xticks(positions, labels)
        for bar, row in zip(bars, rows, strict=True):
            text = "–" if row.rate is None else f"{100 * row.rate:.0f}%"
            axes.annotate(
                text,
                (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                xytext=(0, 3),
                textcoords="offset points",
                ha="center",
            )
        axes.set_ylim(0, 110)
        axes.set_ylabel("Follow-up completed (%)")
        axes.set_xlabel("Month of enrolment (pale: follow-up to come)")
        axes.tick_params(axis="x", labelrotation=0 if len(rows) < 6 else 45)
    described = "; ".join(
        f"{row.month:%B %Y}: "
        + ("no baseline completed" if row.rate is None else f"{100 * row.rate:.0f}%")
        + (" (follow-up still to come)" if row.in_progress else "")
        for row in rows
    )
    return figure_svg(
        figure,
        title="Retention by month of enrolment",
        description=f"Follow-up completed as a share of baseline completed. "
        f"{described or 'No participants.'}",
    )


def recruitment_chart(data: Recruitment) -> str:
    from matplotlib import rc_context
    from matplotlib.figure import Figure

    with rc_context(chart_rc()):
        figure = Figure(figsize=(6, 3.6), layout="constrained")
        axes = figure.add_subplot()
        labels = [month.month.strftime("%b %Y") for month in data.months]
        positions = range(len(labels))
        axes.bar(
            positions, [m.enrolled for m in data.months], color=MUTED, label="Month"
        )
        axes.set_xticks(positions, labels)
        axes.plot(
            positions,
            [m.cumulative for m in data.months],
            color=BRAND,
            marker="o",
            label="Cumulative",
        )
        if data.target:
            axes.axhline(
                data.target, color=TARGET, linestyle="--", label=f"Target {data.target}"
            )
        axes.set_ylim(0, max([data.target, data.enrolled, 1]) * 1.1)
        axes.set_ylabel("Participants enrolled")
        axes.legend(loc="upper left", frameon=False)
        axes.tick_params(axis="x", labelrotation=0 if len(labels) < 6 else 45)
    described = "; ".join(
        f"{m.month:%B %Y}: {m.enrolled} (total {m.cumulative})" for m in data.months
    )
    return figure_svg(
        figure,
        title="Recruitment against target",
        description=f"{data.enrolled} enrolled of a target of {data.target}. "
        f"{described}",
    )


__all__ = [
    "Attrition",
    "Recruitment",
    "RetentionRow",
    "Scope",
    "VisitCounts",
    "attrition",
    "participant_status_counts",
    "recruitment",
    "recruitment_chart",
    "reminder_effect",
    "retention_by_month",
    "retention_chart",
    "visit_counts",
]
