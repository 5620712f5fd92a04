"""Who may do what: the capability table, and the one place that reads it.

``CAPABILITIES`` names each thing a person does in StudyPortal and the roles
that may do it. Administrators (superusers) may do everything. Views ask
``capability_required``, services and scoped querysets ask ``can`` and
``sites_for``/``studies_for`` with a capability, and templates ask ``can``
(``{% if can.analyse %}``), so the pages always agree with the table.

A person who works on several studies works on one at a time: the study they
chose (``studyportal.current_study``) scopes ``sites_for`` and ``studies_for``
for the rest of the request, so every list, count, export and analysis built
on them belongs to that study alone.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet

from participants.models import (
    Participant,
    PossibleDuplicate,
    Role,
    ScreeningRecord,
    Site,
    StaffMembership,
    Study,
)

# Not a membership role: superusers hold it, and with it every capability.
ADMIN = "admin"

# The study this request works on, set by studyportal.current_study; None
# outside a request (tasks, commands), where nothing narrows the scope.
WORKING_STUDY: ContextVar[int | None] = ContextVar("working_study", default=None)


@dataclass(frozen=True)
class Grant:
    """The roles that hold a capability, in the studies and sites they work on."""

    roles: frozenset[str]
    # A Study field that must be on for ``roles`` to hold the capability there.
    study_allows: str = ""


def granted_to(*roles: str, study_allows: str = "") -> Grant:
    return Grant(frozenset(roles), study_allows)


CAPABILITIES: dict[str, Grant] = {
    # Clinic work, with identifiable patients.
    # Screening, consent, enrolment and re-consent at one's own clinic.
    "screen_and_enrol": granted_to(Role.CLINIC_STAFF),
    # Typing in paper questionnaires and the characteristics staff record.
    "enter_answers": granted_to(Role.CLINIC_STAFF),
    # The participant list and pages: names, contact details, consent scans.
    "see_contact_details": granted_to(Role.CLINIC_STAFF, Role.COORDINATOR),
    # Work list, contact log, sending or printing links, phone interviews,
    # recording a withdrawal.
    "follow_up": granted_to(Role.CLINIC_STAFF, Role.COORDINATOR),
    # Coordination across clinics.
    "mark_lost_or_reactivate": granted_to(Role.COORDINATOR),
    "review_duplicates": granted_to(Role.COORDINATOR),
    # Who changed a participant and who read their contact details.
    "see_history": granted_to(Role.COORDINATOR),
    # Retention figures.
    "see_retention": granted_to(Role.CLINIC_STAFF, Role.COORDINATOR),
    # The CONSORT figure holds aggregate numbers only, so investigators too.
    "download_consort": granted_to(
        Role.CLINIC_STAFF, Role.COORDINATOR, Role.INVESTIGATOR
    ),
    # One row per participant by study ID, without contact details.
    "download_tracker": granted_to(Role.COORDINATOR),
    # Analysis and de-identified data.
    "analyse": granted_to(Role.INVESTIGATOR),
    "download_data": granted_to(Role.INVESTIGATOR),
    "see_download_log": granted_to(Role.COORDINATOR),
    # Interviews and qualitative analysis.
    "manage_interviews": granted_to(Role.COORDINATOR, Role.QUALITATIVE),
    "sample_interviewees": granted_to(Role.COORDINATOR),
    # Reading transcript text, uploading it, coding it, keeping the codebook.
    "code_transcripts": granted_to(Role.QUALITATIVE),
    # Coder agreement and the joint display: themes and scores, no transcript text.
    "see_joint_display": granted_to(
        Role.COORDINATOR, Role.INVESTIGATOR, Role.QUALITATIVE
    ),
    # Questionnaires.
    "view_instruments": granted_to(
        Role.CLINIC_STAFF, Role.COORDINATOR, Role.INVESTIGATOR
    ),
    # Importing REDCap dictionaries, and exporting them verbatim (formulas kept).
    "manage_instruments": granted_to(),
    # Study set-up: sites, timepoints, consent and measures.
    "edit_study_setup": granted_to(
        Role.COORDINATOR, study_allows="coordinators_edit_setup"
    ),
    # The administration pages: studies, staff accounts and their memberships.
    "administer": granted_to(),
}

# Every role a user can hold, for pages that say who someone is.
ALL_ROLES: tuple[str, ...] = (*Role.values, ADMIN)


class UnknownCapability(Exception):
    """A capability the table does not name; never silently false.

    Not a KeyError, so that a template naming one fails instead of hiding a page.
    """


def grant_of(capability: str) -> Grant:
    try:
        return CAPABILITIES[capability]
    except KeyError:
        raise UnknownCapability(
            f"No capability “{capability}” in studyportal.access.CAPABILITIES."
        ) from None


def _signed_in(user) -> bool:
    return bool(user is not None and user.is_authenticated and user.is_active)


def roles_of(user) -> frozenset[str]:
    """The roles a user holds in any study; superusers also hold ``admin``."""
    if not _signed_in(user):
        return frozenset()
    roles = set(
        StaffMembership.objects.filter(user=user).values_list("role", flat=True)
    )
    if user.is_superuser:
        roles.add(ADMIN)
    return frozenset(roles)


def _memberships(user, capability: str | None) -> QuerySet[StaffMembership]:
    """The user's memberships that carry ``capability`` (all, given None)."""
    memberships = StaffMembership.objects.filter(user=user)
    if capability is None:
        return memberships
    grant = grant_of(capability)
    memberships = memberships.filter(role__in=grant.roles)
    if grant.study_allows:
        memberships = memberships.filter(**{f"study__{grant.study_allows}": True})
    return memberships


