"""Visit windows from a timepoint and an anchor date (no database)."""

import datetime as dt

from participants.models import Timepoint, VisitStatus
from participants.schedule import Window, window

ANCHOR = dt.date(2025, 1, 10)


def days(n: int) -> dt.date:
    return ANCHOR + dt.timedelta(days=n)


def test_a_follow_up_window_spans_its_days_before_and_after():
    followup = Timepoint(offset_days=90, window_before_days=14, window_after_days=14)
    assert window(followup, ANCHOR) == Window(days(76), days(90), days(104))


def test_a_window_never_opens_before_the_anchor():
    early = Timepoint(offset_days=3, window_before_days=7, window_after_days=0)
    assert window(early, ANCHOR) == Window(ANCHOR, days(3), days(3))


def test_a_window_is_scheduled_then_open_then_missed():
    dates = Window(days(76), days(90), days(104))
    assert dates.status_on(days(75)) == VisitStatus.SCHEDULED
    assert dates.status_on(days(76)) == VisitStatus.OPEN
    assert dates.status_on(days(104)) == VisitStatus.OPEN
    assert dates.status_on(days(105)) == VisitStatus.MISSED
