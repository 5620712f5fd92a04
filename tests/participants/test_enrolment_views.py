"""Screening, consent and enrolment through the pages, and what bad input gets."""

import datetime as dt

import pytest
from django.urls import reverse

from instruments.models import Response
from participants.models import (
    ConsentRecord,
    Participant,
    ParticipantContact,
    ScreeningOutcome,
    ScreeningRecord,
    Visit,
)
from tests.participants import journeys
from tests.participants.journeys import (
    consent_post,
    enrol_post,
    screening_post,
    today,
)


def tomorrow():
    """Read at run time: a run that passes midnight must not test yesterday's."""
    return (today() + dt.timedelta(days=1)).isoformat()


MODELS = [
    ScreeningRecord,
    ConsentRecord,
    Participant,
    ParticipantContact,
    Visit,
    Response,
]


def counts() -> dict[str, int]:
    return {model.__name__: model.objects.count() for model in MODELS}


@pytest.fixture
def staff(client, staff_a):
    client.force_login(staff_a)
    return staff_a


@pytest.fixture
def consenting(site_a, staff):
    return journeys.screen(site_a, staff)


@pytest.fixture
def consented(site_a, staff):
    return journeys.consented(site_a, staff)


def consent_url(record):
    return reverse("participants:consent", args=[record.pk])


def enrol_url(record):
    return reverse("participants:enrol", args=[record.pk])


def test_a_patient_is_screened_consented_and_enrolled_through_the_pages(
    client, site_a, staff
):
    response = client.post(
        reverse("participants:screening_new"), screening_post(site_a)
    )
    record = ScreeningRecord.objects.get()
    assert response.url == consent_url(record)
    response = client.post(consent_url(record), consent_post(statement_interview="yes"))
    assert response.url == enrol_url(record)
    response = client.post(enrol_url(record), enrol_post())
    participant = Participant.objects.get()
    assert response.url == reverse("participants:handover", args=[participant.pk])
    assert participant.code == "LDS-0001"
    assert participant.contact.mobile == "+447911123456"
    assert participant.interview_consent is True
    assert participant.visits.count() == 2
    assert Response.objects.get().answers["age"] == 52


def test_an_ineligible_patient_is_logged_without_consent(client, site_a, staff):
    data = screening_post(site_a, criterion_english="no")
    response = client.post(reverse("participants:screening_new"), data, follow=True)
    assert "Screening saved: not eligible." in response.content.decode()
    assert ScreeningRecord.objects.get().outcome == ScreeningOutcome.INELIGIBLE


def test_a_future_screening_date_is_refused_and_nothing_saved(client, site_a, staff):
    before = counts()
    data = screening_post(site_a, screened_on=tomorrow())
    response = client.post(reverse("participants:screening_new"), data)
    assert response.status_code == 200
    assert "The date cannot be in the future." in response.content.decode()
    assert counts() == before


def test_clinic_staff_cannot_screen_at_another_site(client, site_b, staff):
    response = client.post(
        reverse("participants:screening_new"), screening_post(site_b)
    )
    assert response.status_code == 200
    assert "site" in response.context["form"].errors
    assert not ScreeningRecord.objects.exists()


def test_declining_without_a_reason_is_refused(client, site_a, staff):
    data = screening_post(site_a, outcome=ScreeningOutcome.DECLINED)
    response = client.post(reverse("participants:screening_new"), data)
    assert "Choose why the patient declined." in response.content.decode()
    assert not ScreeningRecord.objects.exists()


def test_a_missing_required_consent_statement_is_refused(client, consenting):
    before = counts()
    response = client.post(
        consent_url(consenting), consent_post(statement_keep_data=None)
    )
    assert response.status_code == 200
    assert "This statement must be agreed to take part." in response.content.decode()
    assert counts() == before
    consenting.refresh_from_db()
    assert consenting.outcome == ScreeningOutcome.CONSENTING


