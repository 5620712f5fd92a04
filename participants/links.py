"""Personal questionnaire links: unguessable, stored only as a hash, one live per visit.

A link carries 256 bits from the operating system's random source. The database
keeps the SHA-256 of it, so a copy of the database opens no questionnaire.
Issuing a new link retires the previous one.
"""

from __future__ import annotations

import hashlib
import secrets

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from participants.models import Visit

TOKEN_BYTES = 32


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@transaction.atomic
def issue_token(visit: Visit) -> str:
    token = secrets.token_urlsafe(TOKEN_BYTES)
    Visit.objects.filter(pk=visit.pk).update(
        token_hash=hash_token(token), token_issued_at=timezone.now()
    )
    visit.token_hash = hash_token(token)
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
        .filter(token_hash=hash_token(token))
        .first()
    )
