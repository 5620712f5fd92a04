"""Personal questionnaire links: unguessable and stored only as a hash.

A link carries 256 bits from the operating system's random source. The database
keeps the SHA-256 of it, so a copy of the database opens no questionnaire.
Scheduled reminders add a link and leave earlier ones working, so every message
a participant kept still opens their questionnaire; a link issued by hand
(re-sent, printed, or from the command line) retires all earlier ones.
"""

from __future__ import annotations

import hashlib
import secrets

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from participants.models import Visit, VisitLink

TOKEN_BYTES = 32


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@transaction.atomic
def issue_token(visit: Visit, *, retire_others: bool = True) -> str:
    token = secrets.token_urlsafe(TOKEN_BYTES)
    if retire_others:
        VisitLink.objects.filter(visit=visit, retired_at__isnull=True).update(
            retired_at=timezone.now()
        )
    VisitLink.objects.create(visit=visit, token_hash=hash_token(token))
    return token


def questionnaire_path(token: str) -> str:
    return reverse("questionnaire:start", args=[token])


def questionnaire_url(token: str) -> str:
    return settings.PUBLIC_BASE_URL.rstrip("/") + questionnaire_path(token)


def visit_for_token(token: str) -> Visit | None:
    if not token or len(token) > 100:
        return None
    return (
        Visit.objects.select_related("participant", "timepoint", "participant__study")
        .filter(links__token_hash=hash_token(token), links__retired_at__isnull=True)
        .first()
    )
