"""Screening a referred patient against the eligibility checklist."""

import datetime as dt

import pytest

from participants.models import DeclineReason, ScreeningOutcome, ScreeningRecord
from participants.screening import record_screening
from studyportal.errors import DomainError
from tests.participants.journeys import all_met, today


def screen(site, user, **overrides):
    values = {
        "site": site,
        "screened_on": today(),
        "criteria_met": all_met(),
        "outcome": ScreeningOutcome.CONSENTING,
        "user": user,
        "today": today(),
    }
    return record_screening(**(values | overrides))


def test_a_patient_meeting_every_criterion_is_eligible(site_a, staff_a):
    record = screen(site_a, staff_a)
    assert record.eligible is True
    assert record.outcome == ScreeningOutcome.CONSENTING
    assert record.unmet_criteria == []
    assert record.study == site_a.study


def test_any_unmet_criterion_makes_the_patient_ineligible_whatever_the_user_chose(
    site_a, staff_a
):
    record = screen(
        site_a,
        staff_a,
        criteria_met=all_met(english=False),
        outcome=ScreeningOutcome.CONSENTING,
    )
    assert record.eligible is False
    assert record.outcome == ScreeningOutcome.INELIGIBLE
    assert record.unmet_criteria == ["english"]


def test_an_ineligible_patient_keeps_no_decline_reason(site_a, staff_a):
    record = screen(
        site_a,
        staff_a,
        criteria_met=all_met(adult=False),
        outcome=ScreeningOutcome.DECLINED,
        decline_reason=DeclineReason.NO_TIME,
    )
    assert record.outcome == ScreeningOutcome.INELIGIBLE
    assert record.decline_reason == ""


@pytest.mark.parametrize("outcome", [None, "", ScreeningOutcome.ENROLLED])
def test_an_eligible_patient_needs_an_approach_outcome(site_a, staff_a, outcome):
    with pytest.raises(DomainError) as error:
        screen(site_a, staff_a, outcome=outcome)
    assert error.value.field == "outcome"
    assert not ScreeningRecord.objects.exists()


def test_declining_needs_a_reason(site_a, staff_a):
    with pytest.raises(DomainError) as error:
        screen(site_a, staff_a, outcome=ScreeningOutcome.DECLINED)
    assert error.value.field == "decline_reason"


def test_declining_for_another_reason_needs_the_detail(site_a, staff_a):
    with pytest.raises(DomainError) as error:
        screen(
            site_a,
            staff_a,
            outcome=ScreeningOutcome.DECLINED,
            decline_reason=DeclineReason.OTHER,
            decline_detail="   ",
        )
    assert error.value.field == "decline_detail"


def test_a_declined_screening_keeps_its_reason_and_detail(site_a, staff_a):
    record = screen(
        site_a,
        staff_a,
        outcome=ScreeningOutcome.DECLINED,
        decline_reason=DeclineReason.OTHER,
        decline_detail="  Caring for a relative ",
    )
    assert record.decline_reason == DeclineReason.OTHER
    assert record.decline_detail == "Caring for a relative"


def test_a_reason_given_without_declining_is_dropped(site_a, staff_a):
    record = screen(
        site_a,
        staff_a,
        outcome=ScreeningOutcome.NOT_APPROACHED,
        decline_reason=DeclineReason.NO_TIME,
    )
    assert record.decline_reason == ""


def test_a_screening_date_in_the_future_is_refused(site_a, staff_a):
    with pytest.raises(DomainError) as error:
        screen(site_a, staff_a, screened_on=today() + dt.timedelta(days=1))
    assert error.value.field == "screened_on"
    assert not ScreeningRecord.objects.exists()


def test_every_criterion_must_be_answered(site_a, staff_a):
    answers = all_met()
    del answers["no_red_flags"]
    with pytest.raises(DomainError, match="missing: no_red_flags"):
        screen(site_a, staff_a, criteria_met=answers)
    assert not ScreeningRecord.objects.exists()
