"""The site-scoping helper decides which sites each user may see."""

from django.contrib.auth.models import AnonymousUser

from participants.models import Role
from studyportal import access
from tests.factories import (
    MembershipFactory,
    SiteFactory,
    StudyFactory,
    UserFactory,
    clinic_staff,
    coordinator,
    investigator,
)


def test_clinic_staff_see_only_their_own_site(db):
    study = StudyFactory()
    own, other = SiteFactory(study=study), SiteFactory(study=study)
    user = clinic_staff(own)
    assert list(access.sites_for(user)) == [own]
    assert other not in access.sites_for(user)


def test_clinic_staff_of_two_sites_see_both(db):
    study = StudyFactory()
    first, second, third = (SiteFactory(study=study) for _ in range(3))
    user = clinic_staff(first)
    MembershipFactory(user=user, study=study, site=second, role=Role.CLINIC_STAFF)
    assert set(access.sites_for(user)) == {first, second}
    assert third not in access.sites_for(user)


def test_study_wide_coordinator_sees_every_site_of_their_study_only(db):
    study, other_study = StudyFactory(), StudyFactory()
    sites = {SiteFactory(study=study), SiteFactory(study=study)}
    foreign = SiteFactory(study=other_study)
    user = coordinator(study)
    assert set(access.sites_for(user)) == sites
    assert foreign not in access.sites_for(user)


def test_a_capability_limits_sites_to_the_memberships_that_carry_it(db):
    study = StudyFactory()
    own, other = SiteFactory(study=study), SiteFactory(study=study)
    user = clinic_staff(own)
    MembershipFactory(user=user, study=study, role=Role.INVESTIGATOR)
    assert set(access.sites_for(user)) == {own, other}
    assert list(access.sites_for(user, "screen_and_enrol")) == [own]
    assert set(access.sites_for(user, "analyse")) == {own, other}


def test_user_without_membership_sees_nothing(db):
    SiteFactory()
    user = UserFactory()
    assert not access.sites_for(user).exists()
    assert access.roles_of(user) == frozenset()


def test_anonymous_and_inactive_users_see_nothing(db):
    site = SiteFactory()
    assert not access.sites_for(AnonymousUser()).exists()
    user = clinic_staff(site)
    user.is_active = False
    user.save()
    assert not access.sites_for(user).exists()
    assert access.roles_of(user) == frozenset()


def test_superuser_is_admin_and_sees_all_sites(db):
    sites = {SiteFactory(), SiteFactory()}
    user = UserFactory(is_superuser=True, is_staff=True)
    assert access.ADMIN in access.roles_of(user)
    assert set(access.sites_for(user)) == sites


def test_roles_of_lists_each_membership_role(db):
    study = StudyFactory()
    user = investigator(study)
    MembershipFactory(user=user, study=study, role=Role.COORDINATOR)
    assert access.roles_of(user) == {Role.INVESTIGATOR, Role.COORDINATOR}
