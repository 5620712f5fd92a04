"""Visit windows: when each timepoint opens, is due and closes.

The one place that turns a timepoint and an anchor date into dates. Windows are
whole days in the study's calendar; a visit closes at the end of ``closes_on``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from participants.models import Participant, Timepoint, Visit, VisitStatus


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
        dates = window(timepoint, anchor)
        visits.append(
            Visit.objects.create(
                participant=participant,
                timepoint=timepoint,
                opens_on=dates.opens_on,
                due_on=dates.due_on,
                closes_on=dates.closes_on,
                status=dates.status_on(today),
            )
        )
    return visits
