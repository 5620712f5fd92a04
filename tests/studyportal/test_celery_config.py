"""The Celery app's configuration and its beat schedule."""

from django.conf import settings

from studyportal.celery import app


def test_beat_schedule_names_only_registered_tasks():
    app.loader.import_default_modules()
    assert settings.CELERY_BEAT_SCHEDULE, "the schedule has at least one job"
    for name, entry in settings.CELERY_BEAT_SCHEDULE.items():
        assert entry["task"] in app.tasks, f"{name} names unknown task {entry['task']}"


def test_every_beat_entry_expires_before_its_next_run():
    for name, entry in settings.CELERY_BEAT_SCHEDULE.items():
        expires = entry.get("options", {}).get("expires")
        assert expires is not None, f"{name} has no expiry"
        assert expires < entry["schedule"], f"{name} expires after its interval"


def test_tasks_use_json_and_late_acknowledgement():
    assert app.conf.task_serializer == "json"
    assert app.conf.accept_content == ["json"]
    assert app.conf.task_acks_late is True
    assert app.conf.task_time_limit > app.conf.task_soft_time_limit > 0


def test_clear_expired_sessions_removes_only_expired_ones(db):
    from datetime import timedelta

    from django.contrib.sessions.backends.db import SessionStore
    from django.contrib.sessions.models import Session
    from django.utils import timezone

    from studyportal.tasks import clear_expired_sessions

    live, stale = SessionStore(), SessionStore()
    live.create()
    stale.create()
    Session.objects.filter(session_key=stale.session_key).update(
        expire_date=timezone.now() - timedelta(days=1)
    )
    clear_expired_sessions()
    assert list(Session.objects.values_list("session_key", flat=True)) == [
        live.session_key
    ]
