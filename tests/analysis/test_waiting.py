"""Runs and downloads the broker missed are queued again; abandoned ones are closed."""

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone
from kombu.exceptions import OperationalError

from analysis import runs, tasks, waiting
from analysis.models import AnalysisRun, Download, DownloadStatus, RunStatus
from tests.factories import investigator

NOW = timezone.now()


@pytest.fixture
def study(reference_study):
    return reference_study


@pytest.fixture
def queue(monkeypatch):
    """The task queue as a list; ``queue.down = True`` makes it unreachable."""

    class Queue(list):
        down = False

    queued = Queue()

    def delay_to(name):
        def delay(pk):
            if queued.down:
                raise OperationalError("Error 111 connecting to 127.0.0.1:6379.")
            queued.append((name, pk))

        return delay

    monkeypatch.setattr(tasks.perform_run, "delay", delay_to("run"))
    monkeypatch.setattr(tasks.build_download, "delay", delay_to("download"))
    return queued


def make_run(study, **fields) -> AnalysisRun:
    return AnalysisRun.objects.create(study=study, preset="reference", **fields)


def make_download(study, **fields) -> Download:
    return Download.objects.create(
        study=study, layout="wide", fmt="sav", file_name="f.sav", **fields
    )


def test_a_run_requested_while_the_broker_is_down_waits_and_says_so(
    client, study, queue, django_capture_on_commit_callbacks, caplog
):
    queue.down = True
    client.force_login(investigator(study))
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("analysis:run_list"), {"study": study.pk, "preset": "reference"}
        )

    run = AnalysisRun.objects.get()
    assert response.status_code == 302
    assert (run.status, run.handed_at) == (RunStatus.QUEUED, None)
    assert run.step == runs.BROKER_UNREACHABLE_STEP
    page = client.get(run.get_absolute_url()).content.decode()
    assert "starts by itself" in page
    assert f"analysis run {run.pk} waits for the planner" in caplog.text


def test_a_download_requested_while_the_broker_is_down_waits(
    client, study, queue, django_capture_on_commit_callbacks
):
    queue.down = True
    client.force_login(investigator(study))
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("analysis:downloads", args=[study.pk]),
            {
                "layout": "wide",
                "fmt": "sav",
                "items": "on",
                "scores": "on",
                "dates": "days",
                "identifier": "pseudonym",
                "small_cells_understood": "on",
            },
        )

    download = Download.objects.get()
    assert response.status_code == 302
    assert (download.status, download.handed_at) == (DownloadStatus.QUEUED, None)
    assert client.get(download.get_absolute_url()).status_code == 200


def test_a_run_the_queue_accepted_is_stamped(
    study, queue, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        run = runs.request_run(study=study, preset="reference", user=None)
    run.refresh_from_db()
    assert queue == [("run", run.pk)]
    assert run.handed_at is not None


def test_tidy_queues_what_was_never_handed_over_and_what_was_lost(study, queue):
    never = make_run(study)
    lost = make_run(study, handed_at=NOW - dt.timedelta(minutes=11))
    recent = make_run(study, handed_at=NOW - dt.timedelta(minutes=2))
    make_run(study, status=RunStatus.DONE)
    waiting_download = make_download(study)
    make_download(study, status=DownloadStatus.READY)

    tidied = waiting.tidy(NOW)

    assert (tidied.runs_queued, tidied.downloads_queued) == (2, 1)
    assert queue == [
        ("run", never.pk),
        ("run", lost.pk),
        ("download", waiting_download.pk),
    ]
    never.refresh_from_db()
    recent.refresh_from_db()
    assert never.handed_at == NOW
    assert recent.handed_at == NOW - dt.timedelta(minutes=2)
    # Handed over just now: the next round leaves them alone.
    assert waiting.tidy(NOW + dt.timedelta(minutes=5)).runs_queued == 0


def test_tidy_stops_at_the_first_refusal_and_keeps_the_rest_waiting(study, queue):
    first, second = make_run(study), make_run(study)
    queue.down = True

    assert waiting.tidy(NOW).runs_queued == 0

    first.refresh_from_db()
    second.refresh_from_db()
    assert first.handed_at is None and second.handed_at is None
    queue.down = False
    assert waiting.tidy(NOW).runs_queued == 2


def test_a_second_delivery_of_a_queued_again_run_does_nothing(study, queue):
    run = make_run(study, status=RunStatus.RUNNING, started_at=NOW)
    assert runs.perform(run.pk) is False
    run.refresh_from_db()
    assert run.status == RunStatus.RUNNING


def test_work_older_than_any_task_may_live_is_closed_with_a_reason(
    study, queue, settings
):
    settings.CELERY_TASK_TIME_LIMIT = 30 * 60
    old = NOW - dt.timedelta(minutes=36)
    dead_run = make_run(study, status=RunStatus.RUNNING, started_at=old)
    live_run = make_run(study, status=RunStatus.RUNNING, started_at=NOW)
    dead_download = make_download(study, status=DownloadStatus.BUILDING, started_at=old)

    tidied = waiting.tidy(NOW)

    assert (tidied.runs_abandoned, tidied.downloads_abandoned) == (1, 1)
    dead_run.refresh_from_db()
    live_run.refresh_from_db()
    dead_download.refresh_from_db()
    assert dead_run.status == RunStatus.FAILED
    assert "request it again" in dead_run.error
    assert dead_run.finished_at == NOW
    assert live_run.status == RunStatus.RUNNING
    assert dead_download.status == DownloadStatus.FAILED


def test_the_beat_task_reports_what_it_did(study, queue):
    make_run(study)
    assert tasks.tidy_waiting_work.apply().get() == {
        "runs_queued": 1,
        "downloads_queued": 0,
        "runs_abandoned": 0,
        "downloads_abandoned": 0,
    }
