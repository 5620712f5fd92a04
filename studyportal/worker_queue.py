"""Handing work to the Celery workers without making a request depend on the broker.

Every piece of queued work is also a row in a waiting state (a pending message, a
queued run or download), so a broker that cannot be reached costs a delay, never
the work: a beat planner queues the waiting rows again once the broker is back.
"""

from __future__ import annotations

import logging

from celery import Task
from kombu.exceptions import OperationalError as BrokerUnreachable

logger = logging.getLogger(__name__)


def hand_over(task: Task, *args, what: str) -> bool:
    """Queue ``task(*args)``; False, with a warning, when the broker is unreachable.

    ``what`` names the waiting row in the log ("message 12", "analysis run 3").
    """
    try:
        task.delay(*args)
    except BrokerUnreachable:
        logger.warning("Broker unreachable: %s waits for the planner", what)
        return False
    return True
