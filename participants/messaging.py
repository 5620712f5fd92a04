"""Sending questionnaire links: messages are rows, claimed once and sent once."""

from __future__ import annotations

from django.core.mail import send_mail
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone

from participants import links
from participants.models import (
    Channel,
    MessageKind,
    MessageStatus,
    OutboundMessage,
    ParticipantStatus,
    Visit,
    VisitStatus,
)
from participants.sms import send_sms

CHANNELS = {
    Channel.EMAIL: ["email"],
    Channel.SMS: ["sms"],
    Channel.BOTH: ["email", "sms"],
    Channel.NONE: [],
}
FINISHED = (MessageStatus.SENT, MessageStatus.FAILED, MessageStatus.CANCELLED)


def channels_for(visit: Visit) -> list[str]:
    contact = getattr(visit.participant, "contact", None)
    if contact is None:
        return []
    return CHANNELS[contact.preferred_channel]


@transaction.atomic
def queue_invitation(visit: Visit) -> list[OutboundMessage]:
    """Plan an invitation now by the participant's channels and send it after commit."""
    from participants.tasks import send_message

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
        transaction.on_commit(lambda pk=message.pk: send_message.delay(pk))
    return created


def send(message_id: int) -> str:
    """Send one message if it is still due; returns what happened.

    The conditional UPDATE claims the row, so a task delivered twice, or two
    workers, send it once. The visit's state is checked after claiming.
    """
    claimed = OutboundMessage.objects.filter(
        pk=message_id, status=MessageStatus.PENDING
    ).update(status=MessageStatus.SENDING)
    if claimed != 1:
        return "not pending"
    message = OutboundMessage.objects.select_related(
        "visit__participant__contact", "visit__timepoint", "visit__participant__study"
    ).get(pk=message_id)
    visit = message.visit
    participant = visit.participant
    if (
        participant.status != ParticipantStatus.ACTIVE
        or visit.status != VisitStatus.OPEN
    ):
        message.status = MessageStatus.CANCELLED
        message.error = "visit no longer open"
        message.save(update_fields=["status", "error"])
        return "cancelled"
    token = links.issue_token(visit)
    context = {
        "study": participant.study,
        "timepoint": visit.timepoint,
        "visit": visit,
        "url": links.questionnaire_url(token),
        "name": participant.contact.full_name.split(" ")[0],
    }
    try:
        if message.channel == "email":
            send_mail(
                subject=f"{participant.study.short_name}: your questionnaire",
                message=render_to_string("participants/messages/invite.txt", context),
                from_email=None,
                recipient_list=[participant.contact.email],
            )
            provider_id = "email"
        else:
            body = render_to_string("participants/messages/invite_sms.txt", context)
            provider_id = send_sms(participant.contact.mobile, body.strip())
    except OSError as exc:
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
    message.status = MessageStatus.SENT
    message.sent_at = timezone.now()
    message.provider_id = provider_id
    message.save(update_fields=["status", "sent_at", "provider_id"])
    return "sent"
