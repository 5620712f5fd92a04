from io import StringIO

from django.contrib.auth import authenticate
from django.core.management import call_command

from participants.models import Role, Site, StaffMembership, Study, Timepoint
from studyportal import access, demo


def run_seed() -> str:
    out = StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


def test_it_creates_the_reference_study(db):
    run_seed()
    study = Study.objects.get()
    assert study.recruitment_target == 147
    assert study.sites.count() == 3
    baseline, followup = study.timepoints.order_by("order")
    assert (baseline.code, baseline.offset_days) == ("baseline", 0)
    assert (followup.code, followup.offset_days) == ("followup", 90)
    assert (followup.window_before_days, followup.window_after_days) == (14, 14)


def test_it_is_idempotent(db):
    first = run_seed()
    counts = [m.objects.count() for m in (Study, Site, Timepoint, StaffMembership)]
    second = run_seed()
    assert counts == [
        m.objects.count() for m in (Study, Site, Timepoint, StaffMembership)
    ]
    assert first == second


def test_it_prints_every_login_and_the_password(db):
    output = run_seed()
    for username in ("clinic1", "coordinator", "investigator", "admin"):
        assert username in output
    assert demo.DEMO_PASSWORD in output


def test_demo_users_log_in_with_their_roles(db):
    run_seed()
    study = Study.objects.get()
    clinic1 = authenticate(username="clinic1", password=demo.DEMO_PASSWORD)
    assert access.roles_of(clinic1) == {Role.CLINIC_STAFF}
    assert list(access.sites_for(clinic1)) == [study.sites.order_by("code").first()]
    coordinator = authenticate(username="coordinator", password=demo.DEMO_PASSWORD)
    assert access.roles_of(coordinator) == {Role.COORDINATOR}
    assert access.sites_for(coordinator).count() == 3
    investigator = authenticate(username="investigator", password=demo.DEMO_PASSWORD)
    assert access.roles_of(investigator) == {Role.INVESTIGATOR}
    admin = authenticate(username="admin", password=demo.DEMO_PASSWORD)
    assert admin.is_superuser and access.ADMIN in access.roles_of(admin)
