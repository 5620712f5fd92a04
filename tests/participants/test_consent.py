"""Consent: required statements, signatures, dates and immutable records."""

import datetime as dt

import pytest

from participants import consent
from participants.models import (
    ConsentForm,
    ConsentMethod,
    ConsentRecord,
    ConsentStatement,
    ImmutableRecordError,
    ScreeningOutcome,
)
from studyportal.errors import DomainError
from tests.participants import journeys
from tests.participants.journeys import agreement, today


@pytest.fixture
def screening(site_a, staff_a):
    return journeys.screen(site_a, staff_a, on=today() - dt.timedelta(days=2))


def record(screening, user, **overrides):
    values = {
        "screening": screening,
        "form": consent.current_form(screening.study),
        "method": ConsentMethod.ELECTRONIC,
        "agreed": agreement(),
        "consented_on": today(),
        "taken_by": user,
        "today": today(),
        "typed_name": "Alex Example",
    }
    return consent.record_consent(**(values | overrides))


def test_consent_to_every_required_statement_moves_the_screening_on(screening, staff_a):
    consent_record = record(screening, staff_a)
    screening.refresh_from_db()
    assert screening.outcome == ScreeningOutcome.CONSENTED
    assert consent_record.agreed == {
        "take_part": True,
        "follow_up": True,
        "interview": False,
        "keep_data": True,
    }
    assert consent_record.participant is None


@pytest.mark.parametrize("code", ["take_part", "follow_up", "keep_data"])
def test_each_required_statement_must_be_agreed(screening, staff_a, code):
    with pytest.raises(DomainError) as error:
        record(screening, staff_a, agreed=agreement(**{code: False}))
    assert error.value.field == f"statement_{code}"
    assert not ConsentRecord.objects.exists()
    screening.refresh_from_db()
    assert screening.outcome == ScreeningOutcome.CONSENTING


def test_the_optional_interview_statement_may_be_declined(screening, staff_a):
    consent_record = record(screening, staff_a, agreed=agreement(interview=False))
    assert consent_record.agreed["interview"] is False


def test_e_consent_needs_the_patients_typed_name(screening, staff_a):
    with pytest.raises(DomainError) as error:
        record(screening, staff_a, typed_name="  ")
    assert error.value.field == "typed_name"
    assert not ConsentRecord.objects.exists()


def test_paper_consent_needs_no_typed_name(screening, staff_a):
    consent_record = record(
        screening, staff_a, method=ConsentMethod.PAPER, typed_name=""
    )
    assert consent_record.method == ConsentMethod.PAPER


def test_a_consent_date_in_the_future_is_refused(screening, staff_a):
    with pytest.raises(DomainError) as error:
        record(screening, staff_a, consented_on=today() + dt.timedelta(days=1))
    assert error.value.field == "consented_on"


def test_consent_before_the_screening_date_is_refused(screening, staff_a):
    with pytest.raises(DomainError, match="before the screening") as error:
        record(
            screening,
            staff_a,
            consented_on=screening.screened_on - dt.timedelta(days=1),
        )
    assert error.value.field == "consented_on"


def test_a_patient_who_declined_cannot_consent(site_a, staff_a):
    declined = journeys.screen(site_a, staff_a, outcome=ScreeningOutcome.NOT_APPROACHED)
    with pytest.raises(DomainError, match="agreed to hear more"):
        record(declined, staff_a)


def test_a_consent_record_cannot_be_changed(screening, staff_a):
    consent_record = record(screening, staff_a)
    consent_record.typed_name = "Somebody Else"
    with pytest.raises(ImmutableRecordError):
        consent_record.save()
    consent_record.refresh_from_db()
    assert consent_record.typed_name == "Alex Example"


def test_what_was_agreed_cannot_be_changed(screening, staff_a):
    consent_record = record(screening, staff_a)
    consent_record.agreed = consent_record.agreed | {"interview": True}
    with pytest.raises(ImmutableRecordError):
        consent_record.save()


def test_a_consent_record_cannot_be_deleted(screening, staff_a):
    consent_record = record(screening, staff_a)
    with pytest.raises(ImmutableRecordError):
        consent_record.delete()
    assert ConsentRecord.objects.filter(pk=consent_record.pk).exists()


