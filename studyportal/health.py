"""Checks behind /healthz: can the app reach its database and its broker?"""

from __future__ import annotations

from django.db import connection

from studyportal.celery import app as celery_app

BROKER_TIMEOUT_SECONDS = 2


def check_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def check_broker() -> None:
    with celery_app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=BROKER_TIMEOUT_SECONDS)


CHECKS = {"database": check_database, "broker": check_broker}


def run_checks() -> dict[str, str]:
    """Each component's state: ``ok`` or ``down: <reason>``."""
    results = {}
    for name, check in CHECKS.items():
        try:
            check()
        except Exception as exc:  # any failure means the component is unusable
            results[name] = f"down: {type(exc).__name__}"
        else:
            results[name] = "ok"
    return results
