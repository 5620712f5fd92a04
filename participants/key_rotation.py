"""Re-encrypting contact details with the current key and rehashing them."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import models, transaction
from django.db.models.functions import Cast

from participants.encryption import is_encrypted_with_current_key
from participants.models import (
    CONTACT_ENCRYPTED_FIELDS,
    CONTACT_HASH_FIELDS,
    ParticipantContact,
)


@dataclass(frozen=True)
class TableRotation:
    rows: int
    reencrypted: int
    rehashed: int


@dataclass(frozen=True)
class RotationResult:
    contacts: TableRotation
    history: TableRotation


def rotate_contact_keys(*, batch_size: int = 500) -> RotationResult:
    """Re-encrypt with the first of CONTACT_ENCRYPTION_KEYS every contact row and
    history row made with another key, and recompute every keyed hash with
    CONTACT_HASH_KEY. Rows already current are left alone, so a second run (or a
    run after an interrupted one) writes nothing it need not."""
    return RotationResult(
        contacts=_rotate(ParticipantContact, batch_size=batch_size, hashed=True),
        history=_rotate(
            ParticipantContact.history.model, batch_size=batch_size, hashed=False
        ),
    )


def _rotate(model, *, batch_size: int, hashed: bool) -> TableRotation:
    # The stored tokens, undecrypted, to tell which key made them.
    tokens = {
        f"token_{name}": Cast(name, output_field=models.TextField())
        for name in CONTACT_ENCRYPTED_FIELDS
    }
    fields = [*CONTACT_ENCRYPTED_FIELDS, *(CONTACT_HASH_FIELDS if hashed else ())]
    rows = reencrypted = rehashed = 0
    last_pk = 0
    while True:
        # One transaction per batch: rows are locked only briefly, and an
        # interrupted run keeps what it finished.
        with transaction.atomic():
            batch = list(
                model._default_manager.select_for_update()
                .filter(pk__gt=last_pk)
                .annotate(**tokens)
                .order_by("pk")[:batch_size]
            )
            if not batch:
                break
            changed = []
            for row in batch:
                stale = not all(
                    is_encrypted_with_current_key(getattr(row, f"token_{name}") or "")
                    for name in CONTACT_ENCRYPTED_FIELDS
                )
                new_hashes = hashed and row.refresh_hashes()
                reencrypted += stale
                rehashed += new_hashes
                if stale or new_hashes:
                    changed.append(row)
            # Saving writes every encrypted field with the current key.
            model._default_manager.bulk_update(changed, fields)
        rows += len(batch)
        last_pk = batch[-1].pk
    return TableRotation(rows=rows, reencrypted=reencrypted, rehashed=rehashed)
