"""The follow-up work list: visits in their window to chase, and what staff did.

Which visits are open or overdue is ``participants.followup``'s to say, as on
every other page.

Rows are read in a constant number of queries however long the list is: the
visits with their participant, site, timepoint and contact details in one, and
the latest message and latest contact attempt of every visit in one each.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from django.db import transaction
from django.db.models import F, Prefetch, Q, QuerySet, Window
from django.db.models.functions import Coalesce, RowNumber
from django.utils import timezone

from participants import followup, reminders
from participants.followup import FollowUpState
from participants.messaging import CHANNELS
from participants.models import (
    ContactAttempt,
    LostReason,
    MessageStatus,
    OutboundMessage,
    Participant,
    ParticipantContact,
    ParticipantStatus,
    Site,
    Timepoint,
    Visit,
)
from studyportal import access
from studyportal.errors import DomainError

# Pending or sending messages have no result yet; the list shows what happened.
REPORTED_MESSAGES = (MessageStatus.SENT, MessageStatus.PRINTED, MessageStatus.FAILED)


@dataclass(frozen=True)
class WorkItem:
    """One visit in its window (open or overdue) on the work list."""

    visit: Visit
    days_left: int
    overdue: bool
    last_message: OutboundMessage | None
    last_attempt: ContactAttempt | None

    @property
    def participant(self) -> Participant:
        return self.visit.participant

    @property
    def code(self) -> str:
        return self.visit.participant.code

    @property
    def site(self) -> Site:
        return self.visit.participant.site

    @property
    def timepoint(self) -> Timepoint:
        return self.visit.timepoint

    @property
    def contact(self) -> ParticipantContact | None:
        return getattr(self.visit.participant, "contact", None)

    @property
    def channels(self) -> list[str]:
        """The channels a re-sent link would go by; empty if none was chosen."""
        contact = self.contact
        return CHANNELS[contact.preferred_channel] if contact else []


def _latest_per_visit(queryset: QuerySet, *, newest_first: list) -> QuerySet:
    """Only the first row of each visit, so a prefetch loads one row per visit."""
    ranked = queryset.annotate(
        rank=Window(RowNumber(), partition_by=F("visit_id"), order_by=newest_first)
    )
    return ranked.filter(rank=1)


def worklist_visits(
    user,
    *,
    today: dt.date,
    site: Site | None = None,
    timepoint: Timepoint | None = None,
    overdue_only: bool = False,
) -> QuerySet[Visit]:
    """Visits in their window (open or overdue) that the user may see, closing
    soonest first; each carries its ``followup_state``."""
    visits = followup.with_states(
        Visit.objects.filter(participant__in=access.participants_for(user)),
        today=today,
    )
    states = [FollowUpState.OVERDUE] if overdue_only else list(followup.IN_WINDOW)
    visits = visits.filter(**{f"{followup.STATE_FIELD}__in": states})
    if site is not None:
        visits = visits.filter(participant__site=site)
    if timepoint is not None:
        visits = visits.filter(timepoint=timepoint)
    messages = _latest_per_visit(
        OutboundMessage.objects.filter(status__in=REPORTED_MESSAGES).annotate(
            happened_at=Coalesce("sent_at", "claimed_at", "due_at")
        ),
        newest_first=[F("happened_at").desc(), F("pk").desc()],
    )
    attempts = _latest_per_visit(
        ContactAttempt.objects.select_related("made_by"),
        newest_first=[F("made_at").desc(), F("pk").desc()],
    )
    return (
        visits.select_related("timepoint", "participant__site", "participant__contact")
        .prefetch_related(
            Prefetch("messages", queryset=messages, to_attr="latest_messages"),
            Prefetch("contact_attempts", queryset=attempts, to_attr="latest_attempts"),
        )
        .order_by("closes_on", "due_on", "participant__code", "timepoint__order")
    )


def work_items(visits: Iterable[Visit], *, today: dt.date) -> list[WorkItem]:
    """Rows for visits from ``worklist_visits`` (or a page of them)."""
    return [
        WorkItem(
            visit=visit,
            days_left=(visit.closes_on - today).days,
            overdue=getattr(visit, followup.STATE_FIELD) == FollowUpState.OVERDUE,
            last_message=next(iter(visit.latest_messages), None),
            last_attempt=next(iter(visit.latest_attempts), None),
        )
        for visit in visits
    ]


def worklist(
    user,
    *,
    today: dt.date,
    site: Site | None = None,
    timepoint: Timepoint | None = None,
    overdue_only: bool = False,
) -> list[WorkItem]:
    """The whole work list for ``user``, sorted by days left in the window."""
    visits = worklist_visits(
        user, today=today, site=site, timepoint=timepoint, overdue_only=overdue_only
    )
    return work_items(visits, today=today)


@transaction.atomic
def log_attempt(
    *,
    visit: Visit,
    channel: str,
    outcome: str,
    note: str,
    user,
    today: dt.date | None = None,
) -> ContactAttempt:
    """Record one attempt to reach a participant about a visit in its window."""
    today = today or timezone.localdate()
    visit = (
        Visit.objects.select_for_update(of=("self",))
        .select_related("participant", "timepoint")
        .get(pk=visit.pk)
    )
    if visit.participant.status != ParticipantStatus.ACTIVE:
        raise DomainError(
            f"{visit.participant.code} is "
            f"{visit.participant.get_status_display().lower()}; "
            "contact attempts are recorded for active participants only."
        )
    state = followup.visit_state(visit, today=today)
    if state not in followup.IN_WINDOW:
        raise DomainError(
            f"The {visit.timepoint.label.lower()} visit is {state.label.lower()}; "
            "contact attempts are recorded for open visits only."
        )
    if channel not in ContactAttempt.Channel.values:
        raise DomainError("Choose how you tried to reach them.", field="channel")
    if outcome not in ContactAttempt.Outcome.values:
        raise DomainError("Choose what happened.", field="outcome")
    return ContactAttempt.objects.create(
        visit=visit, channel=channel, outcome=outcome, note=note.strip(), made_by=user
    )


@transaction.atomic
def mark_lost(
    participant: Participant,
    *,
    reason: str,
    detail: str = "",
    today: dt.date,
    user,
) -> Participant:
    """Stop chasing a participant who cannot be reached.

    Unlike a withdrawal the visits keep their status (the participant did not
    ask to stop), but nothing more is planned or sent. ``reason`` is a
    ``LostReason``; ``detail`` is the coordinator's own words, which stay out of
    the history's change reason and out of anything investigators see.
    """
    participant = Participant.objects.select_for_update().get(pk=participant.pk)
    if participant.status == ParticipantStatus.WITHDRAWN:
        raise DomainError(
            f"{participant.code} has withdrawn, so cannot be lost to follow-up."
        )
    if participant.status != ParticipantStatus.ACTIVE:
        raise DomainError(
            f"{participant.code} is {participant.get_status_display().lower()}; "
            "only active participants can be marked lost to follow-up."
        )
    if reason not in LostReason.values:
        raise DomainError(
            "Choose why the participant is lost to follow-up.", field="reason"
        )
    participant.status = ParticipantStatus.LOST
    participant.lost_on = today
    participant.lost_reason = reason
    participant.lost_detail = detail.strip()
    participant._change_reason = (
        f"Lost to follow-up: {participant.get_lost_reason_display()}"
    )
    participant._history_user = user
    participant.save()
    reminders.cancel_pending(
        Q(visit__participant=participant), "participant lost to follow-up"
    )
    # next_message_at is not part of a visit's history, so a bulk update is enough.
    participant.visits.update(next_message_at=None)
    return participant