def test_e_consent_without_a_typed_name_is_refused(client, consenting):
    response = client.post(consent_url(consenting), consent_post(typed_name=""))
    assert "types their name" in response.content.decode()
    assert not ConsentRecord.objects.exists()


def test_a_future_consent_date_is_refused(client, consenting):
    response = client.post(
        consent_url(consenting), consent_post(consented_on=tomorrow())
    )
    assert "The date cannot be in the future." in response.content.decode()
    assert not ConsentRecord.objects.exists()


def test_a_consent_date_before_screening_is_refused(client, site_a, staff):
    record = journeys.screen(site_a, staff)
    earlier = (record.screened_on - dt.timedelta(days=1)).isoformat()
    response = client.post(consent_url(record), consent_post(consented_on=earlier))
    assert "Consent cannot come before the screening date." in response.content.decode()
    assert not ConsentRecord.objects.exists()


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("contact-email", "not-an-email", "Enter an email address"),
        ("contact-mobile", "12345", "This is not a valid phone number."),
        ("contact-mobile", "0113 496 0000", "Text messages need a mobile number."),
        ("contact-date_of_birth", "tomorrow", "The date cannot be in the future."),
        ("contact-full_name", "", "This field is required."),
        ("characteristics-sex", "", "Please answer this question."),
    ],
)
def test_bad_enrolment_details_get_a_message_and_save_nothing(
    client, consented, field, value, message
):
    before = counts()
    value = tomorrow() if value == "tomorrow" else value
    response = client.post(enrol_url(consented), enrol_post(**{field: value}))
    assert response.status_code == 200
    text = response.content.decode()
    assert message in text
    assert "Nothing was saved" in text
    assert counts() == before
    consented.refresh_from_db()
    assert consented.outcome == ScreeningOutcome.CONSENTED


def test_a_channel_without_its_address_is_refused_and_uses_no_study_id(
    client, consented, site_a
):
    before = counts()
    data = enrol_post(**{"contact-email": "", "contact-preferred_channel": "email"})
    response = client.post(enrol_url(consented), data)
    assert "Add an email address to send links by email." in response.content.decode()
    assert counts() == before
    site_a.refresh_from_db()
    assert site_a.last_participant_number == 0


def test_the_same_screening_cannot_be_enrolled_twice_through_the_pages(
    client, consented
):
    client.post(enrol_url(consented), enrol_post())
    before = counts()
    response = client.post(
        enrol_url(consented), enrol_post(**{"contact-full_name": "Again"}), follow=True
    )
    assert "Already enrolled as LDS-0001." in response.content.decode()
    assert counts() == before
    assert Participant.objects.get().contact.full_name == "Alex Example"


def test_enrolment_before_consent_goes_to_the_consent_page(client, consenting):
    response = client.post(enrol_url(consenting), enrol_post())
    assert response.url == consent_url(consenting)
    assert not Participant.objects.exists()


def test_a_possible_duplicate_is_shown_and_enrolled_only_once_confirmed(
    client, site_a, staff, consented
):
    existing = journeys.enrol(site_a, staff)
    before = counts()
    data = enrol_post(**{"contact-email": "ALEX@example.com", "contact-mobile": ""})
    warned = client.post(enrol_url(consented), data)
    assert warned.status_code == 200
    text = warned.content.decode()
    assert "This may be someone already enrolled" in text
    assert existing.code in text
    assert 'name="not_a_duplicate"' in text
    assert counts() == before
    confirmed = client.post(enrol_url(consented), data | {"not_a_duplicate": "yes"})
    assert confirmed.status_code == 302
    assert Participant.objects.count() == 2
    assert Participant.objects.latest("pk").code == "LDS-0002"


def test_a_new_person_is_enrolled_without_a_duplicate_warning(client, consented):
    response = client.post(enrol_url(consented), enrol_post())
    assert response.status_code == 302
    assert Participant.objects.count() == 1
