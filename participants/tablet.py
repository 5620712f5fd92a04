"""Clinic tablet mode: the patient gets the device, never the staff session.

Starting it logs the member of staff out and leaves a session that can open one
visit's questionnaire and nothing else. When the patient finishes, the device
shows a screen that needs a staff login to go further.
"""

from __future__ import annotations

from django.contrib.auth import logout

SESSION_KEY = "tablet_visit"


def start(request, visit) -> None:
    logout(request)
    request.session[SESSION_KEY] = visit.pk


def is_tablet(request, visit) -> bool:
    return request.session.get(SESSION_KEY) == visit.pk


def finish(request) -> None:
    request.session.flush()
