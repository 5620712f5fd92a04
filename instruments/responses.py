"""Saving and submitting responses; scores always come from the scoring engine."""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.utils import timezone

from instruments import answers as answer_rules
from instruments import scoring
from instruments.models import Instrument, Response, ResponseStatus
from studyportal.errors import DomainError


def scores_for(definition, answers: dict) -> dict:
    return {
        name: result.as_json()
        for name, result in scoring.score_answers(definition, answers).items()
    }


@transaction.atomic
def record_staff_entry(
    *,
    visit,
    slug: str,
    answers: dict,
    user,
    mode: str,
    today: dt.date | None = None,
    now: dt.datetime | None = None,
) -> Response:
    """Store answers entered by staff as a submitted response (new or corrected).

    Staff own what they enter, so they may correct it; history keeps every
    earlier value. ``now`` (the real time unless given) is when they were
    entered; calculated items (an age from a date of birth) are worked out as
    of ``today``, the date of ``now`` unless given.
    """
    now = now or timezone.now()
    today = today or timezone.localdate(now)
    instrument = Instrument.objects.get(slug=slug)
    version = instrument.versions.order_by("-number").first()
    response = (
        Response.objects.select_for_update()
        .filter(visit=visit, instrument=instrument)
        .first()
    )
    if response is not None and response.mode not in (mode, "staff", "paper"):
        raise DomainError("The participant answered this themselves; it is read-only.")
    if response is not None:
        version = response.instrument_version
    definition = version.parsed
    resolved = answer_rules.resolve(definition, answers, today=today).answers
    values = {
        "instrument_version": version,
        "answers": resolved,
        "scores": scores_for(definition, resolved),
        "status": ResponseStatus.SUBMITTED,
        "mode": mode,
        "entered_by": user,
        "submitted_at": now,
    }
    if response is None:
        return Response.objects.create(visit=visit, instrument=instrument, **values)
    for field, value in values.items():
        setattr(response, field, value)
    response.save()
    return response
