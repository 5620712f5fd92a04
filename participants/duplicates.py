"""Possible duplicates at enrolment, without telling one clinic about another's.

Clinic staff confirm only the matches they may open themselves. A match at a
clinic they cannot see becomes a pair for the study's coordinators to review, and
the enrolling user's page is the same whether or not such a match exists.
"""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from participants.contacts import ContactDetails, possible_duplicates
from participants.models import Participant, PossibleDuplicate, Study
from studyportal import access
from studyportal.errors import DomainError

# The keyed hashes possible_duplicates matches on, and how a person names them.
MATCHED_FIELDS = (
    ("email_hash", "email address"),
    ("mobile_hash", "mobile number"),
    ("name_dob_hash", "name and date of birth"),
)


def duplicates_to_confirm(
    user, study: Study, details: ContactDetails
) -> list[Participant]:
    """The possible duplicates the enrolling user may open, and so must confirm."""
    matches = possible_duplicates(study, details)
    visible = _visible_ids(user, matches)
    return [match for match in matches if match.pk in visible]


@transaction.atomic
def record_unseen_matches(
    participant: Participant, details: ContactDetails, *, user, today: dt.date
) -> list[PossibleDuplicate]:
    """Pair a new participant with each match ``user`` could not see, for review."""
    matches = possible_duplicates(participant.study, details, exclude=participant)
    visible = _visible_ids(user, matches)
    unseen = [match for match in matches if match.pk not in visible]
    return [
        PossibleDuplicate.objects.get_or_create(
            participant=participant, other=other, defaults={"found_on": today}
        )[0]
        for other in unseen
    ]


def _visible_ids(user, participants: list[Participant]) -> set[int]:
    found = access.participants_for(user).filter(pk__in=[p.pk for p in participants])
    return set(found.values_list("pk", flat=True))


def matched_on(pair: PossibleDuplicate) -> list[str]:
    """What the two participants' contact details have in common."""
    mine, theirs = pair.participant.contact, pair.other.contact
    return [
        label
        for field, label in MATCHED_FIELDS
        if getattr(mine, field) and getattr(mine, field) == getattr(theirs, field)
    ]


def pairs_to_review(user) -> QuerySet[PossibleDuplicate]:
    return (
        access.possible_duplicates_for(user)
        .filter(outcome="")
        .select_related(
            "participant__site",
            "participant__contact",
            "other__site",
            "other__contact",
        )
    )


def reviewed_pairs(user) -> QuerySet[PossibleDuplicate]:
    return (
        access.possible_duplicates_for(user)
        .exclude(outcome="")
        .select_related("participant__site", "other__site", "reviewed_by")
        .order_by("-reviewed_at")
    )


def review(pair: PossibleDuplicate, *, outcome: str, user) -> PossibleDuplicate:
    """Record a coordinator's decision once; a second decision is refused."""
    if outcome not in PossibleDuplicate.Outcome.values:
        raise DomainError("Choose “same person” or “different people”.")
    claimed = PossibleDuplicate.objects.filter(pk=pair.pk, outcome="").update(
        outcome=outcome, reviewed_by=user, reviewed_at=timezone.now()
    )
    pair.refresh_from_db()
    if claimed != 1:
        raise DomainError(
            f"{pair.participant} and {pair.other} were already reviewed by "
            f"{pair.reviewed_by}."
        )
    return pair
