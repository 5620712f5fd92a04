"""Screening referred patients against the study's eligibility checklist."""

from __future__ import annotations

import datetime as dt

from django.db import transaction

from participants.models import (
    DeclineReason,
    ScreeningOutcome,
    ScreeningRecord,
    Site,
)
from studyportal.errors import DomainError

ELIGIBLE_OUTCOMES = (
    ScreeningOutcome.NOT_APPROACHED,
    ScreeningOutcome.DECLINED,
    ScreeningOutcome.CONSENTING,
)


@transaction.atomic
def record_screening(
    *,
    site: Site,
    screened_on: dt.date,
    criteria_met: dict[str, bool],
    outcome: str | None,
    decline_reason: str = "",
    decline_detail: str = "",
    user,
    today: dt.date,
    is_test_data: bool = False,
) -> ScreeningRecord:
    """Log one screened patient; the criteria decide eligibility, not the user.

    ``is_test_data`` marks a screening made up to try the study out (see
    ``StudyPhase``); the participant it may become is test data too.
    """
    study = site.study
    codes = list(study.criteria.values_list("code", flat=True))
    if set(criteria_met) != set(codes):
        missing = sorted(set(codes) - set(criteria_met))
        raise DomainError(f"Answer every criterion (missing: {', '.join(missing)}).")
    if screened_on > today:
        raise DomainError(
            "The screening date cannot be in the future.", field="screened_on"
        )
    eligible = all(criteria_met.values())
    if not eligible:
        outcome = ScreeningOutcome.INELIGIBLE
        decline_reason, decline_detail = "", ""
    elif outcome not in ELIGIBLE_OUTCOMES:
        raise DomainError(
            "Say whether this eligible patient was approached.", field="outcome"
        )
    if outcome == ScreeningOutcome.DECLINED:
        if not decline_reason:
            raise DomainError(
                "Choose why the patient declined.", field="decline_reason"
            )
        if decline_reason == DeclineReason.OTHER and not decline_detail.strip():
            raise DomainError("Say what the other reason was.", field="decline_detail")
    else:
        decline_reason, decline_detail = "", ""
    return ScreeningRecord.objects.create(
        study=study,
        site=site,
        screened_on=screened_on,
        criteria_met={code: bool(criteria_met[code]) for code in codes},
        eligible=eligible,
        outcome=outcome,
        decline_reason=decline_reason,
        decline_detail=decline_detail.strip(),
        screened_by=user,
        is_test_data=is_test_data,
    )
