"""Reminders: when each message is due, and planning due messages into the outbox.

A visit's messages follow the study's ReminderPolicy: an invitation when the
window opens, reminders some days after, a final one shortly before it closes.
Times are worked out in the participant's own time zone (so a reminder keeps its
local hour across a daylight-saving change) and moved out of quiet hours.

Each open visit carries ``next_message_at``; the planner reads only visits whose
moment has come, through an index, so its cost follows the number of messages
due rather than the number of participants.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Iterable
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from participants.messaging import channels_for
from participants.models import (
    MessageKind,
    MessageStatus,
    OutboundMessage,
    ParticipantStatus,
    ReminderPolicy,
    Study,
    Visit,
    VisitStatus,
)

PLAN_BATCH = 1000
# A claimed message whose worker died is given back after this long; it is longer
# than any single send can take (the task's hard time limit is far shorter).
STALE_CLAIM = dt.timedelta(minutes=15)


def policy_for(study: Study) -> ReminderPolicy:
    policy = getattr(study, "_reminder_policy", None)
    if policy is None:
        policy, _ = ReminderPolicy.objects.get_or_create(study=study)
        study._reminder_policy = policy
    return policy


def _zone(name: str) -> zoneinfo.ZoneInfo:
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo("Europe/London")


def local_moment(day: dt.date, at: dt.time, zone: zoneinfo.ZoneInfo) -> dt.datetime:
    """``day`` at the local wall-clock time ``at``, as an aware UTC datetime.

    A time that does not exist (skipped by the spring change) moves forward by
    the gap; an ambiguous one (autumn) takes the first occurrence.
    """
    # fold=0 reads a skipped time with the offset from before the change, which
    # lands it later by the gap (01:30 becomes 02:30 BST); fold=1 would go back.
    naive = dt.datetime.combine(day, at)
    return naive.replace(tzinfo=zone, fold=0).astimezone(dt.UTC)


def in_quiet_hours(moment: dt.datetime, policy: ReminderPolicy, zone) -> bool:
    local = moment.astimezone(zone).time()
    start, end = policy.quiet_from, policy.quiet_until
    if start > end:  # across midnight, e.g. 21:00-08:00
        return local >= start or local < end
    return start <= local < end


def next_allowed(moment: dt.datetime, policy: ReminderPolicy, zone) -> dt.datetime:
    """``moment``, or the end of the quiet hours it falls in."""
    if not in_quiet_hours(moment, policy, zone):
        return moment
    local = moment.astimezone(zone)
    day = local.date()
    if local.time() >= policy.quiet_until and policy.quiet_from > policy.quiet_until:
        day += dt.timedelta(days=1)
    return local_moment(day, policy.quiet_until, zone)


@dataclass(frozen=True)
class Planned:
    kind: str
    due_at: dt.datetime


def schedule_for(visit: Visit, policy: ReminderPolicy, zone) -> list[Planned]:
    """Every message the policy gives this visit, in time order."""
    opening = local_moment(visit.opens_on, dt.time(0, 0), zone)
    # A visit opened at enrolment starts when it was created, not at midnight.
    if visit.created_at and visit.created_at.astimezone(zone).date() == visit.opens_on:
        opening = max(opening, visit.created_at)
    planned = []
    if policy.invite_when_open:
        planned.append(Planned(MessageKind.INVITE, next_allowed(opening, policy, zone)))
    final = None
    if policy.final_reminder_days_before_close:
        day = visit.closes_on - dt.timedelta(
            days=policy.final_reminder_days_before_close
        )
        if day > visit.opens_on:
            final = next_allowed(
                local_moment(day, policy.send_time, zone), policy, zone
            )
    for kind, days in (
        (MessageKind.REMINDER_1, policy.first_reminder_days),
        (MessageKind.REMINDER_2, policy.second_reminder_days),
    ):
        if not days:
            continue
        day = visit.opens_on + dt.timedelta(days=days)
        due = next_allowed(local_moment(day, policy.send_time, zone), policy, zone)
        # The final reminder replaces any reminder that would come on or after it.
        if day > visit.closes_on or (final is not None and due >= final):
            continue
        planned.append(Planned(kind, due))
    if final is not None:
        planned.append(Planned(MessageKind.FINAL, final))
    return sorted(planned, key=lambda item: item.due_at)


def _participant_zone(visit: Visit) -> zoneinfo.ZoneInfo:
    contact = getattr(visit.participant, "contact", None)
    return _zone(contact.time_zone if contact else visit.participant.site.time_zone)


def refresh(visit: Visit, *, planned_kinds: Iterable[str] = ()) -> dt.datetime | None:
    """Set when the planner should next look at this visit; returns that moment."""
    if visit.status not in (VisitStatus.SCHEDULED, VisitStatus.OPEN):
        moment = None
    else:
        done = set(planned_kinds) | set(
            visit.messages.values_list("kind", flat=True).distinct()
        )
        policy = policy_for(visit.participant.study)
        upcoming = [
            item.due_at
            for item in schedule_for(visit, policy, _participant_zone(visit))
            if item.kind not in done
        ]
        moment = upcoming[0] if upcoming else None
    Visit.objects.filter(pk=visit.pk).update(next_message_at=moment)
    visit.next_message_at = moment
    return moment


@dataclass
class PlanResult:
    visits: int = 0
    created: int = 0
    descriptions: list[str] | None = None


def plan_due(now: dt.datetime | None = None, *, dry_run: bool = False) -> PlanResult:
    """Create outbox rows for every message that has come due."""
    now = now or timezone.now()
    result = PlanResult(descriptions=[])
    while True:
        batch = _plan_batch(now, dry_run=dry_run, result=result)
        if batch < PLAN_BATCH or dry_run:
            return result


@transaction.atomic
def _plan_batch(now: dt.datetime, *, dry_run: bool, result: PlanResult) -> int:
    visits = list(
        Visit.objects.select_for_update(skip_locked=True, of=("self",))
        .filter(
            next_message_at__lte=now,
            status=VisitStatus.OPEN,
            participant__status=ParticipantStatus.ACTIVE,
        )
        .select_related(
            "participant__contact",
            "participant__study",
            "participant__site",
            "timepoint",
        )
        .order_by("next_message_at")[:PLAN_BATCH]
    )
    planned_kinds: dict[int, set[str]] = {visit.pk: set() for visit in visits}
    for visit_id, kind in OutboundMessage.objects.filter(
        visit_id__in=planned_kinds
    ).values_list("visit_id", "kind"):
        planned_kinds[visit_id].add(kind)
    policies: dict[int, ReminderPolicy] = {}
    rows = []
    for visit in visits:
        study = visit.participant.study
        if study.pk not in policies:
            policies[study.pk] = policy_for(study)
        policy = policies[study.pk]
        zone = _participant_zone(visit)
        existing = planned_kinds[visit.pk]
        schedule = schedule_for(visit, policy, zone)
        due = [i for i in schedule if i.due_at <= now and i.kind not in existing]
        upcoming = [i for i in schedule if i.due_at > now and i.kind not in existing]
        for item in due:
            for channel in channels_for(visit):
                rows.append(
                    OutboundMessage(
                        visit=visit, kind=item.kind, channel=channel, due_at=item.due_at
                    )
                )
                result.descriptions.append(
                    f"{visit.participant.code} {visit.timepoint.code}: "
                    f"{item.kind} by {channel}, due {item.due_at:%Y-%m-%d %H:%M} UTC"
                )
        if not dry_run:
            moment = upcoming[0].due_at if upcoming else None
            Visit.objects.filter(pk=visit.pk).update(next_message_at=moment)
    if not dry_run:
        OutboundMessage.objects.bulk_create(rows, ignore_conflicts=True)
    result.created += len(rows)
    result.visits += len(visits)
    return len(visits)


def due_message_ids(now: dt.datetime | None = None, *, limit: int = 5000) -> list[int]:
    """Pending messages whose time has come, oldest first (index on status, due_at)."""
    now = now or timezone.now()
    return list(
        OutboundMessage.objects.filter(status=MessageStatus.PENDING, due_at__lte=now)
        .order_by("due_at")
        .values_list("id", flat=True)[:limit]
    )


MAX_ATTEMPTS = 6


def give_up_on_repeated_failures() -> int:
    """Messages that failed to reach the provider again and again stop trying."""
    return OutboundMessage.objects.filter(
        status=MessageStatus.PENDING, attempts__gte=MAX_ATTEMPTS
    ).update(
        status=MessageStatus.FAILED, error=f"gave up after {MAX_ATTEMPTS} attempts"
    )


def release_stale_claims(now: dt.datetime | None = None) -> int:
    """Give back messages claimed by a worker that died before sending."""
    now = now or timezone.now()
    return OutboundMessage.objects.filter(
        status=MessageStatus.SENDING, claimed_at__lt=now - STALE_CLAIM
    ).update(status=MessageStatus.PENDING, error="released after a worker stopped")


@transaction.atomic
def replan_for_policy(study: Study) -> int:
    """After a policy change: move unsent messages, leave sent ones alone."""
    study._reminder_policy = None
    visits = Visit.objects.filter(
        participant__study=study,
        participant__status=ParticipantStatus.ACTIVE,
        status__in=(VisitStatus.SCHEDULED, VisitStatus.OPEN),
    ).select_related("participant__contact", "participant__study", "participant__site")
    moved = 0
    for visit in visits:
        policy = policy_for(study)
        schedule = {
            item.kind: item.due_at
            for item in schedule_for(visit, policy, _participant_zone(visit))
        }
        pending = visit.messages.filter(status=MessageStatus.PENDING)
        for message in pending:
            if message.kind not in schedule:
                message.status = MessageStatus.CANCELLED
                message.error = "no longer in the reminder policy"
                message.save(update_fields=["status", "error"])
            elif message.due_at != schedule[message.kind]:
                message.due_at = schedule[message.kind]
                message.save(update_fields=["due_at"])
            else:
                continue
            moved += 1
        refresh(visit)
    return moved


def cancel_pending(visit_filter: Q, reason: str) -> int:
    return OutboundMessage.objects.filter(
        visit_filter, status=MessageStatus.PENDING
    ).update(status=MessageStatus.CANCELLED, error=reason)
