"""Questionnaire links and the messages that carry them, each sent once."""

import hashlib
import re

import pytest
from django.core import mail
from django.db.models import Q

from participants import links, messaging, withdrawal
from participants.models import (
    Channel,
    MessageKind,
    MessageStatus,
    OutboundMessage,
    Participant,
    ParticipantStatus,
    Visit,
    VisitLink,
    WithdrawalReason,
)
from tests.participants import journeys
from tests.participants.journeys import contact, today

LINK = re.compile(r"https?://\S+/q/(?P<token>[^/\s]+)/")


@pytest.fixture
def participant(site_a, staff_a):
    return journeys.enrol(site_a, staff_a)


@pytest.fixture
def baseline(participant):
    return participant.visits.get(timepoint__code="baseline")


def queue(visit, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        messages = messaging.queue_invitation(visit)
    return messages, callbacks


def token_in(text: str) -> str:
    return LINK.search(text).group("token")


# ---------------------------------------------------------------------------
# Links


def test_a_link_is_stored_only_as_its_sha256(baseline):
    token = links.issue_token(baseline)
    link = VisitLink.objects.get(visit=baseline)
    assert link.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert link.issued_at is not None
    assert not VisitLink.objects.filter(
        Q(token_hash=token) | Q(token_hash__contains=token)
    ).exists()
    assert token not in str(list(Visit.history.values()))


def test_a_link_opens_its_visit(baseline):
    token = links.issue_token(baseline)
    assert links.visit_for_token(token) == baseline
    assert links.questionnaire_path(token) == f"/q/{token}/"


def test_issuing_a_new_link_retires_the_old_one(baseline):
    old = links.issue_token(baseline)
    new = links.issue_token(baseline)
    assert old != new
    assert links.visit_for_token(old) is None
    assert links.visit_for_token(new) == baseline


@pytest.mark.parametrize("token", ["", "made-up", "x" * 101])
def test_an_unknown_link_opens_nothing(baseline, token):
    links.issue_token(baseline)
    assert links.visit_for_token(token) is None


# ---------------------------------------------------------------------------
# Sending


def test_an_invitation_is_queued_per_channel_and_sent_after_commit(
    site_a, staff_a, django_capture_on_commit_callbacks
):
    participant = journeys.enrol(
        site_a, staff_a, details=contact(preferred_channel=Channel.BOTH)
    )
    visit = participant.visits.get(timepoint__code="baseline")
    messages, callbacks = queue(visit, django_capture_on_commit_callbacks)
    assert sorted(m.channel for m in messages) == ["email", "sms"]
    assert {m.kind for m in messages} == {MessageKind.INVITE}
    assert {m.status for m in messages} == {MessageStatus.PENDING}
    assert len(callbacks) == 2


def test_no_messages_are_queued_for_a_participant_who_wants_none(
    site_a, staff_a, django_capture_on_commit_callbacks
):
    participant = journeys.enrol(
        site_a, staff_a, details=contact(preferred_channel=Channel.NONE)
    )
    visit = participant.visits.get(timepoint__code="baseline")
    messages, callbacks = queue(visit, django_capture_on_commit_callbacks)
    assert messages == []
    assert callbacks == []


def test_an_email_carries_a_working_personal_link(
    participant, baseline, django_capture_on_commit_callbacks
):
    (message,), _ = queue(baseline, django_capture_on_commit_callbacks)
    assert messaging.send(message.pk) == "sent"
    (email,) = mail.outbox
    assert email.to == ["alex@example.com"]
    assert "Dear Alex," in email.body
    assert links.visit_for_token(token_in(email.body)) == baseline
    message.refresh_from_db()
    assert message.status == MessageStatus.SENT
    assert message.sent_at is not None


def test_a_message_is_sent_once(
    participant, baseline, django_capture_on_commit_callbacks
):
    (message,), _ = queue(baseline, django_capture_on_commit_callbacks)
    assert messaging.send(message.pk) == "sent"
    assert messaging.send(message.pk) == "not pending"
    assert len(mail.outbox) == 1


def test_a_text_message_goes_to_the_mobile(
    site_a, staff_a, sms_outbox, django_capture_on_commit_callbacks
):
    participant = journeys.enrol(
        site_a, staff_a, details=contact(preferred_channel=Channel.SMS)
    )
    visit = participant.visits.get(timepoint__code="baseline")
    (message,), _ = queue(visit, django_capture_on_commit_callbacks)
    assert messaging.send(message.pk) == "sent"
    (sms,) = sms_outbox
    assert sms["to"] == "+447911123456"
    assert links.visit_for_token(token_in(sms["body"])) == visit
    assert mail.outbox == []
    message.refresh_from_db()
    assert message.provider_id == sms["provider_id"]


def test_a_message_for_a_withdrawn_participant_is_cancelled_not_sent(
    participant, baseline, sms_outbox, django_capture_on_commit_callbacks
):
    (message,), _ = queue(baseline, django_capture_on_commit_callbacks)
    # Withdrawn after the message was queued but before the worker took it.
    Participant.objects.filter(pk=participant.pk).update(
        status=ParticipantStatus.WITHDRAWN
    )
    assert messaging.send(message.pk) == "cancelled"
    message.refresh_from_db()
    assert message.status == MessageStatus.CANCELLED
    assert mail.outbox == []
    assert sms_outbox == []
    assert not VisitLink.objects.filter(visit=baseline).exists()


def test_withdrawal_stops_a_queued_invitation(
    participant, baseline, django_capture_on_commit_callbacks
):
    (message,), _ = queue(baseline, django_capture_on_commit_callbacks)
    withdrawal.withdraw(
        participant,
        withdrawn_on=today(),
        reason=WithdrawalReason.NO_LONGER_WISHES,
        keep_data=True,
        today=today(),
    )
    assert messaging.send(message.pk) == "not pending"
    assert mail.outbox == []


def test_an_invitation_cancelled_by_withdrawal_is_sent_again_after_reactivation(
    participant, baseline, django_capture_on_commit_callbacks
):
    queue(baseline, django_capture_on_commit_callbacks)
    withdrawal.withdraw(
        participant,
        withdrawn_on=today(),
        reason=WithdrawalReason.NO_LONGER_WISHES,
        keep_data=True,
        today=today(),
    )
    withdrawal.reactivate(participant, reason="Changed mind", today=today())
    (message,), _ = queue(baseline, django_capture_on_commit_callbacks)
    assert message.status == MessageStatus.PENDING
    assert messaging.send(message.pk) == "sent"
    assert len(mail.outbox) == 1
    assert OutboundMessage.objects.count() == 1


def test_an_unreachable_mail_server_leaves_the_message_for_the_retry(
    participant, baseline, monkeypatch, django_capture_on_commit_callbacks
):
    def refuse(**kwargs):
        raise ConnectionRefusedError("mail server down")

    monkeypatch.setattr(messaging, "_send_email", lambda *a: refuse())
    (message,), _ = queue(baseline, django_capture_on_commit_callbacks)
    with pytest.raises(ConnectionRefusedError):
        messaging.send(message.pk)
    message.refresh_from_db()
    assert message.status == MessageStatus.PENDING
    assert message.error == "ConnectionRefusedError: mail server down"
    monkeypatch.undo()
    assert messaging.send(message.pk) == "sent"
    assert len(mail.outbox) == 1


def test_a_refused_message_is_recorded_as_failed(
    participant, baseline, monkeypatch, django_capture_on_commit_callbacks
):
    def reject(**kwargs):
        raise ValueError("recipient rejected")

    monkeypatch.setattr(messaging, "_send_email", lambda *a: reject())
    (message,), _ = queue(baseline, django_capture_on_commit_callbacks)
    with pytest.raises(ValueError):
        messaging.send(message.pk)
    message.refresh_from_db()
    assert message.status == MessageStatus.FAILED
    assert message.error == "ValueError: recipient rejected"


def test_a_retried_email_keeps_its_message_id(
    participant, baseline, monkeypatch, django_capture_on_commit_callbacks
):
    """Mail clients show one copy if a crash made the same email go twice."""
    seen = []
    real = messaging._send_email

    def fail_once(participant, context, message_id):
        seen.append(message_id)
        if len(seen) == 1:
            raise ConnectionRefusedError("mail server down")
        return real(participant, context, message_id)

    monkeypatch.setattr(messaging, "_send_email", fail_once)
    (message,), _ = queue(baseline, django_capture_on_commit_callbacks)
    with pytest.raises(ConnectionRefusedError):
        messaging.send(message.pk)
    assert messaging.send(message.pk) == "sent"
    assert seen[0] == seen[1]
    assert mail.outbox[0].extra_headers["Message-ID"] == seen[0]
    message.refresh_from_db()
    assert message.provider_id == seen[0]


def test_a_message_that_keeps_failing_is_given_up(
    participant, baseline, django_capture_on_commit_callbacks
):
    from participants import reminders

    (message,), _ = queue(baseline, django_capture_on_commit_callbacks)
    OutboundMessage.objects.filter(pk=message.pk).update(
        attempts=reminders.MAX_ATTEMPTS
    )
    assert reminders.give_up_on_repeated_failures() == 1
    message.refresh_from_db()
    assert message.status == MessageStatus.FAILED
    assert "gave up" in message.error


@pytest.mark.parametrize(
    ("channel", "setting", "console"),
    [
        (Channel.SMS, "SMS_BACKEND", "participants.sms.ConsoleBackend"),
        (Channel.EMAIL, "EMAIL_BACKEND", "studyportal.mail.ConsoleEmailBackend"),
        (
            Channel.EMAIL,
            "EMAIL_BACKEND",
            "django.core.mail.backends.console.EmailBackend",
        ),
    ],
)
def test_h1_a_console_backend_records_printed_not_sent(
    site_a,
    staff_a,
    settings,
    caplog,
    channel,
    setting,
    console,
    django_capture_on_commit_callbacks,
):
    setattr(settings, setting, console)
    participant = journeys.enrol(
        site_a, staff_a, details=contact(preferred_channel=channel)
    )
    visit = participant.visits.get(timepoint__code="baseline")
    (message,), _ = queue(visit, django_capture_on_commit_callbacks)
    assert messaging.send(message.pk) == "printed"
    message.refresh_from_db()
    assert message.status == "printed"
    assert message.get_status_display() == "Printed, not sent"
    # Printed is finished: asking again makes the row due once more.
    (again,), _ = queue(visit, django_capture_on_commit_callbacks)
    assert again.status == "pending"
