"""Visit windows: when each timepoint opens, is due and closes.

The one place that turns a timepoint and an anchor date into dates. Windows are
whole days in the study's calendar; a visit closes at the end of ``closes_on``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from participants.models import (
    Participant,
    ParticipantStatus,
    Study,
    Timepoint,
    Visit,
    VisitStatus,
)


@dataclass(frozen=True)
class Window:
    opens_on: dt.date
    due_on: dt.date
    closes_on: dt.date

    def status_on(self, today: dt.date) -> str:
        if today < self.opens_on:
            return VisitStatus.SCHEDULED
        if today <= self.closes_on:
            return VisitStatus.OPEN
        return VisitStatus.MISSED


def window(timepoint: Timepoint, anchor: dt.date) -> Window:
    due = anchor + dt.timedelta(days=timepoint.offset_days)
    opens = max(due - dt.timedelta(days=timepoint.window_before_days), anchor)
    closes = due + dt.timedelta(days=timepoint.window_after_days)
    return Window(opens_on=opens, due_on=due, closes_on=closes)


def create_visits(
    participant: Participant, *, anchor: dt.date, today: dt.date
) -> list[Visit]:
    """One visit per timepoint of the study, each in the state its window gives."""
    visits = []
    for timepoint in participant.study.timepoints.order_by("order"):
        visit = new_visit(participant, timepoint, anchor=anchor, today=today)
        visit.save()
        visits.append(visit)
    return visits


def new_visit(
    participant: Participant, timepoint: Timepoint, *, anchor: dt.date, today: dt.date
) -> Visit:
    """An unsaved visit with the window and state its timepoint gives."""
    dates = window(timepoint, anchor)
    return Visit(
        participant=participant,
        timepoint=timepoint,
        opens_on=dates.opens_on,
        due_on=dates.due_on,
        closes_on=dates.closes_on,
        status=dates.status_on(today),
    )


@dataclass
class StatusChanges:
    opened: int = 0
    missed: int = 0
    completed: int = 0  # participants whose last visit is done


def update_statuses(today: dt.date, *, study: Study | None = None) -> StatusChanges:
    """Open visits whose window has come and mark missed those it has passed,
    as of ``today``, in every study or only in ``study``; mark completed the
    participants whose last visit is done.

    Idempotent: each visit moves only when its window says so. Opening a visit
    sets when its invitation is due.
    """
    from participants import followup, reminders

    changes = StatusChanges()
    visits = Visit.objects.all()
    if study is not None:
        visits = visits.filter(participant__study=study)
    active = visits.filter(participant__status=ParticipantStatus.ACTIVE)
    # A lost participant's windows still close; only active ones open new visits.
    following = visits.filter(
        participant__status__in=(ParticipantStatus.ACTIVE, ParticipantStatus.LOST)
    )
    changes.missed = following.filter(
        status__in=(VisitStatus.SCHEDULED, VisitStatus.OPEN), closes_on__lt=today
    ).update(status=VisitStatus.MISSED, next_message_at=None)
    opening = active.filter(
        status=VisitStatus.SCHEDULED, opens_on__lte=today, closes_on__gte=today
    ).select_related("participant__contact", "participant__study", "participant__site")
    for visit in opening:
        visit.status = VisitStatus.OPEN
        visit.save(update_fields=["status"])
        reminders.refresh(visit)
        changes.opened += 1
    in_study = None if study is None else Participant.objects.filter(study=study)
    changes.completed = followup.complete_finished_participants(in_study)
    return changes


def recompute_future_visits(timepoint: Timepoint, *, today: dt.date) -> int:
    """After a timepoint's days change, move the visits that have not happened yet."""
    from participants import reminders

    moved = 0
    visits = Visit.objects.filter(
        timepoint=timepoint, status=VisitStatus.SCHEDULED
    ).select_related("participant__contact", "participant__study", "participant__site")
    for visit in visits:
        dates = window(timepoint, visit.participant.enrolled_on)
        if (visit.opens_on, visit.due_on, visit.closes_on) == (
            dates.opens_on,
            dates.due_on,
            dates.closes_on,
        ):
            continue
        visit.opens_on, visit.due_on, visit.closes_on = (
            dates.opens_on,
            dates.due_on,
            dates.closes_on,
        )
        visit.status = dates.status_on(today)
        visit.save(update_fields=["opens_on", "due_on", "closes_on", "status"])
        reminders.refresh(visit)
        moved += 1
    return moved
