import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError

from participants.models import Role, StaffMembership
from tests.factories import (
    MembershipFactory,
    SiteFactory,
    StudyFactory,
    TimepointFactory,
    UserFactory,
)


def test_clinic_staff_membership_needs_a_site(db):
    membership = StaffMembership(
        user=UserFactory(), study=StudyFactory(), role=Role.CLINIC_STAFF
    )
    with pytest.raises(ValidationError, match="must belong to a site"):
        membership.full_clean()


def test_membership_site_must_belong_to_the_study(db):
    membership = StaffMembership(
        user=UserFactory(),
        study=StudyFactory(),
        site=SiteFactory(),
        role=Role.CLINIC_STAFF,
    )
    with pytest.raises(ValidationError, match="another study"):
        membership.full_clean()


def test_study_wide_membership_is_unique_per_role(db):
    first = MembershipFactory(role=Role.COORDINATOR)
    with pytest.raises(IntegrityError):
        MembershipFactory(user=first.user, study=first.study, role=Role.COORDINATOR)


def test_site_code_must_be_capital_letters(db):
    site = SiteFactory.build(study=StudyFactory(), code="ld5")
    with pytest.raises(ValidationError, match="capital letters"):
        site.full_clean()


def test_site_time_zone_must_exist(db):
    site = SiteFactory.build(study=StudyFactory(), code="LDS", time_zone="Nowhere/Town")
    with pytest.raises(ValidationError, match="not a time zone"):
        site.full_clean()


def test_site_codes_are_unique_within_a_study(db):
    study = StudyFactory()
    SiteFactory(study=study, code="LDS")
    with pytest.raises(IntegrityError):
        SiteFactory(study=study, code="LDS")


def test_timepoint_window_description(db):
    followup = TimepointFactory(
        offset_days=90, window_before_days=14, window_after_days=14
    )
    assert followup.window_description == "days 76–104"
    exact = TimepointFactory(offset_days=0, window_before_days=0, window_after_days=0)
    assert exact.window_description == "day 0"
