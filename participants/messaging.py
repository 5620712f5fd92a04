"""Sending questionnaire links: messages are rows, claimed once and sent once."""

from __future__ import annotations

import dataclasses
import datetime as dt
import secrets
import smtplib
from email.utils import make_msgid

from django.conf import settings
from django.core import signing
from django.core.mail import EmailMultiAlternatives
from django.core.mail.utils import DNS_NAME
from django.db import transaction
from django.db.models import F
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from participants import links
from participants.models import (
    Channel,
    MessageKind,
    MessageStatus,
    OutboundMessage,
    Participant,
    ParticipantStatus,
    Visit,
    VisitStatus,
)
from participants.sms import send_sms, sms_delivers
from studyportal import worker_queue
from studyportal.mail import email_delivers

OPT_OUT_SALT = "participants.opt-out"
# Longer than any study's follow-up: a link in an old message still works while
# messages may come, and not for ever.
OPT_OUT_LINK_DAYS = 400
CHANNELS = {
    Channel.EMAIL: ["email"],
    Channel.SMS: ["sms"],
    Channel.BOTH: ["email", "sms"],
    Channel.NONE: [],
}
FINISHED = (
    MessageStatus.SENT,
    MessageStatus.PRINTED,
    MessageStatus.FAILED,
    MessageStatus.CANCELLED,
)


def channels_for(visit: Visit) -> list[str]:
    contact = getattr(visit.participant, "contact", None)
    if contact is None:
        return []
    return CHANNELS[contact.preferred_channel]


def _send_soon(message_id: int) -> None:
    """Hand the message to a worker; without a broker the beat planner sends it later.

    The row stays pending and due, and ``plan_and_send`` queues every such row.
    """
    from participants.tasks import send_message

    worker_queue.hand_over(send_message, message_id, what=f"message {message_id}")


@transaction.atomic
def queue_invitation(visit: Visit) -> list[OutboundMessage]:
    """Plan an invitation now by the participant's channels and send it after commit."""
    created = []
    for channel in channels_for(visit):
        message, new = OutboundMessage.objects.get_or_create(
            visit=visit,
            kind=MessageKind.INVITE,
            channel=channel,
            defaults={"due_at": timezone.now()},
        )
        if not new and message.status in FINISHED:
            # Sent, failed or cancelled (by a withdrawal since undone): staff asked
            # for it again, so the row is due once more.
            message.status = MessageStatus.PENDING
            message.due_at = timezone.now()
            message.error = ""
            message.save(update_fields=["status", "due_at", "error"])
        created.append(message)
        transaction.on_commit(lambda pk=message.pk: _send_soon(pk))
    return created


SUBJECTS = {
    MessageKind.INVITE: "your questionnaire is ready",
    MessageKind.REMINDER_1: "a reminder about your questionnaire",
    MessageKind.REMINDER_2: "a reminder about your questionnaire",
    MessageKind.FINAL: "your questionnaire closes soon",
}


def _reason_not_to_send(message: OutboundMessage) -> str:
    """Why this message must not go now, checked after claiming it."""
    visit = message.visit
    participant = visit.participant
    if participant.status != ParticipantStatus.ACTIVE:
        return "participant is no longer active"
    if visit.status != VisitStatus.OPEN:
        return f"visit is {visit.get_status_display().lower()}"
    if message.channel not in channels_for(visit):
        return "participant no longer wants this channel"
    return ""


def _refused_for_good(exc: OSError) -> bool:
    """A mail server that refuses the address with a 5xx answer will refuse it again.

    Other network and server errors (a 4xx answer, a lost connection, a wrong
    password) may pass, so the message stays for the retry.
    """
    if not isinstance(exc, smtplib.SMTPRecipientsRefused) or not exc.recipients:
        return False
    return all(code >= 500 for code, _ in exc.recipients.values())


