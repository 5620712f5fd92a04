"""When reminders are due, in the participant's local time, and planning them.

Every moment is fixed: tests pass ``now`` in, and visits are pinned to the time
they were created, so nothing depends on the clock or the machine's time zone.
"""

import dataclasses
import datetime as dt
import smtplib
import zoneinfo

import pytest
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from instruments import questionnaire
from participants import messaging, reminders, withdrawal
from participants.models import (
    Channel,
    MessageKind,
    MessageStatus,
    OutboundMessage,
    Participant,
    ParticipantStatus,
    ReminderPolicy,
    Visit,
    VisitStatus,
    WithdrawalReason,
)
from tests.participants import journeys
from tests.questionnaire.conftest import complete_answers

UTC = dt.UTC
LONDON = zoneinfo.ZoneInfo("Europe/London")
SYDNEY = zoneinfo.ZoneInfo("Australia/Sydney")
NEW_YORK = zoneinfo.ZoneInfo("America/New_York")

SPRING_FORWARD = dt.date(2026, 3, 29)  # London: 01:00 GMT becomes 02:00 BST
FALL_BACK = dt.date(2026, 10, 25)  # London: 02:00 BST becomes 01:00 GMT
ENROLLED_ON = dt.date(2026, 6, 1)  # summer time; baseline closes 15 June


def local(day: dt.date, hour: int, minute: int = 0, zone=LONDON) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=zone)


def utc(month: int, mday: int, hour: int) -> dt.datetime:
    return dt.datetime(2026, month, mday, hour, tzinfo=UTC)


def day(n: int, start: dt.date = ENROLLED_ON) -> dt.date:
    return start + dt.timedelta(days=n)


def visit_window(opens_on: dt.date, closes_on: dt.date, *, created_at=None) -> Visit:
    """An unsaved visit: schedule arithmetic needs only its dates."""
    return Visit(
        opens_on=opens_on, due_on=opens_on, closes_on=closes_on, created_at=created_at
    )


def kinds_and_times(planned, zone=LONDON) -> list[tuple[str, dt.datetime]]:
    return [(item.kind, item.due_at.astimezone(zone)) for item in planned]


# ---------------------------------------------------------------------------
# Local moments across daylight-saving changes and time zones


def test_a_time_skipped_in_spring_moves_forward_by_the_gap():
    moment = reminders.local_moment(SPRING_FORWARD, dt.time(1, 30), LONDON)
    assert moment == dt.datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
    assert moment.astimezone(LONDON).time() == dt.time(2, 30)


def test_a_time_repeated_in_autumn_takes_the_first_occurrence():
    moment = reminders.local_moment(FALL_BACK, dt.time(1, 30), LONDON)
    assert moment == dt.datetime(2026, 10, 25, 0, 30, tzinfo=UTC)
    assert moment.astimezone(LONDON).utcoffset() == dt.timedelta(hours=1)


@pytest.mark.parametrize(
    ("on", "utc_hour"),
    [
        (day(-1, SPRING_FORWARD), 10),
        (SPRING_FORWARD, 9),
        (day(-1, FALL_BACK), 9),
        (FALL_BACK, 10),
    ],
)
def test_ten_oclock_local_stays_ten_oclock_when_the_clocks_change(on, utc_hour):
    moment = reminders.local_moment(on, dt.time(10, 0), LONDON)
    assert moment.tzinfo == UTC
    assert moment.astimezone(LONDON).time() == dt.time(10, 0)
    assert moment == dt.datetime.combine(on, dt.time(utc_hour, 0), tzinfo=UTC)


def test_a_reminder_keeps_its_local_hour_after_the_spring_change():
    # Opens on Wednesday in GMT; the first reminder falls a week later, in BST.
    visit = visit_window(dt.date(2026, 3, 25), dt.date(2026, 4, 8))
    planned = reminders.schedule_for(visit, ReminderPolicy(), LONDON)
    due = dict(kinds_and_times(planned))
    assert due[MessageKind.INVITE] == local(dt.date(2026, 3, 25), 8)
    assert due[MessageKind.REMINDER_1] == local(dt.date(2026, 4, 1), 10)
    assert due[MessageKind.INVITE].utcoffset() == dt.timedelta(0)
    assert due[MessageKind.REMINDER_1].utcoffset() == dt.timedelta(hours=1)


