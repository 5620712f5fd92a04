"""The send_reminders command, and the beat tasks that do the same on schedule.

The command reads the clock, so participants are enrolled days before today with
their visits pinned to 10:00 London time: what is due does not depend on the hour
the suite runs.
"""

import datetime as dt
import io
import zoneinfo

import pytest
from django.conf import settings
from django.core import mail
from django.core.management import call_command
from django.utils import timezone

from participants import messaging, reminders, tasks
from participants.models import (
    Channel,
    MessageStatus,
    OutboundMessage,
    ParticipantContact,
    ReminderPolicy,
    Visit,
    VisitStatus,
)
from studyportal.celery import app
from tests.participants import journeys

LONDON = zoneinfo.ZoneInfo("Europe/London")


def enrolled_days_ago(site, user, days: int, *, channel=Channel.EMAIL):
    on = timezone.localdate() - dt.timedelta(days=days)
    participant = journeys.enrol(
        site, user, details=journeys.contact(preferred_channel=channel), on=on
    )
    participant.visits.update(
        created_at=dt.datetime.combine(on, dt.time(10), tzinfo=LONDON)
    )
    for visit in participant.visits.all():
        reminders.refresh(visit)
    return participant


@pytest.fixture
def participant(site_a, staff_a):
    """Ten days in: the invitation and the first reminder are due, the final not."""
    return enrolled_days_ago(site_a, staff_a, 10)


@pytest.fixture
def lapsed(site_a, staff_a):
    """Twenty days in: the baseline closed six days ago, its messages never planned."""
    return enrolled_days_ago(site_a, staff_a, 20)


def run(*args: str) -> list[str]:
    out = io.StringIO()
    call_command("send_reminders", *args, stdout=out)
    return out.getvalue().splitlines()


def database_state() -> tuple:
    return (
        list(Visit.objects.order_by("pk").values_list("status", "next_message_at")),
        list(OutboundMessage.objects.order_by("pk").values()),
        list(ParticipantContact.objects.order_by("pk").values()),
        ReminderPolicy.objects.count(),
    )


def test_a_dry_run_changes_nothing_and_says_what_it_would_plan(participant, lapsed):
    before = database_state()
    lines = run("--dry-run")
    assert database_state() == before
    assert mail.outbox == []
    assert lines[0] == "Visits: would open 0, would mark 1 missed."
    # The lapsed participant's visit would be missed first, so gets nothing.
    code = participant.code
    assert [line.split(", due")[0] for line in lines if line.startswith("  plan ")] == [
        f"  plan {code} baseline: invite by email",
        f"  plan {code} baseline: reminder_1 by email",
    ]
    assert lines[-2:] == [
        "Messages: would plan 2.",
        "Messages: would send 0 already pending.",
    ]


def test_a_dry_run_plans_what_the_real_run_then_plans(participant, lapsed):
    would = [line for line in run("--dry-run") if line.startswith("  plan ")]
    did = [line for line in run() if line.startswith("  plan ")]
    assert would == did


def test_a_run_updates_visits_then_plans_and_sends_what_is_due(participant, lapsed):
    lines = run()
    assert lines[0] == "Visits: 0 opened, 1 missed."
    assert lines[-2:] == ["Messages: planned 2.", "Messages: 2 sent."]
    assert [email.subject for email in mail.outbox] == [
        "Back Pain Partnership: your questionnaire is ready",
        "Back Pain Partnership: a reminder about your questionnaire",
    ]
    statuses = OutboundMessage.objects.values_list("status", flat=True)
    assert list(statuses) == [MessageStatus.SENT, MessageStatus.SENT]
    assert lapsed.visits.get(timepoint__code="baseline").status == VisitStatus.MISSED


def test_a_second_run_finds_nothing_due(participant):
    run()
    assert run()[-2:] == ["Messages: planned 0.", "Messages: none due."]
    assert len(mail.outbox) == 2


def test_a_run_gives_back_a_stale_claim_and_sends_it(participant):
    reminders.plan_due()
    message = OutboundMessage.objects.earliest("due_at")
    OutboundMessage.objects.filter(pk=message.pk).update(
        status=MessageStatus.SENDING,
        claimed_at=timezone.now() - dt.timedelta(hours=1),
    )
    lines = run()
    assert "Released 1 stale claim(s)." in lines
    assert lines[-1] == "Messages: 2 sent."


def test_a_failed_send_is_reported_and_the_others_still_go(
    site_a, staff_a, monkeypatch, sms_outbox
):
    enrolled_days_ago(site_a, staff_a, 10, channel=Channel.BOTH)

    def refuse(*args):
        raise ValueError("recipient rejected")

    monkeypatch.setattr(messaging, "_send_email", refuse)
    summary = run()[-1]
    assert summary.startswith("Messages: ")
    assert sorted(summary.removeprefix("Messages: ").rstrip(".").split(", ")) == [
        "2 failed (ValueError)",
        "2 sent",
    ]
    assert len(sms_outbox) == 2


# ---------------------------------------------------------------------------
# The beat tasks


def test_the_planning_task_queues_each_due_message_for_sending(
    participant, monkeypatch
):
    queued = []
    monkeypatch.setattr(tasks.send_message, "delay", queued.append)
    assert tasks.plan_and_send() == {"released": 0, "planned": 2, "queued": 2}
    assert sorted(queued) == sorted(
        OutboundMessage.objects.values_list("pk", flat=True)
    )


def test_the_status_task_updates_visits_for_today(participant, lapsed):
    assert tasks.update_visit_statuses() == {
        "opened": 0,
        "missed": 1,
        "completed": 0,
    }


def test_the_beat_runs_the_planning_and_status_tasks_before_they_go_stale():
    app.loader.import_default_modules()
    scheduled = {
        entry["task"]: entry for entry in settings.CELERY_BEAT_SCHEDULE.values()
    }
    for name in (
        "participants.tasks.plan_and_send",
        "participants.tasks.update_visit_statuses",
    ):
        assert name in app.tasks
        entry = scheduled[name]
        assert 0 < entry["options"]["expires"] < entry["schedule"]
