"""A participant's follow-up state at each timepoint: the one definition.

Every page that counts visits (the dashboard, the work list, CONSORT, the
attrition table), the analysis's completers and the exports' missing-value
codes read the state from here, so they always agree.

The state of a visit, in this order of precedence:

- completed: the visit was completed (whatever happened to the participant later);
- withdrawn: the participant withdrew (or the visit was ended by a withdrawal);
- lost: the participant is lost to follow-up;
- missed: the visit was marked missed, or its window closed before ``today``;
- not yet due: its window opens after ``today``;
- overdue: in its window and past its due date;
- open: in its window, on or before its due date.

Open and overdue together are the visits "in their window", which the work list
chases; with those not yet due they are "still to come". Missed, withdrawn and
lost are the ways follow-up ends without completion. Dates decide, not the
visit-status sweep, so a page shows the same whether or not the sweep has run
today; ``today`` is always an argument.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from django.db import models, transaction
from django.db.models import (
    Case,
    CharField,
    Count,
    Exists,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from simple_history.utils import bulk_update_with_history

from participants.models import (
    Participant,
    ParticipantStatus,
    Timepoint,
    Visit,
    VisitStatus,
)

STATE_FIELD = "followup_state"


class FollowUpState(models.TextChoices):
    NOT_YET_DUE = "not_yet_due", "Not yet due"
    OPEN = "open", "Open"
    OVERDUE = "overdue", "Overdue"
    COMPLETED = "completed", "Completed"
    MISSED = "missed", "Missed"
    WITHDRAWN = "withdrawn", "Withdrawn"
    LOST = "lost", "Lost to follow-up"


IN_WINDOW = (FollowUpState.OPEN, FollowUpState.OVERDUE)
STILL_TO_COME = (FollowUpState.NOT_YET_DUE, *IN_WINDOW)
ENDED_WITHOUT_COMPLETION = (
    FollowUpState.MISSED,
    FollowUpState.WITHDRAWN,
    FollowUpState.LOST,
)


def state_expression(*, today: dt.date, prefix: str = "") -> Case:
    """The follow-up state of a visit, as SQL.

    ``prefix`` reaches the visit from the queryset's model (``"visit__"`` from a
    response); empty on a Visit queryset.
    """

    def on(**lookups) -> Q:
        return Q(**{f"{prefix}{name}": value for name, value in lookups.items()})

    return Case(
        When(on(status=VisitStatus.COMPLETED), then=Value(FollowUpState.COMPLETED)),
        When(
            on(participant__status=ParticipantStatus.WITHDRAWN)
            | on(status=VisitStatus.WITHDRAWN),
            then=Value(FollowUpState.WITHDRAWN),
        ),
        When(
            on(participant__status=ParticipantStatus.LOST),
            then=Value(FollowUpState.LOST),
        ),
        When(
            on(status=VisitStatus.MISSED) | on(closes_on__lt=today),
            then=Value(FollowUpState.MISSED),
        ),
        When(on(opens_on__gt=today), then=Value(FollowUpState.NOT_YET_DUE)),
        When(on(due_on__lt=today), then=Value(FollowUpState.OVERDUE)),
        default=Value(FollowUpState.OPEN),
        output_field=CharField(),
    )


def with_states(visits: QuerySet[Visit], *, today: dt.date) -> QuerySet[Visit]:
    """The visits, each annotated with its state as ``followup_state``."""
    return visits.annotate(**{STATE_FIELD: state_expression(today=today)})


def state_at(
    timepoint: Timepoint, *, today: dt.date, participant: str = "pk"
) -> Subquery:
    """The state of a participant's visit at ``timepoint``, for annotating a
    queryset; ``participant`` names the participant's id on its model."""
    visits = Visit.objects.filter(
        participant_id=OuterRef(participant), timepoint=timepoint
    ).order_by()
    return Subquery(
        with_states(visits, today=today).values(STATE_FIELD)[:1],
        output_field=CharField(),
    )


def visit_state(visit: Visit, *, today: dt.date) -> FollowUpState:
    """The state of one visit, read as every page reads it."""
    state = (
        with_states(Visit.objects.filter(pk=visit.pk), today=today)
        .values_list(STATE_FIELD, flat=True)
        .get()
    )
    return FollowUpState(state)


def participant_states(
    participant: Participant, *, today: dt.date
) -> dict[str, FollowUpState]:
    """Timepoint code to the state of the participant's visit there, in order."""
    rows = (
        with_states(participant.visits.order_by("timepoint__order"), today=today)
        .values_list("timepoint__code", STATE_FIELD)
        .iterator()
    )
    return {code: FollowUpState(state) for code, state in rows}


def followup_timepoint(timepoints: Iterable[Timepoint]) -> Timepoint | None:
    """The last timepoint, which "completed follow-up" is about; None without
    a timepoint after the first."""
    ordered = sorted(timepoints, key=lambda timepoint: timepoint.order)
    return ordered[-1] if len(ordered) > 1 else None