def test_a_reminder_keeps_its_local_hour_after_the_autumn_change():
    visit = visit_window(dt.date(2026, 10, 20), dt.date(2026, 11, 3))
    planned = reminders.schedule_for(visit, ReminderPolicy(), LONDON)
    due = dict(kinds_and_times(planned))
    assert due[MessageKind.INVITE].utcoffset() == dt.timedelta(hours=1)
    assert due[MessageKind.REMINDER_1] == local(dt.date(2026, 10, 27), 10)
    assert due[MessageKind.REMINDER_1].utcoffset() == dt.timedelta(0)
    assert due[MessageKind.REMINDER_1].astimezone(UTC).hour == 10


@pytest.mark.parametrize(
    ("zone", "invite_utc", "reminder_utc"),
    [
        # Sydney is on AEST (+10) in August; the invitation falls the UTC day before.
        (SYDNEY, utc(8, 15, 22), utc(8, 23, 0)),
        (NEW_YORK, utc(8, 16, 12), utc(8, 23, 14)),  # EDT (-4)
        (LONDON, utc(8, 16, 7), utc(8, 23, 9)),  # BST (+1)
    ],
)
def test_participants_hear_from_the_study_in_their_own_local_time(
    zone, invite_utc, reminder_utc
):
    visit = visit_window(dt.date(2026, 8, 16), dt.date(2026, 9, 13))
    planned = reminders.schedule_for(visit, ReminderPolicy(), zone)
    due = {item.kind: item.due_at for item in planned}
    assert due[MessageKind.INVITE] == invite_utc
    assert due[MessageKind.REMINDER_1] == reminder_utc
    assert due[MessageKind.INVITE].astimezone(zone).time() == dt.time(8, 0)
    assert due[MessageKind.REMINDER_1].astimezone(zone).time() == dt.time(10, 0)


# ---------------------------------------------------------------------------
# Quiet hours


@pytest.mark.parametrize(
    ("at", "allowed"),
    [
        (local(ENROLLED_ON, 22, 30), local(day(1), 8)),
        (local(ENROLLED_ON, 21, 0), local(day(1), 8)),
        (local(ENROLLED_ON, 0, 0), local(ENROLLED_ON, 8)),
        (local(ENROLLED_ON, 7, 59), local(ENROLLED_ON, 8)),
        (local(ENROLLED_ON, 8, 0), local(ENROLLED_ON, 8)),
        (local(ENROLLED_ON, 20, 59), local(ENROLLED_ON, 20, 59)),
    ],
)
def test_quiet_hours_across_midnight_hold_a_message_until_eight(at, allowed):
    policy = ReminderPolicy()  # quiet 21:00-08:00
    assert reminders.next_allowed(at.astimezone(UTC), policy, LONDON) == allowed
    assert reminders.in_quiet_hours(at, policy, LONDON) == (at != allowed)


def test_quiet_hours_ending_on_the_spring_change_end_at_eight_summer_time():
    at = local(day(-1, SPRING_FORWARD), 22, 30)
    allowed = reminders.next_allowed(at, ReminderPolicy(), LONDON)
    assert allowed == dt.datetime(2026, 3, 29, 7, 0, tzinfo=UTC)
    assert allowed.astimezone(LONDON).time() == dt.time(8, 0)


def test_quiet_hours_are_the_participants_not_the_servers():
    # 22:30 in London is 07:30 the next morning in Sydney: quiet there until 08:00.
    at = local(ENROLLED_ON, 22, 30)
    allowed = reminders.next_allowed(at, ReminderPolicy(), SYDNEY)
    assert allowed == local(day(1), 8, zone=SYDNEY)