def _send_email(participant, context, message_id: str) -> str:
    """Send the text and HTML email; returns its Message-ID for the record."""
    study = participant.study
    email = EmailMultiAlternatives(
        subject=f"{study.short_name}: {SUBJECTS[context['kind']]}",
        body=render_to_string("participants/messages/invite.txt", context),
        to=[participant.contact.email],
        reply_to=[study.contact_email] if study.contact_email else None,
        headers={
            "Message-ID": message_id,
            "List-Unsubscribe": f"<{context['opt_out_url']}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        },
    )
    email.attach_alternative(
        render_to_string("participants/messages/invite.html", context), "text/html"
    )
    email.send()
    return message_id


def _message_id(message: OutboundMessage) -> str:
    """The email's Message-ID, fixed before the first attempt.

    If a worker dies after the mail server accepted the email but before the row
    was marked sent, the retry carries the same Message-ID, which mail clients
    use to show one copy.
    """
    if not message.provider_id.startswith("<"):
        message.provider_id = make_msgid(domain=DNS_NAME)
        message.save(update_fields=["provider_id"])
    return message.provider_id


def opt_out_url(participant) -> str:
    """A link that stops messages; it survives new questionnaire links.

    It carries a random key, signed and dated: nothing in it names the
    participant, and it stops working OPT_OUT_LINK_DAYS after the message.
    """
    if not participant.opt_out_key:
        # Only where none is set yet: a key already in a sent message stays.
        Participant.objects.filter(pk=participant.pk, opt_out_key=None).update(
            opt_out_key=secrets.token_urlsafe(16)
        )
        participant.refresh_from_db(fields=["opt_out_key"])
    signed = signing.TimestampSigner(salt=OPT_OUT_SALT).sign(participant.opt_out_key)
    path = reverse("questionnaire:opt_out", args=[signed])
    return settings.PUBLIC_BASE_URL.rstrip("/") + path


@dataclasses.dataclass(frozen=True)
class OptOutLink:
    participant: object
    expired: bool


def opt_out_link(signed: str) -> OptOutLink | None:
    """Whose opt-out link ``signed`` is, and whether it is past its time.

    None when it is not one of ours. An expired link still names its
    participant, so the page can say how else to stop messages.
    """
    signer = signing.TimestampSigner(salt=OPT_OUT_SALT)
    try:
        key = signer.unsign(signed, max_age=dt.timedelta(days=OPT_OUT_LINK_DAYS))
        expired = False
    except signing.SignatureExpired:
        key, expired = signer.unsign(signed), True
    except signing.BadSignature:
        return None
    participant = (
        Participant.objects.filter(opt_out_key=key)
        .select_related("contact", "study")
        .first()
    )
    return None if participant is None else OptOutLink(participant, expired)


@transaction.atomic
def opt_out(participant) -> int:
    """Stop all messages: no channel, and pending ones cancelled."""
    contact = participant.contact
    contact.preferred_channel = Channel.NONE
    contact._change_reason = "Participant opted out of messages"
    contact.save()
    return OutboundMessage.objects.filter(
        visit__participant=participant, status=MessageStatus.PENDING
    ).update(status=MessageStatus.CANCELLED, error="participant opted out")


def send(message_id: int) -> str:
    """Send one message if it is still due; returns what happened.

    The conditional UPDATE claims the row, so a task delivered twice, or two
    workers, send it once. Whether it should still go is checked after claiming:
    a visit completed or a participant withdrawn a second before gets nothing.
    """
    claimed = OutboundMessage.objects.filter(
        pk=message_id, status=MessageStatus.PENDING
    ).update(
        status=MessageStatus.SENDING,
        claimed_at=timezone.now(),
        attempts=F("attempts") + 1,
    )
    if claimed != 1:
        return "not pending"
    message = OutboundMessage.objects.select_related(
        "visit__participant__contact", "visit__timepoint", "visit__participant__study"
    ).get(pk=message_id)
    visit = message.visit
    participant = visit.participant
    reason = _reason_not_to_send(message)
    if reason:
        message.status = MessageStatus.CANCELLED
        message.error = reason
        message.save(update_fields=["status", "error"])
        return "cancelled"
    # Earlier messages' links keep working; the participant may use any of them.
    token = links.issue_token(visit, retire_others=False)
    context = {
        "study": participant.study,
        "timepoint": visit.timepoint,
        "visit": visit,
        "kind": message.kind,
        "url": links.questionnaire_url(token),
        "opt_out_url": opt_out_url(participant),
        "name": participant.contact.full_name.split(" ")[0],
    }
    try:
        if message.channel == "email":
            provider_id = _send_email(participant, context, _message_id(message))
        else:
            body = render_to_string("participants/messages/invite_sms.txt", context)
            provider_id = send_sms(participant.contact.mobile, body.strip())
    except OSError as exc:
        if _refused_for_good(exc):
            message.status = MessageStatus.FAILED
            message.error = f"{type(exc).__name__}: {exc}"[:500]
            message.save(update_fields=["status", "error"])
            raise
        # The provider could not be reached: nothing went out, so the task's
        # retry may claim the row again.
        message.status = MessageStatus.PENDING
        message.error = f"{type(exc).__name__}: {exc}"[:500]
        message.save(update_fields=["status", "error"])
        raise
    except Exception as exc:
        message.status = MessageStatus.FAILED
        message.error = f"{type(exc).__name__}: {exc}"[:500]
        message.save(update_fields=["status", "error"])
        raise
    delivered = email_delivers() if message.channel == "email" else sms_delivers()
    message.status = MessageStatus.SENT if delivered else MessageStatus.PRINTED
    message.sent_at = timezone.now()
    message.provider_id = provider_id[:200]
    message.error = ""
    message.save(update_fields=["status", "sent_at", "provider_id", "error"])
    return message.status
