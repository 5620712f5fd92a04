"""Enrolment: a consented patient becomes a participant with a study ID and visits."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict

from django.db import transaction
from django.db.models import QuerySet

from instruments import responses
from instruments.models import ResponseMode
from participants import duplicates, reminders, schedule
from participants.contacts import ContactDetails, check_channel
from participants.models import (
    Participant,
    ParticipantContact,
    ScreeningOutcome,
    ScreeningRecord,
    Site,
    Study,
    TimepointInstrument,
    VisitStatus,
)
from studyportal.errors import DomainError

STUDY_ID_DIGITS = 4


def next_study_id(site: Site) -> str:
    """Take the site's next number; the row lock makes concurrent enrolments queue."""
    locked = Site.objects.select_for_update().get(pk=site.pk)
    locked.last_participant_number += 1
    locked.save(update_fields=["last_participant_number"])
    return f"{locked.code}-{locked.last_participant_number:0{STUDY_ID_DIGITS}d}"


def characteristics_instrument_slug(participant_or_study) -> str | None:
    """The staff-completed instrument of the first timepoint, if there is one."""
    study = getattr(participant_or_study, "study", participant_or_study)
    first = study.timepoints.order_by("order").first()
    if first is None:
        return None
    link = (
        first.instruments.filter(instrument__respondent="staff")
        .select_related("instrument")
        .order_by("order")
        .first()
    )
    return link.instrument.slug if link else None


def protocol_links(study: Study) -> QuerySet[TimepointInstrument]:
    """The study's questionnaires at each timepoint, in protocol order, with
    the timepoint and instrument loaded."""
    return (
        TimepointInstrument.objects.filter(timepoint__study=study)
        .select_related("timepoint", "instrument")
        .order_by("timepoint__order", "order")
    )


@transaction.atomic
def enrol(
    *,
    screening: ScreeningRecord,
    contact: ContactDetails,
    characteristics: dict | None,
    user,
    today: dt.date,
    now: dt.datetime | None = None,
) -> Participant:
    """Create the participant, contact details, visits and baseline characteristics.

    ``today`` is the day of enrolment, which anchors the visit windows; ``now``
    (the real time unless given) is when the characteristics were entered. A
    participant from a test screening is test data.
    """
    screening = ScreeningRecord.objects.select_for_update().get(pk=screening.pk)
    if hasattr(screening, "participant"):
        raise DomainError(
            f"This patient is already enrolled as {screening.participant.code}."
        )
    if screening.outcome != ScreeningOutcome.CONSENTED:
        raise DomainError("Record the patient's consent before enrolling.")
    consent = screening.consents.order_by("-created_at").first()
    check_channel(contact)
    participant = Participant.objects.create(
        study=screening.study,
        site=screening.site,
        code=next_study_id(screening.site),
        screening=screening,
        enrolled_on=today,
        enrolled_by=user,
        is_test_data=screening.is_test_data,
    )
    ParticipantContact.objects.create(participant=participant, **asdict(contact))
    duplicates.record_unseen_matches(participant, contact, user=user, today=today)
    consent.participant = participant
    consent.save(update_fields=["participant"])
    screening.outcome = ScreeningOutcome.ENROLLED
    screening.save(update_fields=["outcome"])
    visits = schedule.create_visits(participant, anchor=today, today=today)
    first = visits[0] if visits else None
    slug = characteristics_instrument_slug(participant)
    if first is not None and slug and characteristics is not None:
        responses.record_staff_entry(
            visit=first,
            slug=slug,
            answers=characteristics,
            user=user,
            mode=ResponseMode.STAFF,
            today=today,
            now=now,
        )
    if first is not None and first.status == VisitStatus.SCHEDULED:
        first.status = VisitStatus.OPEN
        first.save(update_fields=["status"])
    for visit in visits:
        reminders.refresh(visit)
    return participant