@pytest.mark.parametrize(
    ("at", "allowed"),
    [
        (local(ENROLLED_ON, 11, 59), local(ENROLLED_ON, 11, 59)),
        (local(ENROLLED_ON, 12, 0), local(ENROLLED_ON, 13, 0)),
        (local(ENROLLED_ON, 12, 30), local(ENROLLED_ON, 13, 0)),
        (local(ENROLLED_ON, 13, 0), local(ENROLLED_ON, 13, 0)),
        (local(ENROLLED_ON, 22, 30), local(ENROLLED_ON, 22, 30)),
    ],
)
def test_quiet_hours_within_one_day_end_the_same_day(at, allowed):
    policy = ReminderPolicy(quiet_from=dt.time(12, 0), quiet_until=dt.time(13, 0))
    assert reminders.next_allowed(at, policy, LONDON) == allowed


# ---------------------------------------------------------------------------
# The schedule a policy gives a visit


BASELINE = visit_window(ENROLLED_ON, day(14), created_at=local(ENROLLED_ON, 10))


def test_a_visit_created_late_in_the_evening_is_invited_the_next_morning():
    visit = visit_window(ENROLLED_ON, day(14), created_at=local(ENROLLED_ON, 22))
    (invite, *_) = reminders.schedule_for(visit, ReminderPolicy(), LONDON)
    assert (invite.kind, invite.due_at) == (MessageKind.INVITE, local(day(1), 8))


def test_a_visit_created_in_the_day_is_invited_at_once():
    (invite, *_) = reminders.schedule_for(BASELINE, ReminderPolicy(), LONDON)
    assert (invite.kind, invite.due_at) == (MessageKind.INVITE, local(ENROLLED_ON, 10))


def test_a_visit_is_not_invited_before_it_was_created_east_of_utc():
    # 09:00 in Sydney is still the previous day in UTC.
    created = local(ENROLLED_ON, 9, zone=SYDNEY)
    visit = visit_window(ENROLLED_ON, day(14), created_at=created)
    (invite, *_) = reminders.schedule_for(visit, ReminderPolicy(), SYDNEY)
    assert invite.due_at == created


def test_a_follow_up_is_invited_when_it_opens_and_reminded_until_it_closes():
    # Day 90 +/- 14, the visit created at enrolment months before.
    visit = visit_window(day(76), day(104), created_at=local(ENROLLED_ON, 10))
    planned = reminders.schedule_for(visit, ReminderPolicy(), LONDON)
    assert kinds_and_times(planned) == [
        (MessageKind.INVITE, local(day(76), 8)),
        (MessageKind.REMINDER_1, local(day(83), 10)),
        (MessageKind.REMINDER_2, local(day(90), 10)),
        (MessageKind.FINAL, local(day(102), 10)),
    ]


def test_a_reminder_on_or_after_the_final_one_is_dropped():
    # Baseline is open 14 days: the second reminder (day 14) would follow the final.
    planned = reminders.schedule_for(BASELINE, ReminderPolicy(), LONDON)
    assert kinds_and_times(planned) == [
        (MessageKind.INVITE, local(ENROLLED_ON, 10)),
        (MessageKind.REMINDER_1, local(day(7), 10)),
        (MessageKind.FINAL, local(day(12), 10)),
    ]


@pytest.mark.parametrize(
    ("switched_off", "kinds"),
    [
        ({"invite_when_open": False}, ["reminder_1", "final"]),
        ({"first_reminder_days": 0}, ["invite", "final"]),
        # Without a final reminder the second one, on the closing day, stays.
        (
            {"final_reminder_days_before_close": 0},
            ["invite", "reminder_1", "reminder_2"],
        ),
        (
            {
                "first_reminder_days": 0,
                "second_reminder_days": 0,
                "final_reminder_days_before_close": 0,
            },
            ["invite"],
        ),
    ],
)
def test_a_policy_field_set_to_zero_switches_its_message_off(switched_off, kinds):
    planned = reminders.schedule_for(BASELINE, ReminderPolicy(**switched_off), LONDON)
    assert [item.kind for item in planned] == kinds


