"""Who may see what: the one place that turns a user into roles and sites.

Views and services ask these functions; templates only decide what to show.
"""

from __future__ import annotations

from collections.abc import Callable
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

ADMIN = "admin"


def roles_of(user) -> frozenset[str]:
    """The roles a user holds in any study; superusers also hold ``admin``."""
    if not user.is_authenticated or not user.is_active:
        return frozenset()
    roles = set(
        StaffMembership.objects.filter(user=user).values_list("role", flat=True)
    )
    if user.is_superuser:
        roles.add(ADMIN)
    return frozenset(roles)


def sites_for(user, *, roles: tuple[str, ...] | None = None) -> QuerySet[Site]:
    """Sites whose records the user may see, optionally through given roles only.

    A membership with a site grants that site; one without a site grants every
    site of its study. Superusers see every site.
    """
    if not user.is_authenticated or not user.is_active:
        return Site.objects.none()
    if user.is_superuser:
        return Site.objects.all()
    memberships = StaffMembership.objects.filter(user=user)
    if roles is not None:
        memberships = memberships.filter(role__in=roles)
    site_ids = memberships.filter(site__isnull=False).values("site_id")
    study_ids = memberships.filter(site__isnull=True).values("study_id")
    return Site.objects.filter(Q(id__in=site_ids) | Q(study_id__in=study_ids))


def studies_for(user, *, roles: tuple[str, ...] | None = None) -> QuerySet[Study]:
    """Studies the user works on, optionally through given roles only."""
    if not user.is_authenticated or not user.is_active:
        return Study.objects.none()
    if user.is_superuser:
        return Study.objects.all()
    memberships = StaffMembership.objects.filter(user=user)
    if roles is not None:
        memberships = memberships.filter(role__in=roles)
    return Study.objects.filter(id__in=memberships.values("study_id"))


# Roles that work with identifiable participants; investigators never do.
PARTICIPANT_ROLES = (Role.CLINIC_STAFF, Role.COORDINATOR)


def participants_for(user) -> QuerySet[Participant]:
    """Participants the user may open: clinic staff their sites', coordinators all.

    Investigators get none: participant pages carry names and contact details.
    """
    sites = sites_for(user, roles=PARTICIPANT_ROLES)
    return Participant.objects.filter(site__in=sites)


def possible_duplicates_for(user) -> QuerySet[PossibleDuplicate]:
    """Pairs a coordinator reviews: both participants within their sites.

    Clinic staff never see a pair, because one half is usually another clinic's.
    """
    sites = sites_for(user, roles=(Role.COORDINATOR,))
    return PossibleDuplicate.objects.filter(
        participant__site__in=sites, other__site__in=sites
    )


def screenings_for(user) -> QuerySet[ScreeningRecord]:
    return ScreeningRecord.objects.filter(
        site__in=sites_for(user, roles=PARTICIPANT_ROLES)
    )


def enrolment_sites(user) -> QuerySet[Site]:
    """Sites where the user may screen, consent and enrol (clinic staff, admins)."""
    if user.is_authenticated and user.is_superuser:
        return Site.objects.filter(is_active=True)
    return sites_for(user, roles=(Role.CLINIC_STAFF,)).filter(is_active=True)


def is_coordinator(user) -> bool:
    return bool(roles_of(user) & {Role.COORDINATOR, ADMIN})


def role_required(*allowed: str) -> Callable:
    """Let a view through only for users holding one of ``allowed`` roles."""

    def decorator(view: Callable) -> Callable:
        @login_required
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            if not roles_of(request.user) & set(allowed):
                raise PermissionDenied("Your role does not give access to this page.")
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


__all__ = [
    "ADMIN",
    "PARTICIPANT_ROLES",
    "Role",
    "enrolment_sites",
    "is_coordinator",
    "participants_for",
    "possible_duplicates_for",
    "role_required",
    "roles_of",
    "screenings_for",
    "sites_for",
    "studies_for",
]
