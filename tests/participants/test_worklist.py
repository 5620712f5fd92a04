"""The work list: open visits to chase, contact attempts and loss to follow-up."""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from participants import withdrawal, worklist
from participants.models import (
    ContactAttempt,
    LostReason,
    MessageKind,
    MessageStatus,
    OutboundMessage,
    ParticipantStatus,
    VisitStatus,
    WithdrawalReason,
)
from studyportal.errors import DomainError
from tests.participants import journeys
from tests.participants.journeys import today


def enrol_days_ago(site, user, days):
    return journeys.enrol(site, user, on=today() - dt.timedelta(days=days))


def baseline_of(participant):
    return participant.visits.get(timepoint__code="baseline")


def message(visit, kind, status, *, sent_at=None, channel="email"):
    return OutboundMessage.objects.create(
        visit=visit,
        kind=kind,
        channel=channel,
        due_at=timezone.now() - dt.timedelta(days=1),
        status=status,
        sent_at=sent_at,
    )


def attempt(visit, user, outcome=ContactAttempt.Outcome.NO_ANSWER, note=""):
    return worklist.log_attempt(
        visit=visit,
        channel=ContactAttempt.Channel.PHONE,
        outcome=outcome,
        note=note,
        user=user,
    )


def test_open_visits_are_sorted_by_days_left_in_the_window(
    site_a, staff_a, coordinator_user
):
    # Baseline windows close 14 days after enrolment.
    recent = enrol_days_ago(site_a, staff_a, 1)
    oldest = enrol_days_ago(site_a, staff_a, 10)
    middle = enrol_days_ago(site_a, staff_a, 5)
    items = worklist.worklist(coordinator_user, today=today())
    assert [item.code for item in items] == [oldest.code, middle.code, recent.code]
    assert [item.days_left for item in items] == [4, 9, 13]
    assert items[0].timepoint.code == "baseline"
    assert items[0].site == site_a


def test_a_visit_past_its_due_date_is_overdue(site_a, staff_a, coordinator_user):
    enrolled_today = journeys.enrol(site_a, staff_a)
    enrolled_before = enrol_days_ago(site_a, staff_a, 3)
    items = {i.code: i for i in worklist.worklist(coordinator_user, today=today())}
    assert items[enrolled_before.code].overdue is True
    assert items[enrolled_today.code].overdue is False
    only_overdue = worklist.worklist(coordinator_user, today=today(), overdue_only=True)
    assert [item.code for item in only_overdue] == [enrolled_before.code]


def test_only_open_visits_of_active_participants_are_listed(
    site_a, staff_a, coordinator_user
):
    listed = journeys.enrol(site_a, staff_a)
    completed = journeys.enrol(site_a, staff_a)
    completed.visits.filter(timepoint__code="baseline").update(
        status=VisitStatus.COMPLETED
    )
    withdrawn = journeys.enrol(site_a, staff_a)
    withdrawal.withdraw(
        withdrawn,
        withdrawn_on=today(),
        reason=WithdrawalReason.NO_LONGER_WISHES,
        keep_data=True,
        today=today(),
    )
    items = worklist.worklist(coordinator_user, today=today())
    assert [item.code for item in items] == [listed.code]
    assert items[0].visit.status == VisitStatus.OPEN


def test_staff_see_their_own_site_and_investigators_nothing(
    site_a, site_b, staff_a, staff_b, coordinator_user, investigator_user
):
    at_a = journeys.enrol(site_a, staff_a)
    at_b = journeys.enrol(site_b, staff_b)

    def codes(user, **filters):
        return {i.code for i in worklist.worklist(user, today=today(), **filters)}

    assert codes(staff_a) == {at_a.code}
    assert codes(staff_b) == {at_b.code}
    assert codes(coordinator_user) == {at_a.code, at_b.code}
    assert codes(coordinator_user, site=site_b) == {at_b.code}
    assert codes(investigator_user) == set()
    # A filter cannot widen what the user may see.
    assert codes(staff_a, site=site_b) == set()