def test_reminders_come_at_the_studys_send_time_moved_out_of_quiet_hours():
    policy = ReminderPolicy(send_time=dt.time(22, 0))
    planned = reminders.schedule_for(BASELINE, policy, LONDON)
    due = dict(kinds_and_times(planned))
    assert due[MessageKind.REMINDER_1] == local(day(8), 8)
    assert due[MessageKind.FINAL] == local(day(13), 8)


# ---------------------------------------------------------------------------
# Planning due messages into the outbox


NOW = local(ENROLLED_ON, 12)


def enrolled(site, user, *, at=10, channel=Channel.EMAIL, zone="Europe/London"):
    """A participant enrolled on ENROLLED_ON, their visits created at ``at`` o'clock."""
    details = journeys.contact(preferred_channel=channel)
    details = dataclasses.replace(details, time_zone=zone)
    participant = journeys.enrol(site, user, details=details, on=ENROLLED_ON)
    created = local(ENROLLED_ON, at, zone=zoneinfo.ZoneInfo(zone))
    participant.visits.update(created_at=created)
    for visit in participant.visits.all():
        reminders.refresh(visit)
    return participant


def baseline_of(participant: Participant) -> Visit:
    return participant.visits.get(timepoint__code="baseline")


def planned(participant: Participant) -> list[tuple[str, str]]:
    return sorted(
        OutboundMessage.objects.filter(visit__participant=participant).values_list(
            "kind", "channel"
        )
    )


@pytest.fixture
def participant(site_a, staff_a):
    return enrolled(site_a, staff_a)


@pytest.mark.parametrize(
    ("channel", "channels"),
    [
        (Channel.EMAIL, ["email"]),
        (Channel.SMS, ["sms"]),
        (Channel.BOTH, ["email", "sms"]),
        (Channel.NONE, []),
    ],
)
def test_a_due_message_is_planned_once_per_preferred_channel(
    site_a, staff_a, channel, channels
):
    participant = enrolled(site_a, staff_a, channel=channel)
    result = reminders.plan_due(NOW)
    assert planned(participant) == [("invite", c) for c in channels]
    assert result.created == len(channels)
    message_times = set(
        OutboundMessage.objects.values_list("due_at", flat=True).distinct()
    )
    assert message_times <= {local(ENROLLED_ON, 10)}


def test_planning_twice_creates_nothing_new(participant):
    assert reminders.plan_due(NOW).created == 1
    second = reminders.plan_due(NOW)
    assert (second.visits, second.created) == (0, 0)
    assert planned(participant) == [("invite", "email")]


def test_a_visit_not_yet_due_is_left_alone(site_a, staff_a):
    participant = enrolled(site_a, staff_a, at=22)
    visit = baseline_of(participant)
    assert visit.next_message_at == local(day(1), 8)
    result = reminders.plan_due(local(ENROLLED_ON, 23))
    assert (result.visits, result.created) == (0, 0)
    assert planned(participant) == []
    visit.refresh_from_db()
    assert visit.next_message_at == local(day(1), 8)


@pytest.mark.parametrize(
    "status", [VisitStatus.COMPLETED, VisitStatus.WITHDRAWN, VisitStatus.MISSED]
)
def test_a_visit_that_is_no_longer_open_gets_nothing(participant, status):
    # The moment stays set, as if the status changed without clearing it.
    Visit.objects.filter(pk=baseline_of(participant).pk).update(status=status)
    assert reminders.plan_due(local(day(13), 12)).created == 0
    assert planned(participant) == []


@pytest.mark.parametrize(
    "status",
    [ParticipantStatus.WITHDRAWN, ParticipantStatus.LOST, ParticipantStatus.COMPLETED],
)
def test_a_participant_who_is_no_longer_active_gets_nothing(participant, status):
    Participant.objects.filter(pk=participant.pk).update(status=status)
    assert reminders.plan_due(local(day(13), 12)).created == 0
    assert planned(participant) == []


def test_a_withdrawn_participant_gets_nothing(participant):
    withdrawal.withdraw(
        participant,
        withdrawn_on=ENROLLED_ON,
        reason=WithdrawalReason.NO_LONGER_WISHES,
        keep_data=True,
        today=ENROLLED_ON,
    )
    assert reminders.plan_due(local(day(100), 12)).created == 0
    assert planned(participant) == []


