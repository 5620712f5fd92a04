"""Analysis runs and downloads left waiting: queued again, or closed when abandoned.

A run or download is queued once its row commits. If the broker could not take
it (Redis down), or lost it (Redis restarted without persistence), the row waits
as queued; if its worker died part-way, it stays running. The beat planner puts
each right: waiting rows go to the queue again, and work older than any task may
live is marked failed with a message, so nobody watches a progress bar for ever.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from celery import Task
from django.conf import settings
from django.db.models import Q, QuerySet
from django.utils import timezone

from analysis.models import AnalysisRun, Download, DownloadStatus, RunStatus
from studyportal import worker_queue

# A row the queue accepted this long ago and no worker has claimed is queued once
# more; a second delivery finds it claimed and does nothing.
QUEUE_AGAIN_AFTER = dt.timedelta(minutes=10)
ABANDONED_ERROR = (
    "The worker stopped before this finished (a restart or a crash). "
    "Nothing was lost: request it again."
)


@dataclass(frozen=True)
class Tidied:
    runs_queued: int
    downloads_queued: int
    runs_abandoned: int
    downloads_abandoned: int


def tidy(now: dt.datetime | None = None) -> Tidied:
    from analysis.tasks import build_download, perform_run

    now = now or timezone.now()
    return Tidied(
        runs_queued=_queue_again(
            AnalysisRun.objects.filter(status=RunStatus.QUEUED),
            perform_run,
            label="analysis run",
            now=now,
        ),
        downloads_queued=_queue_again(
            Download.objects.filter(status=DownloadStatus.QUEUED),
            build_download,
            label="download",
            now=now,
        ),
        runs_abandoned=AnalysisRun.objects.filter(
            status=RunStatus.RUNNING, started_at__lt=now - _longest_task()
        ).update(status=RunStatus.FAILED, error=ABANDONED_ERROR, finished_at=now),
        downloads_abandoned=Download.objects.filter(
            status=DownloadStatus.BUILDING, started_at__lt=now - _longest_task()
        ).update(status=DownloadStatus.FAILED, error=ABANDONED_ERROR, finished_at=now),
    )


def _queue_again(waiting: QuerySet, task: Task, *, label: str, now) -> int:
    stale = waiting.filter(
        Q(handed_at__isnull=True) | Q(handed_at__lt=now - QUEUE_AGAIN_AFTER)
    )
    queued = 0
    for pk in stale.order_by("pk").values_list("pk", flat=True):
        if not hand_over(waiting.model, task, pk, label=label, now=now):
            break  # still unreachable: the rest wait for the next round
        queued += 1
    return queued


def hand_over(model, task: Task, pk: int, *, label: str, now=None) -> bool:
    """Queue ``task(pk)`` and stamp the row with when the queue accepted it."""
    if not worker_queue.hand_over(task, pk, what=f"{label} {pk}"):
        return False
    model.objects.filter(pk=pk).update(handed_at=now or timezone.now())
    return True


def _longest_task() -> dt.timedelta:
    """No worker is still busy with a task begun longer ago than its hard limit."""
    return dt.timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT) + dt.timedelta(
        minutes=5
    )