def can(user, capability: str, *, study=None, site=None) -> bool:
    """Whether ``user`` may do ``capability``: anywhere, in ``study``, or at ``site``.

    A membership with a site reaches that site; one without a site reaches
    every site of its study.
    """
    grant_of(capability)
    if not _signed_in(user):
        return False
    if user.is_superuser:
        return True
    if study is None and site is None:
        return capability in capabilities_of(user)
    memberships = _memberships(user, capability)
    if study is not None:
        memberships = memberships.filter(study=study)
    if site is not None:
        memberships = memberships.filter(
            Q(site=site) | Q(site__isnull=True, study_id=site.study_id)
        )
    return memberships.exists()


def capabilities_of(user) -> frozenset[str]:
    """Every capability the user holds in at least one study, in one query."""
    if not _signed_in(user):
        return frozenset()
    if user.is_superuser:
        return frozenset(CAPABILITIES)
    switches = sorted({g.study_allows for g in CAPABILITIES.values() if g.study_allows})
    rows = _in_working_study(StaffMembership.objects.filter(user=user), "study_id")
    rows = rows.values("role", *(f"study__{switch}" for switch in switches))
    held = set()
    for row in rows:
        for name, grant in CAPABILITIES.items():
            if row["role"] in grant.roles and (
                not grant.study_allows or row[f"study__{grant.study_allows}"]
            ):
                held.add(name)
    return frozenset(held)


class TemplateCapabilities:
    """``can`` in templates: ``{% if can.analyse %}``; a misspelt name raises.

    Asks the database once, on the first question a page asks.
    """

    def __init__(self, user) -> None:
        self._user = user
        self._held: frozenset[str] | None = None

    def __getitem__(self, capability: str) -> bool:
        grant_of(capability)
        if self._held is None:
            self._held = capabilities_of(self._user)
        return capability in self._held

    def __iter__(self) -> Iterator[str]:
        return iter(CAPABILITIES)


def capability_required(capability: str) -> Callable:
    """Let a view through only for users who hold ``capability`` somewhere.

    Which records they then reach is the view's scoped queryset's business.
    """
    grant_of(capability)

    def decorator(view: Callable) -> Callable:
        @login_required
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            if not can(request.user, capability):
                raise PermissionDenied("Your role does not give access to this page.")
            return view(request, *args, **kwargs)

        # Read by the access-matrix test, which checks each view against the table.
        wrapped.required_capability = capability
        return wrapped

    return decorator


# ---------------------------------------------------------------------------
# Scoped querysets


def sites_for(user, capability: str | None = None) -> QuerySet[Site]:
    """Sites whose records the user may see, through ``capability`` if given.

    A membership with a site grants that site; one without a site grants every
    site of its study. Superusers see every site.
    """
    if not _signed_in(user):
        return Site.objects.none()
    if user.is_superuser:
        return _in_working_study(Site.objects.all(), "study_id")
    memberships = _memberships(user, capability)
    site_ids = memberships.filter(site__isnull=False).values("site_id")
    study_ids = memberships.filter(site__isnull=True).values("study_id")
    sites = Site.objects.filter(Q(id__in=site_ids) | Q(study_id__in=study_ids))
    return _in_working_study(sites, "study_id")


def _in_working_study(queryset: QuerySet, field: str) -> QuerySet:
    study = WORKING_STUDY.get()
    return queryset if study is None else queryset.filter(**{field: study})


def studies_for(
    user, capability: str | None = None, *, every_study: bool = False
) -> QuerySet[Study]:
    """Studies the user works on, through ``capability`` if given: only the
    working study, unless ``every_study`` (to choose among them)."""
    if not _signed_in(user):
        return Study.objects.none()
    if user.is_superuser:
        studies = Study.objects.all()
    else:
        memberships = _memberships(user, capability)
        studies = Study.objects.filter(id__in=memberships.values("study_id"))
    return studies if every_study else _in_working_study(studies, "id")


def participants_for(user) -> QuerySet[Participant]:
    """Participants the user may open: clinic staff their sites', coordinators all.

    Investigators get none: participant pages carry names and contact details.
    """
    return Participant.objects.filter(site__in=sites_for(user, "see_contact_details"))


def possible_duplicates_for(user) -> QuerySet[PossibleDuplicate]:
    """Pairs a coordinator reviews: both participants within their sites.

    Clinic staff never see a pair, because one half is usually another clinic's.
    """
    sites = sites_for(user, "review_duplicates")
    return PossibleDuplicate.objects.filter(
        participant__site__in=sites, other__site__in=sites
    )


def screenings_for(user) -> QuerySet[ScreeningRecord]:
    """Screenings of the people whose records the user sees, site by site."""
    return ScreeningRecord.objects.filter(
        site__in=sites_for(user, "see_contact_details")
    )


def enrolment_sites(user) -> QuerySet[Site]:
    """Active sites where the user may screen, consent and enrol."""
    return sites_for(user, "screen_and_enrol").filter(is_active=True)


__all__ = [
    "ADMIN",
    "ALL_ROLES",
    "CAPABILITIES",
    "Grant",
    "TemplateCapabilities",
    "UnknownCapability",
    "can",
    "capabilities_of",
    "capability_required",
    "enrolment_sites",
    "grant_of",
    "participants_for",
    "possible_duplicates_for",
    "roles_of",
    "screenings_for",
    "sites_for",
    "studies_for",
]