def test_the_next_look_advances_kind_by_kind_and_stops_after_the_last(participant):
    visit = baseline_of(participant)
    steps = [
        (local(ENROLLED_ON, 10), "invite", local(day(7), 10)),
        (local(day(7), 10), "reminder_1", local(day(12), 10)),
        (local(day(12), 10), "final", None),
    ]
    for now, kind, next_look in steps:
        assert visit.next_message_at == now
        reminders.plan_due(now)
        visit.refresh_from_db()
        assert visit.messages.latest("due_at").kind == kind
        assert visit.next_message_at == next_look
    assert reminders.plan_due(local(day(14), 12)).created == 0


def test_a_late_planner_catches_up_on_every_message_due(participant):
    reminders.plan_due(local(day(13), 12))
    assert planned(participant) == [
        ("final", "email"),
        ("invite", "email"),
        ("reminder_1", "email"),
    ]
    assert baseline_of(participant).next_message_at is None


def test_a_dry_run_creates_nothing_but_says_what_it_would_plan(site_a, staff_a):
    participant = enrolled(site_a, staff_a, channel=Channel.BOTH)
    result = reminders.plan_due(NOW, dry_run=True)
    assert result.created == 2
    assert result.descriptions == [
        f"{participant.code} baseline: invite by email, due 2026-06-01 09:00 UTC",
        f"{participant.code} baseline: invite by sms, due 2026-06-01 09:00 UTC",
    ]
    assert OutboundMessage.objects.count() == 0
    assert baseline_of(participant).next_message_at == local(ENROLLED_ON, 10)


def test_planning_reads_only_the_visits_that_are_due(site_a, staff_a):
    def queries_to_plan(*, due: int, not_due: int) -> int:
        for _ in range(not_due):
            enrolled(site_a, staff_a, at=22)  # invited tomorrow at 08:00
        for _ in range(due):
            enrolled(site_a, staff_a, at=10)
        with CaptureQueriesContext(connection) as queries:
            assert reminders.plan_due(NOW).created == due
        return len(queries)

    few = queries_to_plan(due=3, not_due=5)
    # Those planned above are no longer due; 45 more are waiting, 3 more are due.
    many = queries_to_plan(due=3, not_due=45)
    assert many == few


# ---------------------------------------------------------------------------
# A policy change re-plans only what has not been sent


def test_a_policy_change_moves_pending_messages_and_leaves_sent_ones(participant):
    visit = baseline_of(participant)
    reminders.plan_due(local(day(12), 12))
    invite = visit.messages.get(kind=MessageKind.INVITE)
    assert messaging.send(invite.pk) == "sent"

    policy = reminders.policy_for(participant.study)
    policy.first_reminder_days = 9
    policy.final_reminder_days_before_close = 0
    policy.save()
    moved = reminders.replan_for_policy(participant.study)

    assert moved == 2
    messages = {m.kind: m for m in visit.messages.all()}
    assert messages["invite"].status == MessageStatus.SENT
    assert messages["invite"].due_at == local(ENROLLED_ON, 10)
    assert messages["reminder_1"].status == MessageStatus.PENDING
    assert messages["reminder_1"].due_at == local(day(9), 10)
    assert messages["final"].status == MessageStatus.CANCELLED
    assert messages["final"].error == "no longer in the reminder policy"
    # With no final reminder, the second one on the closing day is next.
    visit.refresh_from_db()
    assert visit.next_message_at == local(day(14), 10)


def test_a_policy_change_moves_the_next_look_of_visits_not_yet_planned(participant):
    policy = reminders.policy_for(participant.study)
    policy.invite_when_open = False
    policy.save()
    reminders.replan_for_policy(participant.study)
    assert baseline_of(participant).next_message_at == local(day(7), 10)


# ---------------------------------------------------------------------------
# Sending: races with planning, and refusals


