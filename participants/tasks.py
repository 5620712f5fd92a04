"""Celery adapters: each loads by id and calls the service that does the work."""

from celery import shared_task
from django.utils import timezone

from participants import messaging, reminders, schedule


@shared_task(
    acks_late=True,
    autoretry_for=(OSError,),
    retry_backoff=True,
    retry_backoff_max=600,
    max_retries=6,
)
def send_message(message_id: int) -> str:
    return messaging.send(message_id)


@shared_task(acks_late=True)
def plan_and_send() -> dict:
    """Plan what has come due and queue each pending message for sending."""
    released = reminders.release_stale_claims()
    reminders.give_up_on_repeated_failures()
    planned = reminders.plan_due()
    due = reminders.due_message_ids()
    for message_id in due:
        send_message.delay(message_id)
    return {"released": released, "planned": planned.created, "queued": len(due)}


@shared_task(acks_late=True)
def update_visit_statuses() -> dict:
    changes = schedule.update_statuses(timezone.localdate())
    return {
        "opened": changes.opened,
        "missed": changes.missed,
        "completed": changes.completed,
    }
