"""Visit windows, and visits opening, being missed and moving with their timepoint."""

import datetime as dt
import zoneinfo

import pytest

from participants import reminders, schedule
from participants.models import (
    Participant,
    ParticipantStatus,
    Timepoint,
    Visit,
    VisitStatus,
)
from participants.schedule import StatusChanges, Window, window
from studyportal import demo
from tests.factories import StudyFactory
from tests.participants import journeys

LONDON = zoneinfo.ZoneInfo("Europe/London")
ENROLLED_ON = dt.date(2026, 6, 1)


def day(n: int) -> dt.date:
    return ENROLLED_ON + dt.timedelta(days=n)


def at(n: int, hour: int) -> dt.datetime:
    return dt.datetime.combine(day(n), dt.time(hour), tzinfo=LONDON)


def reference_timepoint(code: str) -> Timepoint:
    timepoints = demo.reference_protocol().timepoints
    for order, spec in enumerate(timepoints, start=1):
        if spec.code == code:
            return Timepoint(
                code=code,
                label=spec.label,
                order=order,
                offset_days=spec.day,
                window_before_days=spec.window_before,
                window_after_days=spec.window_after,
            )
    raise LookupError(code)


# ---------------------------------------------------------------------------
# Windows


def test_baseline_is_open_from_enrolment_for_fourteen_days():
    assert window(reference_timepoint("baseline"), ENROLLED_ON) == Window(
        opens_on=day(0), due_on=day(0), closes_on=day(14)
    )


def test_follow_up_is_open_fourteen_days_either_side_of_day_ninety():
    assert window(reference_timepoint("followup"), ENROLLED_ON) == Window(
        opens_on=day(76), due_on=day(90), closes_on=day(104)
    )


# ---------------------------------------------------------------------------
# Opening and missing visits


@pytest.fixture
def participant(site_a, staff_a) -> Participant:
    """Enrolled on ENROLLED_ON at 10:00, as if the clock had said so."""
    participant = journeys.enrol(site_a, staff_a, on=ENROLLED_ON)
    participant.visits.update(created_at=at(0, 10))
    for visit in participant.visits.all():
        reminders.refresh(visit)
    return participant


def visits(participant: Participant) -> dict[str, Visit]:
    return {v.timepoint.code: v for v in participant.visits.select_related("timepoint")}


def states(participant: Participant) -> dict[str, tuple]:
    return {
        code: (v.status, v.next_message_at) for code, v in visits(participant).items()
    }


def test_enrolment_opens_baseline_and_schedules_follow_up(participant):
    assert states(participant) == {
        "baseline": (VisitStatus.OPEN, at(0, 10)),
        "followup": (VisitStatus.SCHEDULED, at(76, 8)),
    }


def test_nothing_changes_while_every_window_holds(participant):
    assert schedule.update_statuses(day(14)) == StatusChanges(opened=0, missed=0)
    assert visits(participant)["baseline"].status == VisitStatus.OPEN


def test_a_visit_whose_window_passed_is_missed_and_gets_no_more_messages(
    participant,
):
    assert schedule.update_statuses(day(15)) == StatusChanges(opened=0, missed=1)
    assert states(participant)["baseline"] == (VisitStatus.MISSED, None)


def test_a_scheduled_visit_opens_when_its_window_comes(participant):
    assert schedule.update_statuses(day(75)).opened == 0
    assert visits(participant)["followup"].status == VisitStatus.SCHEDULED

    assert schedule.update_statuses(day(76)).opened == 1
    assert states(participant)["followup"] == (VisitStatus.OPEN, at(76, 8))
    reminders.plan_due(at(76, 9))
    invitation = visits(participant)["followup"].messages.get()
    assert (invitation.kind, invitation.due_at) == ("invite", at(76, 8))


def test_updating_statuses_twice_changes_nothing_the_second_time(participant):
    assert schedule.update_statuses(day(80)) == StatusChanges(opened=1, missed=1)
    before = states(participant)
    assert schedule.update_statuses(day(80)) == StatusChanges(opened=0, missed=0)
    assert states(participant) == before


