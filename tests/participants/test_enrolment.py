"""Enrolment: study IDs, visits, baseline characteristics and its refusals."""

import datetime as dt

import pytest
from django.utils import timezone

from instruments.models import ResponseMode, ResponseStatus
from participants import enrolment, screening
from participants.models import (
    ConsentRecord,
    Participant,
    ParticipantContact,
    ParticipantStatus,
    ScreeningOutcome,
    Visit,
    VisitStatus,
)
from studyportal.errors import DomainError
from tests.participants import journeys
from tests.participants.journeys import CHARACTERISTICS, contact, today


def test_the_first_participant_of_a_site_gets_its_first_study_id(site_a, staff_a):
    participant = journeys.enrol(site_a, staff_a)
    assert participant.code == "LDS-0001"
    assert participant.status == ParticipantStatus.ACTIVE
    assert participant.enrolled_by == staff_a


def test_study_ids_count_on_per_site(site_a, site_b, staff_a, staff_b):
    codes = [
        journeys.enrol(site_a, staff_a).code,
        journeys.enrol(site_b, staff_b).code,
        journeys.enrol(site_a, staff_a).code,
    ]
    assert codes == ["LDS-0001", "SHF-0001", "LDS-0002"]
    site_a.refresh_from_db()
    assert site_a.last_participant_number == 2


def test_enrolment_links_the_consent_and_closes_the_screening(site_a, staff_a):
    participant = journeys.enrol(site_a, staff_a)
    assert participant.consents.count() == 1
    assert participant.screening.outcome == ScreeningOutcome.ENROLLED


def test_enrolment_stores_the_contact_details(site_a, staff_a):
    details = contact("Sam Jones", email="sam@example.com", mobile="+447700900123")
    participant = journeys.enrol(site_a, staff_a, details=details)
    stored = ParticipantContact.objects.get(participant=participant)
    assert (stored.full_name, stored.email, stored.mobile) == (
        "Sam Jones",
        "sam@example.com",
        "+447700900123",
    )


def test_enrolment_creates_a_visit_for_every_timepoint(site_a, staff_a):
    participant = journeys.enrol(site_a, staff_a)
    visits = list(participant.visits.order_by("timepoint__order"))
    assert [v.timepoint.code for v in visits] == ["baseline", "followup"]


def test_the_baseline_visit_opens_at_once_for_two_weeks(site_a, staff_a):
    enrolled_on = today() - dt.timedelta(days=3)
    participant = journeys.enrol(site_a, staff_a, on=enrolled_on)
    baseline = participant.visits.get(timepoint__code="baseline")
    assert baseline.status == VisitStatus.OPEN
    assert (baseline.opens_on, baseline.due_on, baseline.closes_on) == (
        enrolled_on,
        enrolled_on,
        enrolled_on + dt.timedelta(days=14),
    )


def test_the_follow_up_is_scheduled_for_day_90_give_or_take_14_days(site_a, staff_a):
    enrolled_on = today()
    participant = journeys.enrol(site_a, staff_a, on=enrolled_on)
    followup = participant.visits.get(timepoint__code="followup")
    assert followup.status == VisitStatus.SCHEDULED
    assert (followup.opens_on, followup.due_on, followup.closes_on) == (
        enrolled_on + dt.timedelta(days=76),
        enrolled_on + dt.timedelta(days=90),
        enrolled_on + dt.timedelta(days=104),
    )


def test_baseline_characteristics_are_a_submitted_staff_response(site_a, staff_a):
    participant = journeys.enrol(site_a, staff_a)
    baseline = participant.visits.get(timepoint__code="baseline")
    response = baseline.responses.get()
    assert response.instrument.slug == "baseline_characteristics"
    assert response.status == ResponseStatus.SUBMITTED
    assert response.mode == ResponseMode.STAFF
    assert response.entered_by == staff_a
    assert response.answers["age"] == CHARACTERISTICS["age_years"]
    assert response.answers["pain_duration_months"] == 24


def test_an_age_from_the_date_of_birth_is_the_age_on_the_day_of_enrolment(
    site_a, staff_a
):
    enrolled_on = today() - dt.timedelta(days=200)
    born = enrolled_on.replace(year=enrolled_on.year - 40) + dt.timedelta(days=100)
    characteristics = CHARACTERISTICS | {"age_known_as": "1", "dob": born.isoformat()}
    participant = journeys.enrol(
        site_a, staff_a, on=enrolled_on, characteristics=characteristics
    )
    response = participant.visits.get(timepoint__code="baseline").responses.get()
    # 39 when enrolled, though 40 by now.
    assert response.answers["age"] == 39


def test_enrolment_on_a_past_day_enters_the_characteristics_then(site_a, staff_a):
    enrolled_on = today() - dt.timedelta(days=30)
    record = journeys.consented(site_a, staff_a, on=enrolled_on)
    then = timezone.make_aware(dt.datetime.combine(enrolled_on, dt.time(10, 15)))
    participant = enrolment.enrol(
        screening=record,
        contact=contact(),
        characteristics=CHARACTERISTICS,
        user=staff_a,
        today=enrolled_on,
        now=then,
    )
    response = participant.visits.get(timepoint__code="baseline").responses.get()
    assert response.submitted_at == then
    assert participant.enrolled_on == enrolled_on


def test_a_participant_from_a_test_screening_is_test_data(site_a, staff_a):
    real = journeys.enrol(site_a, staff_a)
    record = screening.record_screening(
        site=site_a,
        screened_on=today(),
        criteria_met=journeys.all_met(),
        outcome=ScreeningOutcome.CONSENTING,
        user=staff_a,
        today=today(),
        is_test_data=True,
    )
    journeys.take_consent(record, staff_a)
    made_up = enrolment.enrol(
        screening=record,
        contact=contact("Test Person", email="test@example.invalid"),
        characteristics=CHARACTERISTICS,
        user=staff_a,
        today=today(),
    )
    assert (real.is_test_data, made_up.is_test_data) == (False, True)


def test_the_same_screening_cannot_be_enrolled_twice(site_a, staff_a):
    participant = journeys.enrol(site_a, staff_a)
    with pytest.raises(DomainError, match="already enrolled as LDS-0001"):
        enrolment.enrol(
            screening=participant.screening,
            contact=contact(),
            characteristics=CHARACTERISTICS,
            user=staff_a,
            today=today(),
        )
    assert Participant.objects.count() == 1
    site_a.refresh_from_db()
    assert site_a.last_participant_number == 1


def test_enrolment_without_consent_is_refused(site_a, staff_a):
    record = journeys.screen(site_a, staff_a)
    with pytest.raises(DomainError, match="consent"):
        enrolment.enrol(
            screening=record,
            contact=contact(),
            characteristics=CHARACTERISTICS,
            user=staff_a,
            today=today(),
        )
    assert not Participant.objects.exists()
    assert not Visit.objects.exists()


def test_a_refused_enrolment_uses_up_no_study_id(site_a, staff_a):
    record = journeys.consented(site_a, staff_a)
    with pytest.raises(DomainError) as error:
        enrolment.enrol(
            screening=record,
            contact=contact(email=""),
            characteristics=CHARACTERISTICS,
            user=staff_a,
            today=today(),
        )
    assert error.value.field == "email"
    assert not Participant.objects.exists()
    assert not ParticipantContact.objects.exists()
    assert ConsentRecord.objects.get().participant is None
    assert journeys.enrol(site_a, staff_a).code == "LDS-0001"
