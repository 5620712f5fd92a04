"""Consent: versioned forms of statements, and immutable records of agreement."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db import transaction

from participants.models import (
    ConsentForm,
    ConsentMethod,
    ConsentRecord,
    Participant,
    ScreeningOutcome,
    ScreeningRecord,
    Study,
)
from studyportal.errors import DomainError


@dataclass(frozen=True)
class ScanKind:
    """An accepted kind of scanned consent form, known by how its file begins."""

    name: str
    content_type: str
    extensions: tuple[str, ...]
    signature: bytes


SCAN_KINDS = (
    ScanKind("PDF", "application/pdf", (".pdf",), b"%PDF-"),
    ScanKind("PNG", "image/png", (".png",), b"\x89PNG\r\n\x1a\n"),
    ScanKind("JPEG", "image/jpeg", (".jpg", ".jpeg"), b"\xff\xd8\xff"),
)
SCAN_EXTENSIONS = tuple(ext for kind in SCAN_KINDS for ext in kind.extensions)
_LONGEST_SIGNATURE = max(len(kind.signature) for kind in SCAN_KINDS)


def scan_kind_named(file_name: str) -> ScanKind | None:
    """The kind a file's name claims; only a claim until its content agrees."""
    name = file_name.lower()
    return next((kind for kind in SCAN_KINDS if name.endswith(kind.extensions)), None)


def scan_kind_of(file) -> ScanKind | None:
    """The kind a file's content shows, whatever its name says."""
    file.seek(0)
    start = file.read(_LONGEST_SIGNATURE)
    file.seek(0)
    return next((kind for kind in SCAN_KINDS if start.startswith(kind.signature)), None)


def stored_scan_kind(record: ConsentRecord) -> ScanKind | None:
    """The kind of a record's stored scan; None when there is none to open."""
    if not record.scanned_form:
        return None
    try:
        with record.scanned_form.open("rb") as file:
            return scan_kind_of(file)
    except OSError:
        return None


def current_form(study: Study) -> ConsentForm:
    form = study.consent_forms.filter(is_current=True).order_by("-version").first()
    if form is None:
        raise DomainError(
            "This study has no current consent form; ask the study administrator."
        )
    return form


@transaction.atomic
def record_consent(
    *,
    screening: ScreeningRecord,
    form: ConsentForm,
    method: str,
    agreed: dict[str, bool],
    consented_on: dt.date,
    taken_by,
    today: dt.date,
    typed_name: str = "",
    scanned_form=None,
    participant: Participant | None = None,
) -> ConsentRecord:
    """Record what the patient agreed to; refuse unless every required statement is."""
    screening = ScreeningRecord.objects.select_for_update().get(pk=screening.pk)
    if participant is None and screening.outcome not in (
        ScreeningOutcome.CONSENTING,
        ScreeningOutcome.CONSENTED,
    ):
        raise DomainError(
            "Only an eligible patient who agreed to hear more can consent."
        )
    if form.study_id != screening.study_id:
        raise DomainError("This consent form belongs to another study.")
    if consented_on > today:
        raise DomainError(
            "The consent date cannot be in the future.", field="consented_on"
        )
    if consented_on < screening.screened_on:
        raise DomainError(
            "Consent cannot come before the screening date.", field="consented_on"
        )
    statements = list(form.statements.all())
    missing = [s for s in statements if s.required and not agreed.get(s.code)]
    if missing:
        raise DomainError(
            "Every required statement must be agreed to take part.",
            field=f"statement_{missing[0].code}",
        )
    if method == ConsentMethod.ELECTRONIC and not typed_name.strip():
        raise DomainError(
            "The patient types their name to confirm e-consent.", field="typed_name"
        )
    record = ConsentRecord.objects.create(
        screening=screening,
        participant=participant,
        form=form,
        method=method,
        agreed={s.code: bool(agreed.get(s.code)) for s in statements},
        typed_name=typed_name.strip(),
        consented_on=consented_on,
        taken_by=taken_by,
        scanned_form=scanned_form or "",
    )
    if screening.outcome == ScreeningOutcome.CONSENTING:
        screening.outcome = ScreeningOutcome.CONSENTED
        screening.save(update_fields=["outcome"])
    return record


def needs_reconsent(participant: Participant) -> bool:
    """True when a newer form requiring re-consent exists than the one signed."""
    latest = participant.latest_consent()
    if latest is None:
        return True
    return participant.study.consent_forms.filter(
        is_current=True, requires_reconsent=True, version__gt=latest.form.version
    ).exists()
