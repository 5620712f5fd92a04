from celery import shared_task

from participants import messaging


@shared_task(
    acks_late=True, autoretry_for=(OSError,), retry_backoff=True, max_retries=5
)
def send_message(message_id: int) -> str:
    return messaging.send(message_id)
