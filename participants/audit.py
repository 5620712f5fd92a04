"""The audit trail: who changed what and when, and who looked at contact details.

Changes are recorded by django-simple-history on every model that holds study
data; this module reads them back as one timeline per participant.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.db import transaction

from instruments.models import Response
from participants.contacts import ContactDetails, check_channel
from participants.models import (
    ConsentRecord,
    ContactView,
    Participant,
    ParticipantContact,
    ScreeningRecord,
    Visit,
)

ACTIONS = {"+": "created", "~": "changed", "-": "deleted"}


@dataclass
class Change:
    when: dt.datetime
    who: str
    what: str
    action: str
    fields: list[tuple[str, str, str]] = field(default_factory=list)
    reason: str = ""


def log_contact_view(
    participant: Participant,
    user,
    page: str,
    *,
    consent: ConsentRecord | None = None,
) -> None:
    """Record who opened a participant's contact details, or with ``consent`` the
    scan of that signed form."""
    ContactView.objects.create(
        participant=participant, viewed_by=user, page=page[:200], consent=consent
    )


@transaction.atomic
def update_contact(
    participant: Participant, details: ContactDetails
) -> ParticipantContact:
    check_channel(details)
    contact = ParticipantContact.objects.select_for_update().get(
        participant=participant
    )
    for name, value in vars(details).items():
        setattr(contact, name, value)
    contact.save()
    return contact


def _describe(record, label: str) -> str:
    # Most records already name their kind ("Consent 3 (...)"); say it once.
    name = str(record.instance)
    return name if name.startswith(label) else f"{label} {name}"


def _history_of(queryset, label) -> list[Change]:
    changes = []
    previous_by_object: dict = {}
    records = queryset.order_by("history_date", "history_id").select_related(
        "history_user"
    )
    for record in records:
        key = record.id
        before = previous_by_object.get(key)
        fields = []
        if before is not None:
            delta = record.diff_against(before)
            for change in delta.changes:
                fields.append((change.field, _show(change.old), _show(change.new)))
        previous_by_object[key] = record
        if record.history_type == "~" and not fields:
            continue
        changes.append(
            Change(
                when=record.history_date,
                who=str(record.history_user or "system"),
                what=_describe(record, label),
                action=ACTIONS.get(record.history_type, record.history_type),
                fields=fields,
                reason=record.history_change_reason or "",
            )
        )
    return changes


def _show(value) -> str:
    if value is None or value == "":
        return "—"
    return str(value)


def changes_for(participant: Participant) -> list[Change]:
    """Every recorded change to the participant's records, newest first."""
    history = []
    history += _history_of(Participant.history.filter(id=participant.pk), "Participant")
    history += _history_of(
        ParticipantContact.history.filter(participant_id=participant.pk),
        "Contact details",
    )
    history += _history_of(
        ScreeningRecord.history.filter(id=participant.screening_id), "Screening"
    )
    history += _history_of(
        ConsentRecord.history.filter(screening_id=participant.screening_id), "Consent"
    )
    history += _history_of(Visit.history.filter(participant_id=participant.pk), "Visit")
    visit_ids = list(participant.visits.values_list("id", flat=True))
    history += _history_of(Response.history.filter(visit_id__in=visit_ids), "Response")
    return sorted(history, key=lambda change: change.when, reverse=True)
