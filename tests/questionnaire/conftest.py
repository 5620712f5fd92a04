import datetime as dt

import pytest
from django.core.cache import cache
from django.urls import reverse
from django.utils import timezone

from participants import consent, enrolment, links, screening
from participants.contacts import ContactDetails
from studyportal import demo
from tests.factories import clinic_staff


@pytest.fixture(autouse=True)
def clear_rate_limits():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def protocol(db):
    study = demo.seed_reference_study()
    return study


def enrol_participant(study, *, site_code="LDS", name="Pat Example", email=None):
    site = study.sites.get(code=site_code)
    staff = clinic_staff(site)
    today = timezone.localdate()
    record = screening.record_screening(
        site=site,
        screened_on=today,
        criteria_met={
            code: True for code in study.criteria.values_list("code", flat=True)
        },
        outcome="consenting",
        user=staff,
        today=today,
    )
    form = consent.current_form(study)
    consent.record_consent(
        screening=record,
        form=form,
        method="electronic",
        agreed={s.code: True for s in form.statements.all()},
        consented_on=today,
        taken_by=staff,
        today=today,
        typed_name=name,
    )
    return enrolment.enrol(
        screening=record,
        contact=ContactDetails(
            full_name=name,
            email=email or f"{name.split()[0].lower()}@example.invalid",
        ),
        characteristics={"age_known_as": "2", "age_years": 50, "sex": "1",
                         "pain_duration_months": 12},
        user=staff,
        today=today,
    )  # fmt: skip


@pytest.fixture
def participant(protocol):
    return enrol_participant(protocol)


@pytest.fixture
def baseline(participant):
    return participant.visits.get(timepoint__code="baseline")


@pytest.fixture
def token(baseline):
    return links.issue_token(baseline)


PAIN = {"pain_worst": "8", "pain_least": "2", "pain_average": "5", "pain_now": "5"}


def numbered(prefix: str, numbers: range, value: str) -> dict:
    return {f"{prefix}_{n:02d}": value for n in numbers}


def complete_answers() -> dict[int, dict]:
    """Valid answers to every patient page of the reference baseline, by page."""
    mood = {f"hads_{kind}{n}": "1" for n in range(1, 8) for kind in ("a", "d")}
    return {
        1: PAIN,
        2: numbered("partner", range(1, 9), "4"),
        3: numbered("partner", range(9, 17), "4"),
        4: numbered("selfmgmt", range(1, 13), "6"),
        5: mood,
    }


def questionnaire_url(name: str, token: str, *args) -> str:
    return reverse(f"questionnaire:{name}", args=[token, *args])


def answer_everything(client, token: str) -> None:
    """Post valid answers to every page, as a patient pressing Next each time."""
    for number, answers in complete_answers().items():
        response = client.post(
            questionnaire_url("page", token, number), {**answers, "go": "next"}
        )
        assert response.status_code == 302, response.content.decode()[:2000]


def days_ago(days: int) -> dt.date:
    return timezone.localdate() - dt.timedelta(days=days)
