"""Withdrawal and re-activation: the participant's wishes end all contact at once."""

from __future__ import annotations

import datetime as dt

from django.db import transaction

from participants import followup, reminders, schedule
from participants.models import (
    MessageStatus,
    OutboundMessage,
    Participant,
    ParticipantStatus,
    VisitStatus,
    WithdrawalReason,
)
from studyportal.errors import DomainError

ENDED_BY_WITHDRAWAL = (VisitStatus.SCHEDULED, VisitStatus.OPEN)


@transaction.atomic
def withdraw(
    participant: Participant,
    *,
    withdrawn_on: dt.date,
    reason: str,
    detail: str = "",
    keep_data: bool,
    today: dt.date,
) -> Participant:
    participant = Participant.objects.select_for_update().get(pk=participant.pk)
    if participant.status == ParticipantStatus.WITHDRAWN:
        raise DomainError(f"{participant.code} has already withdrawn.")
    if withdrawn_on > today:
        raise DomainError(
            "The withdrawal date cannot be in the future.", field="withdrawn_on"
        )
    if withdrawn_on < participant.enrolled_on:
        raise DomainError(
            "The withdrawal date cannot be before enrolment.", field="withdrawn_on"
        )
    if reason == WithdrawalReason.OTHER and not detail.strip():
        raise DomainError("Say what the other reason was.", field="detail")
    participant.status = ParticipantStatus.WITHDRAWN
    participant.withdrawn_on = withdrawn_on
    participant.withdrawal_reason = reason
    participant.withdrawal_detail = detail.strip()
    participant.keep_data = keep_data
    participant._change_reason = (
        f"Withdrawn: {participant.get_withdrawal_reason_display()}"
    )
    participant.save()
    OutboundMessage.objects.filter(
        visit__participant=participant, status=MessageStatus.PENDING
    ).update(status=MessageStatus.CANCELLED, error="participant withdrew")
    for visit in participant.visits.filter(status__in=ENDED_BY_WITHDRAWAL):
        visit.status = VisitStatus.WITHDRAWN
        visit.next_message_at = None
        visit.save(update_fields=["status", "next_message_at"])
    return participant


@transaction.atomic
def reactivate(participant: Participant, *, reason: str, today: dt.date) -> Participant:
    """Undo a withdrawal or loss to follow-up; visits whose window is open reopen."""
    participant = Participant.objects.select_for_update().get(pk=participant.pk)
    if participant.status not in (ParticipantStatus.WITHDRAWN, ParticipantStatus.LOST):
        raise DomainError(f"{participant.code} is not withdrawn or lost.")
    if not reason.strip():
        raise DomainError("Say why the participant is re-activated.", field="reason")
    participant.status = ParticipantStatus.ACTIVE
    participant.withdrawn_on = None
    participant.withdrawal_reason = ""
    participant.withdrawal_detail = ""
    participant._change_reason = f"Re-activated: {reason.strip()}"
    participant.save()
    participant.lost_on = None
    participant.lost_reason = ""
    participant.lost_detail = ""
    participant.save(update_fields=["lost_on", "lost_reason", "lost_detail"])
    for visit in participant.visits.filter(
        status__in=(VisitStatus.WITHDRAWN, VisitStatus.SCHEDULED, VisitStatus.OPEN)
    ):
        dates = schedule.Window(visit.opens_on, visit.due_on, visit.closes_on)
        visit.status = dates.status_on(today)
        visit.save(update_fields=["status"])
        reminders.refresh(visit)
    followup.complete_finished_participants(
        Participant.objects.filter(pk=participant.pk)
    )
    participant.refresh_from_db(fields=["status"])
    return participant
