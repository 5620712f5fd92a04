"""Withdrawal ends all contact at once; re-activation reopens what is due."""

import datetime as dt

import pytest
from django.utils import timezone

from participants import withdrawal
from participants.models import (
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


@pytest.fixture
def participant(site_a, staff_a):
    return journeys.enrol(site_a, staff_a)


def withdraw(participant, **overrides):
    values = {
        "withdrawn_on": today(),
        "reason": WithdrawalReason.NO_LONGER_WISHES,
        "keep_data": True,
        "today": today(),
    }
    return withdrawal.withdraw(participant, **(values | overrides))


def visit_statuses(participant):
    return dict(participant.visits.values_list("timepoint__code", "status"))


def message(visit, kind, status):
    return OutboundMessage.objects.create(
        visit=visit, kind=kind, channel="email", due_at=timezone.now(), status=status
    )


def test_withdrawal_records_the_reason_and_whether_data_may_be_kept(participant):
    withdrawn = withdraw(
        participant,
        reason=WithdrawalReason.OTHER,
        detail=" Moving abroad ",
        keep_data=False,
    )
    assert withdrawn.status == ParticipantStatus.WITHDRAWN
    assert withdrawn.withdrawn_on == today()
    assert withdrawn.withdrawal_detail == "Moving abroad"
    assert withdrawn.keep_data is False
    latest = withdrawn.history.latest()
    assert latest.history_change_reason == "Withdrawn: Other"


def test_withdrawal_cancels_pending_messages_and_leaves_sent_ones(participant):
    baseline = participant.visits.get(timepoint__code="baseline")
    sent = message(baseline, MessageKind.INVITE, MessageStatus.SENT)
    pending = message(baseline, MessageKind.REMINDER_1, MessageStatus.PENDING)
    withdraw(participant)
    pending.refresh_from_db()
    sent.refresh_from_db()
    assert pending.status == MessageStatus.CANCELLED
    assert sent.status == MessageStatus.SENT


def test_withdrawal_ends_open_and_scheduled_visits(participant):
    assert visit_statuses(participant) == {
        "baseline": VisitStatus.OPEN,
        "followup": VisitStatus.SCHEDULED,
    }
    withdraw(participant)
    assert visit_statuses(participant) == {
        "baseline": VisitStatus.WITHDRAWN,
        "followup": VisitStatus.WITHDRAWN,
    }


def test_withdrawal_leaves_completed_visits_completed(participant):
    participant.visits.filter(timepoint__code="baseline").update(
        status=VisitStatus.COMPLETED
    )
    withdraw(participant)
    assert visit_statuses(participant) == {
        "baseline": VisitStatus.COMPLETED,
        "followup": VisitStatus.WITHDRAWN,
    }


def test_a_withdrawal_date_in_the_future_is_refused(participant):
    with pytest.raises(DomainError) as error:
        withdraw(participant, withdrawn_on=today() + dt.timedelta(days=1))
    assert error.value.field == "withdrawn_on"
    participant.refresh_from_db()
    assert participant.status == ParticipantStatus.ACTIVE


def test_a_withdrawal_date_before_enrolment_is_refused(participant):
    with pytest.raises(DomainError, match="before enrolment"):
        withdraw(participant, withdrawn_on=today() - dt.timedelta(days=1))


def test_withdrawing_for_another_reason_needs_the_detail(participant):
    with pytest.raises(DomainError) as error:
        withdraw(participant, reason=WithdrawalReason.OTHER, detail=" ")
    assert error.value.field == "detail"
    assert visit_statuses(participant)["baseline"] == VisitStatus.OPEN


def test_a_participant_cannot_withdraw_twice(participant):
    withdraw(participant)
    with pytest.raises(DomainError, match="already withdrawn"):
        withdraw(participant)


def test_reactivation_reopens_visits_by_their_window(participant):
    withdraw(participant)
    active = withdrawal.reactivate(participant, reason="Changed mind", today=today())
    assert active.status == ParticipantStatus.ACTIVE
    assert active.withdrawn_on is None
    assert active.withdrawal_reason == ""
    assert visit_statuses(participant) == {
        "baseline": VisitStatus.OPEN,
        "followup": VisitStatus.SCHEDULED,
    }


def test_reactivation_after_the_baseline_window_leaves_it_missed(site_a, staff_a):
    participant = journeys.enrol(site_a, staff_a, on=today() - dt.timedelta(days=20))
    withdraw(participant, withdrawn_on=today() - dt.timedelta(days=19))
    withdrawal.reactivate(participant, reason="Changed mind", today=today())
    assert visit_statuses(participant) == {
        "baseline": VisitStatus.MISSED,
        "followup": VisitStatus.SCHEDULED,
    }


def test_reactivation_keeps_completed_visits_completed(participant):
    participant.visits.filter(timepoint__code="baseline").update(
        status=VisitStatus.COMPLETED
    )
    withdraw(participant)
    withdrawal.reactivate(participant, reason="Changed mind", today=today())
    assert visit_statuses(participant)["baseline"] == VisitStatus.COMPLETED


def test_reactivation_records_its_reason_in_the_history(participant):
    withdraw(participant)
    withdrawal.reactivate(participant, reason="  Wants to continue ", today=today())
    latest = participant.history.latest()
    assert latest.status == ParticipantStatus.ACTIVE
    assert latest.history_change_reason == "Re-activated: Wants to continue"


def test_reactivation_needs_a_reason(participant):
    withdraw(participant)
    with pytest.raises(DomainError) as error:
        withdrawal.reactivate(participant, reason="  ", today=today())
    assert error.value.field == "reason"


def test_an_active_participant_cannot_be_reactivated(participant):
    with pytest.raises(DomainError, match="not withdrawn"):
        withdrawal.reactivate(participant, reason="No reason", today=today())


def test_reactivating_a_lost_participant_restarts_reminders(participant, staff_a):
    from participants import worklist

    baseline = participant.visits.get(timepoint__code="baseline")
    worklist.mark_lost(
        participant,
        reason=LostReason.NO_CONTACT,
        detail="No reply",
        today=today(),
        user=staff_a,
    )
    baseline.refresh_from_db()
    assert baseline.next_message_at is None
    withdrawal.reactivate(participant, reason="Called back", today=today())
    participant.refresh_from_db()
    baseline.refresh_from_db()
    assert (participant.lost_on, participant.lost_reason) == (None, "")
    assert participant.lost_detail == ""
    assert baseline.next_message_at is not None
