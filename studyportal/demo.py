"""The reference study and its demo users, for trying StudyPortal out."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.db import transaction

from participants.models import Role, Site, StaffMembership, Study, Timepoint

DEMO_PASSWORD = "studyportal-demo"

REFERENCE_STUDY = {
    "slug": "back-pain-partnership",
    "name": "Partnership and self-management in chronic back pain",
    "short_name": "Back Pain Partnership",
    "description": (
        "A mixed-methods cohort of adults with chronic back pain referred to pain "
        "management clinics: does patient-professional partnership predict "
        "self-management ability after accounting for pain and other factors?"
    ),
    "recruitment_target": 147,
    "reference": "Fu et al., Eur J Pain 2018, doi:10.1002/ejp.1210",
}

REFERENCE_SITES = [
    ("LDS", "Leeds Pain Management Clinic"),
    ("SHF", "Sheffield Pain Management Clinic"),
    ("YRK", "York Pain Management Clinic"),
]

REFERENCE_TIMEPOINTS = [
    # code, label, order, offset_days, window_before_days, window_after_days
    ("baseline", "Baseline", 1, 0, 0, 14),
    ("followup", "3-month follow-up", 2, 90, 14, 14),
]


@dataclass(frozen=True)
class DemoLogin:
    username: str
    description: str


@transaction.atomic
def seed_reference_study() -> Study:
    study, _ = Study.objects.update_or_create(
        slug=REFERENCE_STUDY["slug"], defaults=REFERENCE_STUDY
    )
    for code, name in REFERENCE_SITES:
        Site.objects.update_or_create(study=study, code=code, defaults={"name": name})
    for code, label, order, offset, before, after in REFERENCE_TIMEPOINTS:
        Timepoint.objects.update_or_create(
            study=study,
            code=code,
            defaults={
                "label": label,
                "order": order,
                "offset_days": offset,
                "window_before_days": before,
                "window_after_days": after,
            },
        )
    return study


@transaction.atomic
def seed_demo_users(study: Study) -> list[DemoLogin]:
    first_site = study.sites.order_by("code").first()
    people = [
        ("clinic1", Role.CLINIC_STAFF, first_site, f"clinic staff, {first_site}"),
        ("coordinator", Role.COORDINATOR, None, "coordinator, all sites"),
        ("investigator", Role.INVESTIGATOR, None, "investigator, all sites"),
    ]
    logins = []
    for username, role, site, description in people:
        user = _demo_user(username)
        StaffMembership.objects.get_or_create(
            user=user, study=study, site=site, role=role
        )
        logins.append(DemoLogin(username, description))
    _demo_user("admin", superuser=True)
    logins.append(DemoLogin("admin", "administrator (Django admin, study set-up)"))
    return logins


def _demo_user(username: str, *, superuser: bool = False):
    user, _ = get_user_model().objects.get_or_create(username=username)
    user.is_staff = superuser
    user.is_superuser = superuser
    user.is_active = True
    user.set_password(DEMO_PASSWORD)
    user.save()
    return user