def test_the_last_sent_or_failed_message_is_shown(site_a, staff_a, coordinator_user):
    participant = journeys.enrol(site_a, staff_a)
    visit = baseline_of(participant)
    now = timezone.now()
    message(
        visit, MessageKind.INVITE, MessageStatus.SENT, sent_at=now - dt.timedelta(2)
    )
    message(visit, MessageKind.REMINDER_1, MessageStatus.FAILED)
    message(visit, MessageKind.REMINDER_2, MessageStatus.PENDING)
    [item] = worklist.worklist(coordinator_user, today=today())
    assert item.last_message.kind == MessageKind.REMINDER_1
    assert item.last_message.status == MessageStatus.FAILED
    assert item.last_message.channel == "email"

    message(visit, MessageKind.FINAL, MessageStatus.SENT, sent_at=now)
    [item] = worklist.worklist(coordinator_user, today=today())
    assert (item.last_message.kind, item.last_message.happened_at) == (
        MessageKind.FINAL,
        now,
    )


def test_the_last_contact_attempt_and_contact_details_are_shown(
    site_a, staff_a, coordinator_user
):
    participant = journeys.enrol(
        site_a, staff_a, details=journeys.contact("Sam Jones", mobile="07700 900123")
    )
    visit = baseline_of(participant)
    [item] = worklist.worklist(coordinator_user, today=today())
    assert item.last_attempt is None and item.last_message is None
    attempt(visit, staff_a)
    latest = attempt(visit, coordinator_user, ContactAttempt.Outcome.LEFT_MESSAGE)
    [item] = worklist.worklist(coordinator_user, today=today())
    assert item.last_attempt == latest
    assert item.last_attempt.made_by == coordinator_user
    assert (item.contact.full_name, item.contact.email, item.contact.mobile) == (
        "Sam Jones",
        "alex@example.com",
        "07700 900123",
    )
    assert item.channels == ["email"]


def busy_participants(site, user, count):
    for number in range(count):
        participant = enrol_days_ago(site, user, number % 12)
        visit = baseline_of(participant)
        message(visit, MessageKind.INVITE, MessageStatus.SENT, sent_at=timezone.now())
        message(visit, MessageKind.REMINDER_1, MessageStatus.FAILED)
        attempt(visit, user)
        attempt(visit, user, ContactAttempt.Outcome.WILL_COMPLETE)


def queries_for_worklist(user):
    with CaptureQueriesContext(connection) as queries:
        items = worklist.worklist(user, today=today())
        for item in items:
            # Everything a row of the page shows.
            str(item.site), item.timepoint.label, item.contact.full_name, item.channels
            item.last_message.kind, str(item.last_attempt.made_by)
    return len(queries), len(items)


def test_the_work_list_takes_the_same_queries_for_3_or_25_participants(
    site_a, staff_a, coordinator_user
):
    busy_participants(site_a, staff_a, 3)
    few, listed = queries_for_worklist(coordinator_user)
    assert listed == 3
    busy_participants(site_a, staff_a, 22)
    many, listed = queries_for_worklist(coordinator_user)
    assert listed == 25
    assert few == many == 3


# ---------------------------------------------------------------------------
# Contact attempts


def test_an_attempt_is_recorded_with_who_and_what(site_a, staff_a, coordinator_user):
    visit = baseline_of(journeys.enrol(site_a, staff_a))
    recorded = worklist.log_attempt(
        visit=visit,
        channel=ContactAttempt.Channel.PHONE,
        outcome=ContactAttempt.Outcome.WILL_COMPLETE,
        note="  Will do it tonight ",
        user=coordinator_user,
    )
    assert (recorded.visit, recorded.made_by, recorded.note) == (
        visit,
        coordinator_user,
        "Will do it tonight",
    )


@pytest.mark.parametrize("status", [VisitStatus.COMPLETED, VisitStatus.MISSED])
def test_an_attempt_on_a_closed_visit_is_refused(site_a, staff_a, status):
    visit = baseline_of(journeys.enrol(site_a, staff_a))
    visit.status = status
    visit.save(update_fields=["status"])
    with pytest.raises(DomainError, match="open visits only"):
        attempt(visit, staff_a)
    assert not ContactAttempt.objects.exists()


