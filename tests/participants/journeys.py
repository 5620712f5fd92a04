"""A patient's way through the services: screened, consented, enrolled.

Each helper takes the reference protocol's defaults, so a test states only
what it is about.
"""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from participants import consent, enrolment, screening
from participants.contacts import ContactDetails
from participants.models import (
    Channel,
    ConsentMethod,
    ConsentRecord,
    Participant,
    ScreeningOutcome,
    ScreeningRecord,
    Site,
)
from studyportal import demo


def criteria() -> list[str]:
    return [criterion.code for criterion in demo.reference_protocol().eligibility]


# Answers to the baseline_characteristics instrument that staff enter at enrolment.
CHARACTERISTICS = {
    "age_known_as": "2",
    "age_years": 52,
    "sex": "1",
    "pain_duration_months": 24,
}


def today() -> dt.date:
    return timezone.localdate()


def all_met(**overrides: bool) -> dict[str, bool]:
    return {code: overrides.get(code, True) for code in criteria()}


def agreement(*, interview: bool = False, **overrides: bool) -> dict[str, bool]:
    agreed = {"take_part": True, "follow_up": True, "keep_data": True}
    return agreed | {"interview": interview} | overrides


def screen(
    site: Site,
    user,
    *,
    on: dt.date | None = None,
    outcome: str = ScreeningOutcome.CONSENTING,
) -> ScreeningRecord:
    return screening.record_screening(
        site=site,
        screened_on=on or today(),
        criteria_met=all_met(),
        outcome=outcome,
        user=user,
        today=today(),
    )


def take_consent(
    record: ScreeningRecord,
    user,
    *,
    on: dt.date | None = None,
    interview: bool = False,
) -> ConsentRecord:
    return consent.record_consent(
        screening=record,
        form=consent.current_form(record.study),
        method=ConsentMethod.ELECTRONIC,
        agreed=agreement(interview=interview),
        consented_on=on or record.screened_on,
        taken_by=user,
        today=today(),
        typed_name="Alex Example",
    )


def contact(
    full_name: str = "Alex Example",
    *,
    email: str = "alex@example.com",
    mobile: str = "+447911123456",
    preferred_channel: str = Channel.EMAIL,
    date_of_birth: dt.date | None = None,
) -> ContactDetails:
    return ContactDetails(
        full_name=full_name,
        email=email,
        mobile=mobile,
        preferred_channel=preferred_channel,
        date_of_birth=date_of_birth,
    )


def consented(site: Site, user, *, on: dt.date | None = None) -> ScreeningRecord:
    record = screen(site, user, on=on)
    take_consent(record, user)
    record.refresh_from_db()
    return record


def enrol(
    site: Site,
    user,
    *,
    details: ContactDetails | None = None,
    on: dt.date | None = None,
    characteristics: dict | None = None,
    interview: bool = False,
) -> Participant:
    """Screen, consent and enrol one patient at ``site``, all on ``on``."""
    day = on or today()
    record = screen(site, user, on=day)
    take_consent(record, user, interview=interview)
    return enrolment.enrol(
        screening=record,
        contact=details or contact(),
        characteristics=CHARACTERISTICS if characteristics is None else characteristics,
        user=user,
        today=day,
    )


# ---------------------------------------------------------------------------
# What the forms post


def screening_post(site: Site, **overrides) -> dict:
    data = {
        "site": site.pk,
        "screened_on": today().isoformat(),
        "outcome": ScreeningOutcome.CONSENTING,
        "decline_reason": "",
        "decline_detail": "",
    }
    data |= {f"criterion_{code}": "yes" for code in criteria()}
    return data | overrides


def consent_post(**overrides) -> dict:
    data = {
        "method": ConsentMethod.ELECTRONIC,
        "typed_name": "Alex Example",
        "consented_on": today().isoformat(),
        "statement_take_part": "on",
        "statement_follow_up": "on",
        "statement_interview": "no",
        "statement_keep_data": "on",
    }
    return {k: v for k, v in (data | overrides).items() if v is not None}


def enrol_post(**overrides) -> dict:
    data = {
        "contact-full_name": "Alex Example",
        "contact-email": "alex@example.com",
        "contact-mobile": "07911 123456",
        "contact-preferred_channel": Channel.EMAIL,
        "contact-time_zone": "Europe/London",
        "contact-date_of_birth": "",
    }
    data |= {f"characteristics-{k}": v for k, v in CHARACTERISTICS.items()}
    return data | overrides