@pytest.fixture
def invitation(participant):
    reminders.plan_due(NOW)
    return OutboundMessage.objects.get(visit__participant=participant)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (
            lambda p: Visit.objects.filter(participant=p).update(
                status=VisitStatus.COMPLETED
            ),
            "visit is completed",
        ),
        (
            lambda p: Participant.objects.filter(pk=p.pk).update(
                status=ParticipantStatus.WITHDRAWN
            ),
            "participant is no longer active",
        ),
    ],
    ids=["visit-completed", "participant-withdrawn"],
)
def test_a_message_overtaken_after_planning_is_cancelled_when_sent(
    participant, invitation, change, reason
):
    # The change commits after the message was planned, without cancelling it.
    change(participant)
    assert messaging.send(invitation.pk) == "cancelled"
    invitation.refresh_from_db()
    assert (invitation.status, invitation.error) == (MessageStatus.CANCELLED, reason)
    assert mail.outbox == []


def test_completing_the_questionnaire_stops_the_planned_reminders(site_a, staff_a):
    # Enrolled for real today, because answering checks today's date.
    participant = journeys.enrol(site_a, staff_a)
    visit = baseline_of(participant)
    reminders.plan_due(timezone.now() + dt.timedelta(days=1))
    message = visit.messages.get()
    pages = questionnaire.pages_for(visit)
    for number, answers in complete_answers().items():
        questionnaire.save_page(
            visit, pages[number - 1], answers, mode="web", device="phone"
        )
    assert questionnaire.submit(visit, mode="web", device="phone") is True

    assert messaging.send(message.pk) == "not pending"
    message.refresh_from_db()
    assert (message.status, message.error) == (
        MessageStatus.CANCELLED,
        "visit completed",
    )
    assert reminders.plan_due(timezone.now() + dt.timedelta(days=30)).created == 0
    assert mail.outbox == []


def test_a_message_claimed_twice_goes_once(invitation):
    assert messaging.send(invitation.pk) == "sent"
    assert messaging.send(invitation.pk) == "not pending"
    assert len(mail.outbox) == 1
    invitation.refresh_from_db()
    assert (invitation.status, invitation.attempts) == (MessageStatus.SENT, 1)


def test_a_stale_claim_is_given_back_and_a_fresh_one_kept(participant):
    now = local(day(8), 12)
    reminders.plan_due(now)  # the invitation and the first reminder
    stale, fresh = OutboundMessage.objects.order_by("due_at")
    OutboundMessage.objects.filter(pk=stale.pk).update(
        status=MessageStatus.SENDING, claimed_at=now - dt.timedelta(minutes=16)
    )
    OutboundMessage.objects.filter(pk=fresh.pk).update(
        status=MessageStatus.SENDING, claimed_at=now - dt.timedelta(minutes=14)
    )
    assert reminders.release_stale_claims(now) == 1
    stale.refresh_from_db()
    fresh.refresh_from_db()
    assert stale.status == MessageStatus.PENDING
    assert stale.error == "released after a worker stopped"
    assert fresh.status == MessageStatus.SENDING
    assert reminders.due_message_ids(now) == [stale.pk]
    assert messaging.send(stale.pk) == "sent"


@pytest.mark.parametrize(
    ("code", "status"),
    [(550, MessageStatus.FAILED), (450, MessageStatus.PENDING)],
    ids=["refused-for-good", "refused-for-now"],
)
def test_an_address_refused_for_good_fails_and_one_refused_for_now_waits(
    invitation, monkeypatch, code, status
):
    def refuse(*args):
        raise smtplib.SMTPRecipientsRefused({"alex@example.com": (code, b"no")})

    monkeypatch.setattr(messaging, "_send_email", refuse)
    with pytest.raises(smtplib.SMTPRecipientsRefused):
        messaging.send(invitation.pk)
    invitation.refresh_from_db()
    assert invitation.status == status
    assert invitation.error.startswith("SMTPRecipientsRefused: ")
    # Only a message left pending is found again by the next run.
    assert reminders.due_message_ids(NOW) == (
        [invitation.pk] if status == MessageStatus.PENDING else []
    )