def test_an_attempt_with_an_unknown_outcome_is_refused(site_a, staff_a):
    visit = baseline_of(journeys.enrol(site_a, staff_a))
    with pytest.raises(DomainError) as error:
        attempt(visit, staff_a, outcome="abducted")
    assert error.value.field == "outcome"


# ---------------------------------------------------------------------------
# Loss to follow-up


@pytest.fixture
def participant(site_a, staff_a):
    return journeys.enrol(site_a, staff_a)


def mark_lost(participant, user, reason=LostReason.NO_CONTACT, detail=""):
    return worklist.mark_lost(
        participant, reason=reason, detail=detail, today=today(), user=user
    )


def test_marking_lost_records_when_and_why(participant, coordinator_user):
    lost = mark_lost(
        participant,
        coordinator_user,
        reason=LostReason.MOVED,
        detail=" Moved, no new address ",
    )
    lost.refresh_from_db()
    assert lost.status == ParticipantStatus.LOST
    assert (lost.lost_on, lost.lost_reason, lost.lost_detail) == (
        today(),
        LostReason.MOVED,
        "Moved, no new address",
    )
    latest = lost.history.latest()
    # The history's reason names the category; the coordinator's words stay a field.
    assert latest.history_change_reason == "Lost to follow-up: Moved away"
    assert latest.history_user == coordinator_user


def test_marking_lost_cancels_pending_messages_and_stops_planning(
    participant, coordinator_user
):
    visit = baseline_of(participant)
    sent = message(visit, MessageKind.INVITE, MessageStatus.SENT)
    pending = message(visit, MessageKind.REMINDER_1, MessageStatus.PENDING)
    assert participant.visits.filter(next_message_at__isnull=False).exists()
    mark_lost(participant, coordinator_user)
    sent.refresh_from_db()
    pending.refresh_from_db()
    assert sent.status == MessageStatus.SENT
    assert pending.status == MessageStatus.CANCELLED
    assert pending.error == "participant lost to follow-up"
    assert not participant.visits.filter(next_message_at__isnull=False).exists()
    # Unlike a withdrawal, the visits keep their status.
    assert dict(participant.visits.values_list("timepoint__code", "status")) == {
        "baseline": VisitStatus.OPEN,
        "followup": VisitStatus.SCHEDULED,
    }
    assert worklist.worklist(coordinator_user, today=today()) == []


@pytest.mark.parametrize("reason", ["", "   ", "No reply to three calls"])
def test_a_reason_category_is_required(participant, coordinator_user, reason):
    with pytest.raises(DomainError) as error:
        mark_lost(participant, coordinator_user, reason=reason)
    assert error.value.field == "reason"
    participant.refresh_from_db()
    assert participant.status == ParticipantStatus.ACTIVE


def test_a_withdrawn_participant_cannot_be_marked_lost(participant, coordinator_user):
    withdrawal.withdraw(
        participant,
        withdrawn_on=today(),
        reason=WithdrawalReason.NO_LONGER_WISHES,
        keep_data=True,
        today=today(),
    )
    with pytest.raises(DomainError, match="has withdrawn"):
        mark_lost(participant, coordinator_user)
    participant.refresh_from_db()
    assert participant.status == ParticipantStatus.WITHDRAWN
    assert participant.lost_on is None


def test_a_participant_cannot_be_marked_lost_twice(participant, coordinator_user):
    mark_lost(participant, coordinator_user)
    with pytest.raises(DomainError, match="lost to follow-up"):
        mark_lost(participant, coordinator_user)


def test_no_attempt_is_recorded_for_a_lost_participant(participant, coordinator_user):
    mark_lost(participant, coordinator_user)
    with pytest.raises(DomainError, match="active participants only"):
        attempt(baseline_of(participant), coordinator_user)
