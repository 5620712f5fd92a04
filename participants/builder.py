"""The study builder's service: every change is a change to the protocol document.

Each page of the builder edits one section of the document ``protocol.export``
writes, and saving checks and loads the whole document through
``protocol.load``: the same checks, versions and refusals as ``load_study``,
so what the builder saves is exactly what ``export_study`` writes.
"""

from __future__ import annotations

import copy

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet

from participants import protocol
from participants.models import StaffMembership, Study
from studyportal import access
from studyportal.errors import DomainError

SECTIONS = {
    "details": "Study details",
    "sites": "Sites",
    "timepoints": "Timepoints",
    "questionnaires": "Questionnaires at each timepoint",
    "consent": "Consent form",
    "eligibility": "Eligibility criteria",
    "reminders": "Reminders",
    "measures": "Measures and analysis presets",
    "team": "Team",
}


def may_edit(user, study: Study) -> bool:
    return access.can(user, "edit_study_setup", study=study)


def editable_studies(user) -> QuerySet[Study]:
    return access.studies_for(user, "edit_study_setup", every_study=True)


def document_of(study: Study) -> dict:
    """A copy of the study's protocol document, to change and save."""
    return copy.deepcopy(protocol.export(study))


def save(document: dict, *, user, note: str) -> protocol.Loaded:
    """Check and load ``document``; ProtocolError lists what stops it."""
    return protocol.load(
        protocol.from_data(document, source="The study"), user=user, note=note
    )


def starting_document(
    *, slug: str, name: str, short_name: str, site_code: str, site_name: str
) -> dict:
    """The smallest study that works: one site, a baseline, a consent statement."""
    return {
        "slug": slug,
        "name": name,
        "short_name": short_name,
        "sites": [{"code": site_code, "name": site_name}],
        "timepoints": [
            {"code": "start", "label": "Baseline", "day": 0, "window_after": 14}
        ],
        "consent": [
            {
                "version": 1,
                "title": "Consent to take part",
                "statements": [
                    {
                        "code": "take_part",
                        "kind": "take_part",
                        "text": "I agree to take part in this study.",
                    }
                ],
            }
        ],
    }


@transaction.atomic
def create_study(*, user, **details) -> Study:
    if Study.objects.filter(slug=details["slug"]).exists():
        raise DomainError("A study with this short address exists.", field="slug")
    return save(starting_document(**details), user=user, note="Created").study


def new_consent_version(document: dict) -> dict:
    """The document with a new current consent version copied from the current one."""
    changed = copy.deepcopy(document)
    current = next(form for form in changed["consent"] if form["current"])
    following = copy.deepcopy(current)
    following["version"] = max(form["version"] for form in changed["consent"]) + 1
    for form in changed["consent"]:
        form["current"] = False
    following["current"] = True
    changed["consent"].append(following)
    return changed


@transaction.atomic
def add_member(*, study: Study, user, role: str, site=None) -> StaffMembership:
    """Give ``user`` a role in the study, at ``site`` for clinic staff."""
    membership = StaffMembership.objects.filter(
        user=user, study=study, role=role, site=site
    ).first()
    if membership is not None:
        return membership
    membership = StaffMembership(user=user, study=study, role=role, site=site)
    try:
        membership.full_clean()
    except ValidationError as error:
        field, problems = next(iter(error.message_dict.items()))
        where = None if field == "__all__" else field
        raise DomainError(problems[0], field=where) from None
    membership.save()
    return membership
