"""Model fields whose values are stored encrypted with Fernet (AES-CBC + HMAC).

CONTACT_ENCRYPTION_KEYS lists the keys, the current one first: values are
encrypted with it and decrypted with whichever key made them, which is what lets
keys be rotated (participants.key_rotation). Empty strings and NULL are stored as
they are, so only whether a detail was given is visible in the database.
"""

from __future__ import annotations

import datetime as dt
import functools

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django import forms
from django.conf import settings
from django.core.exceptions import FieldError
from django.db import models


class ContactDecryptionError(Exception):
    pass


@functools.lru_cache(maxsize=8)
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(key) for key in keys])


def _keys() -> tuple[str, ...]:
    # Read on every call, not at import, so that override_settings and a
    # restarted process with new keys are both honoured.
    return tuple(settings.CONTACT_ENCRYPTION_KEYS)


def encrypt_text(plaintext: str) -> str:
    if plaintext == "":
        return ""
    return _fernet(_keys()).encrypt(plaintext.encode()).decode()


def decrypt_text(token: str) -> str:
    if token == "":
        return ""
    try:
        return _fernet(_keys()).decrypt(token.encode()).decode()
    except InvalidToken:
        raise ContactDecryptionError(
            "A stored contact detail could not be decrypted: the key that "
            "encrypted it is not in CONTACT_ENCRYPTION_KEYS (or the value is not "
            "encrypted)."
        ) from None


def is_encrypted_with_current_key(token: str) -> bool:
    if token == "":
        return True
    try:
        Fernet(_keys()[0]).decrypt(token.encode())
    except InvalidToken:
        return False
    return True


class EncryptedFieldMixin:
    """Encrypts on the way to the database and decrypts on the way back.

    Ciphertexts of equal values differ, so a lookup other than isnull would
    quietly match nothing; it raises instead. Search through the keyed hashes
    of participants.contact_hashes.
    """

    def get_internal_type(self) -> str:
        return "TextField"

    def get_lookup(self, lookup_name):
        if lookup_name == "isnull":
            return super().get_lookup(lookup_name)
        raise FieldError(
            f"{self.model.__name__}.{self.name} is encrypted and cannot be "
            f"filtered with '{lookup_name}'; match its keyed hash instead "
            "(participants.contact_hashes)."
        )

    def get_transform(self, lookup_name):
        return None

    def to_text(self, value) -> str:
        return str(value)

    def from_text(self, text: str):
        return text

    def get_db_prep_value(self, value, connection, prepared=False):
        if not prepared:
            value = self.get_prep_value(value)
        if value is None:
            return None
        return encrypt_text(self.to_text(value))

    def from_db_value(self, value, expression, connection):
        if value is None:
            return None
        return self.from_text(decrypt_text(value))


class EncryptedTextField(EncryptedFieldMixin, models.TextField):
    def formfield(self, **kwargs):
        return super().formfield(**{"widget": forms.TextInput, **kwargs})


class EncryptedDateField(EncryptedFieldMixin, models.DateField):
    def to_text(self, value: dt.date) -> str:
        return value.isoformat()

    def from_text(self, text: str) -> dt.date:
        return dt.date.fromisoformat(text)