def test_a_window_passed_unseen_goes_straight_to_missed(participant):
    assert schedule.update_statuses(day(105)) == StatusChanges(opened=0, missed=2)
    assert states(participant) == {
        "baseline": (VisitStatus.MISSED, None),
        "followup": (VisitStatus.MISSED, None),
    }


def test_a_completed_visit_is_never_missed(participant):
    participant.visits.filter(timepoint__code="baseline").update(
        status=VisitStatus.COMPLETED
    )
    assert schedule.update_statuses(day(15)).missed == 0
    assert visits(participant)["baseline"].status == VisitStatus.COMPLETED


def test_visits_of_a_withdrawn_participant_stay_as_they_are(participant):
    Participant.objects.filter(pk=participant.pk).update(
        status=ParticipantStatus.WITHDRAWN
    )
    before = states(participant)
    assert schedule.update_statuses(day(80)) == StatusChanges(opened=0, missed=0)
    assert states(participant) == before


def test_a_lost_participants_windows_close_but_none_open(participant):
    Participant.objects.filter(pk=participant.pk).update(status=ParticipantStatus.LOST)
    # Day 80: baseline closed long ago (missed), follow-up's window is open.
    assert schedule.update_statuses(day(80)) == StatusChanges(opened=0, missed=1)
    assert visits(participant)["baseline"].status == VisitStatus.MISSED
    assert visits(participant)["followup"].status == VisitStatus.SCHEDULED


def test_a_sweep_of_one_study_leaves_other_studies_visits_alone(participant):
    other = StudyFactory()
    assert schedule.update_statuses(day(105), study=other) == StatusChanges()
    assert visits(participant)["baseline"].status == VisitStatus.OPEN
    changes = schedule.update_statuses(day(105), study=participant.study)
    assert changes == StatusChanges(opened=0, missed=2)


# ---------------------------------------------------------------------------
# Moving visits when a timepoint changes


@pytest.fixture
def followup(protocol) -> Timepoint:
    return protocol.timepoints.get(code="followup")


def dates(visit: Visit) -> tuple[dt.date, dt.date, dt.date]:
    return (visit.opens_on, visit.due_on, visit.closes_on)


def test_a_later_follow_up_moves_scheduled_visits_and_their_invitation(
    participant, followup
):
    followup.offset_days = 120
    followup.save()
    assert schedule.recompute_future_visits(followup, today=day(10)) == 1
    visit = visits(participant)["followup"]
    assert dates(visit) == (day(106), day(120), day(134))
    assert (visit.status, visit.next_message_at) == (VisitStatus.SCHEDULED, at(106, 8))


def test_a_completed_visit_keeps_its_dates_when_the_timepoint_moves(
    site_a, staff_a, participant, followup
):
    done = journeys.enrol(site_a, staff_a, on=ENROLLED_ON)
    done.visits.filter(timepoint=followup).update(status=VisitStatus.COMPLETED)
    followup.offset_days = 120
    followup.save()
    assert schedule.recompute_future_visits(followup, today=day(10)) == 1
    kept = visits(done)["followup"]
    assert dates(kept) == (day(76), day(90), day(104))
    assert kept.status == VisitStatus.COMPLETED


def test_a_follow_up_moved_into_the_present_opens(participant, followup):
    followup.offset_days = 10
    followup.save()
    assert schedule.recompute_future_visits(followup, today=day(5)) == 1
    visit = visits(participant)["followup"]
    assert dates(visit) == (day(0), day(10), day(24))
    # Its window opened on the day the visit was created: invited from then.
    assert (visit.status, visit.next_message_at) == (VisitStatus.OPEN, at(0, 10))


def test_an_unchanged_timepoint_moves_nothing(participant, followup):
    assert schedule.recompute_future_visits(followup, today=day(10)) == 0
    assert dates(visits(participant)["followup"]) == (day(76), day(90), day(104))
