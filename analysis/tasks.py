"""Celery adapters for analysis runs."""

from celery import shared_task

from analysis import runs


@shared_task(acks_late=True)
def perform_run(run_id: int) -> bool:
    return runs.perform(run_id)