def states_at(
    participants: QuerySet[Participant], timepoint: Timepoint, *, today: dt.date
) -> dict[str, FollowUpState]:
    """Study ID to the state at ``timepoint`` of each participant, in one query.

    A participant with no visit at the timepoint is left out.
    """
    rows = (
        participants.annotate(**{STATE_FIELD: state_at(timepoint, today=today)})
        .filter(**{f"{STATE_FIELD}__isnull": False})
        .values_list("code", STATE_FIELD)
        .iterator(chunk_size=5000)
    )
    return {code: FollowUpState(state) for code, state in rows}


def is_completer() -> Exists:
    """Whether a participant completed their study's last timepoint, for
    annotating a Participant queryset: the completers. It is the completed
    state at that timepoint, which no date changes."""
    last = (
        Timepoint.objects.filter(study=OuterRef(OuterRef("study_id")))
        .order_by("-order")
        .values("pk")[:1]
    )
    return Exists(
        Visit.objects.filter(
            participant=OuterRef("pk"),
            timepoint=Subquery(last),
            status=VisitStatus.COMPLETED,
        )
    )


# ---------------------------------------------------------------------------
# Counting


@dataclass(frozen=True)
class StateCounts:
    """How many visits are in each state; the states never overlap."""

    not_yet_due: int = 0
    open: int = 0
    overdue: int = 0
    completed: int = 0
    missed: int = 0
    withdrawn: int = 0
    lost: int = 0

    @classmethod
    def of(cls, counts: dict[str, int]) -> StateCounts:
        return cls(**{state: counts.get(state, 0) for state in FollowUpState.values})

    def __add__(self, other: StateCounts) -> StateCounts:
        return StateCounts(
            **{
                state: getattr(self, state) + getattr(other, state)
                for state in FollowUpState.values
            }
        )

    @property
    def total(self) -> int:
        return sum(getattr(self, state) for state in FollowUpState.values)

    @property
    def in_window(self) -> int:
        """Open or overdue: what the work list shows."""
        return self.open + self.overdue

    @property
    def still_to_come(self) -> int:
        return self.not_yet_due + self.in_window

    @property
    def ended_without_completion(self) -> int:
        return self.missed + self.withdrawn + self.lost


def count_states(
    visits: QuerySet[Visit], *, today: dt.date, by: tuple[str, ...] = ()
) -> dict[tuple, StateCounts]:
    """Visits by state, grouped by the fields ``by`` names, in one query.

    Keys are tuples of the grouping values (``()`` when ``by`` is empty).
    """
    rows = (
        with_states(visits.order_by(), today=today)
        .values(*by, STATE_FIELD)
        .annotate(n=Count("id"))
        .order_by()
    )
    grouped: dict[tuple, Counter] = {}
    for row in rows:
        key = tuple(row[name] for name in by)
        grouped.setdefault(key, Counter())[row[STATE_FIELD]] += row["n"]
    return {key: StateCounts.of(counts) for key, counts in grouped.items()}


def participant_counts_at(
    participants: QuerySet[Participant],
    timepoint: Timepoint | None,
    *,
    today: dt.date,
) -> StateCounts:
    """Participants by the state of their visit at ``timepoint``."""
    if timepoint is None:
        return StateCounts()
    visits = Visit.objects.filter(participant__in=participants, timepoint=timepoint)
    return count_states(visits, today=today).get((), StateCounts())


# ---------------------------------------------------------------------------
# Completing the study


def finished_participants(participants: QuerySet[Participant]) -> QuerySet:
    """Active participants whose last scheduled visit is completed and who have
    no visit left to come."""
    last_visit = (
        Visit.objects.filter(participant=OuterRef("pk"))
        .order_by("-timepoint__order")
        .values("status")[:1]
    )
    unfinished = Visit.objects.filter(
        participant=OuterRef("pk"),
        status__in=(VisitStatus.SCHEDULED, VisitStatus.OPEN),
    )
    return (
        participants.filter(status=ParticipantStatus.ACTIVE)
        .annotate(last_visit_status=Subquery(last_visit))
        .filter(last_visit_status=VisitStatus.COMPLETED)
        .exclude(Exists(unfinished))
    )


@transaction.atomic
def complete_finished_participants(
    participants: QuerySet[Participant] | None = None, *, user=None
) -> int:
    """Mark completed every active participant (of ``participants``, else all)
    whose last scheduled visit is completed; the number marked.

    Called wherever a visit is completed (a participant's submission, staff
    entry) and by the visit-status sweep, so a participant is never left
    "active" with nothing more to do.
    """
    chosen = Participant.objects.all() if participants is None else participants
    finished = list(finished_participants(chosen).select_for_update(of=("self",)))
    for participant in finished:
        participant.status = ParticipantStatus.COMPLETED
    if finished:
        bulk_update_with_history(
            finished,
            Participant,
            ["status"],
            default_user=user,
            default_change_reason="Completed: the last visit is done",
        )
    return len(finished)