def test_bulk_changes_to_consent_records_are_refused(screening, staff_a):
    consent_record = record(screening, staff_a)
    records = ConsentRecord.objects.filter(pk=consent_record.pk)
    with pytest.raises(ImmutableRecordError):
        records.update(typed_name="Somebody Else")
    with pytest.raises(ImmutableRecordError):
        records.delete()
    consent_record.refresh_from_db()
    assert consent_record.typed_name == "Alex Example"


def test_linking_the_enrolled_participant_is_allowed_once(site_a, staff_a):
    participant = journeys.enrol(site_a, staff_a)
    consent_record = participant.consents.get()
    consent_record.save()  # unchanged: allowed
    other = journeys.enrol(site_a, staff_a)
    consent_record.participant = other
    with pytest.raises(ImmutableRecordError):
        consent_record.save()
    consent_record.refresh_from_db()
    assert consent_record.participant == participant


def test_interview_consent_is_read_from_the_latest_consent(site_a, staff_a):
    willing = journeys.enrol(site_a, staff_a, interview=True)
    unwilling = journeys.enrol(site_a, staff_a, interview=False)
    assert willing.interview_consent is True
    assert unwilling.interview_consent is False


def new_version(study, *, requires_reconsent, is_current=True):
    form = ConsentForm.objects.create(
        study=study,
        version=2,
        title="Consent to take part",
        requires_reconsent=requires_reconsent,
        is_current=is_current,
    )
    ConsentStatement.objects.create(
        form=form,
        code="take_part",
        kind=ConsentStatement.Kind.TAKE_PART,
        text="I agree to take part.",
        order=1,
    )
    return form


def test_no_reconsent_is_needed_while_the_signed_form_is_current(site_a, staff_a):
    participant = journeys.enrol(site_a, staff_a)
    assert consent.needs_reconsent(participant) is False


def test_reconsent_is_needed_when_a_newer_form_requires_it(site_a, staff_a):
    participant = journeys.enrol(site_a, staff_a)
    new_version(participant.study, requires_reconsent=True)
    assert consent.needs_reconsent(participant) is True


def test_a_newer_form_without_the_reconsent_flag_needs_no_reconsent(site_a, staff_a):
    participant = journeys.enrol(site_a, staff_a)
    new_version(participant.study, requires_reconsent=False)
    assert consent.needs_reconsent(participant) is False


def test_a_newer_form_not_yet_current_needs_no_reconsent(site_a, staff_a):
    participant = journeys.enrol(site_a, staff_a)
    new_version(participant.study, requires_reconsent=True, is_current=False)
    assert consent.needs_reconsent(participant) is False


def test_consenting_to_the_newer_form_ends_the_need_to_reconsent(site_a, staff_a):
    participant = journeys.enrol(site_a, staff_a)
    form = new_version(participant.study, requires_reconsent=True)
    consent.record_consent(
        screening=participant.screening,
        participant=participant,
        form=form,
        method=ConsentMethod.PAPER,
        agreed={"take_part": True},
        consented_on=today(),
        taken_by=staff_a,
        today=today(),
    )
    assert participant.latest_consent().form == form
    assert consent.needs_reconsent(participant) is False
    participant.screening.refresh_from_db()
    assert participant.screening.outcome == ScreeningOutcome.ENROLLED


def test_staff_take_consent_again_when_a_new_form_requires_it(client, site_a, staff_a):
    from django.urls import reverse

    from participants.models import ConsentForm, ConsentStatement

    participant = journeys.enrol(site_a, staff_a)
    old = participant.study.consent_forms.get()
    old.is_current = False
    old.save()
    new = ConsentForm.objects.create(
        study=participant.study, version=2, title="Consent v2", requires_reconsent=True
    )
    ConsentStatement.objects.create(
        form=new, code="take_part", kind="take_part", text="I still agree.", order=1
    )
    client.force_login(staff_a)
    page = client.get(participant.get_absolute_url()).content.decode()
    assert "A newer consent form needs this participant's consent" in page
    url = reverse("participants:reconsent", args=[participant.pk])
    response = client.post(
        url,
        {
            "method": "electronic",
            "statement_take_part": "on",
            "typed_name": "Alex Example",
            "consented_on": journeys.today().isoformat(),
        },
    )
    assert response.status_code == 302
    assert participant.latest_consent().form == new
    assert not consent.needs_reconsent(participant)
