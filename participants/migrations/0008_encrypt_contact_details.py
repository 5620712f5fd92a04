"""Encrypts the contact details written before 0007, and fills their keyed hashes.

Raw SQL rather than historical models: those would try to decrypt the plaintext
they read.
"""

import datetime as dt

from django.db import migrations

from participants import contact_hashes
from participants.encryption import decrypt_text, encrypt_text

CONTACT_TABLE = "participants_participantcontact"
HISTORY_TABLE = "participants_historicalparticipantcontact"
DETAILS = ("full_name", "email", "mobile", "date_of_birth")
HASHES = ("email_hash", "mobile_hash", "name_dob_hash", "name_words")
BATCH = 500


def _rows(cursor, quote, table, key, columns):
    last = 0  # both keys are serials starting at 1
    while True:
        cursor.execute(
            f"SELECT {quote(key)}, {', '.join(quote(c) for c in columns)} "
            f"FROM {quote(table)} WHERE {quote(key)} > %s "
            f"ORDER BY {quote(key)} LIMIT {BATCH}",
            [last],
        )
        batch = cursor.fetchall()
        if not batch:
            return
        yield from batch
        last = batch[-1][0]


def _update(cursor, quote, table, key, pk, values: dict) -> None:
    assignments = ", ".join(f"{quote(column)} = %s" for column in values)
    cursor.execute(
        f"UPDATE {quote(table)} SET {assignments} WHERE {quote(key)} = %s",
        [*values.values(), pk],
    )


def _hashes(full_name: str, email: str, mobile: str, born: str | None) -> dict:
    date_of_birth = dt.date.fromisoformat(born) if born else None
    return {
        "email_hash": contact_hashes.email_hash(email),
        "mobile_hash": contact_hashes.mobile_hash(mobile),
        "name_dob_hash": contact_hashes.name_dob_hash(full_name, date_of_birth),
        "name_words": contact_hashes.name_word_index(full_name),
    }


def _each_row(schema_editor, change) -> None:
    """Write ``change(table, details)`` back to every row of both tables."""
    connection = schema_editor.connection
    quote = connection.ops.quote_name
    tables = ((CONTACT_TABLE, "id"), (HISTORY_TABLE, "history_id"))
    with connection.cursor() as reader, connection.cursor() as writer:
        for table, key in tables:
            for pk, *details in _rows(reader, quote, table, key, DETAILS):
                _update(writer, quote, table, key, pk, change(table, details))


def _encrypt(table: str, details: list) -> dict:
    values = {
        column: encrypt_text(value) if value else value
        for column, value in zip(DETAILS, details, strict=True)
    }
    if table == CONTACT_TABLE:
        values.update(_hashes(*details))
    return values


def _decrypt(table: str, details: list) -> dict:
    values = {
        column: decrypt_text(value) if value else value
        for column, value in zip(DETAILS, details, strict=True)
    }
    if table == CONTACT_TABLE:
        values.update(dict.fromkeys(HASHES, ""))
    return values


def encrypt_contact_details(apps, schema_editor) -> None:
    _each_row(schema_editor, _encrypt)


def decrypt_contact_details(apps, schema_editor) -> None:
    _each_row(schema_editor, _decrypt)


class Migration(migrations.Migration):
    dependencies = [
        ("participants", "0007_contact_encryption"),
    ]

    operations = [
        migrations.RunPython(encrypt_contact_details, decrypt_contact_details),
    ]
