"""Celery adapters for analysis runs."""

from dataclasses import asdict

from celery import shared_task

from analysis import runs


@shared_task(acks_late=True)
def perform_run(run_id: int) -> bool:
    return runs.perform(run_id)


@shared_task(acks_late=True)
def build_download(download_id: int) -> bool:
    from analysis import downloads

    return downloads.build(download_id)


@shared_task
def remove_old_downloads() -> int:
    from analysis import downloads

    return downloads.remove_old()


@shared_task(acks_late=True)
def tidy_waiting_work() -> dict:
    """Queue runs and downloads the broker missed; close those a dead worker left."""
    from analysis import waiting

    return asdict(waiting.tidy())
