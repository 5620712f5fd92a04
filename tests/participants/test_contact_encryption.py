"""Contact details are encrypted at rest, matched through keyed hashes, and the
keys can be rotated."""

import datetime as dt
from io import StringIO

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import FieldError, ImproperlyConfigured
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.urls import reverse

from participants import audit
from participants.contacts import possible_duplicates
from participants.encryption import ContactDecryptionError
from participants.models import ParticipantContact
from studyportal import config
from tests.participants import journeys
from tests.participants.journeys import contact

NAME, EMAIL, MOBILE = (
    "Zebedee Núñez-Quartermaine",
    "Zebedee@Example.org",
    "+447700900123",
)
BORN = dt.date(1970, 5, 17)
# What must never be readable in the database, in any of its stored forms.
SECRETS = ("Zebedee", "Núñez", "Quartermaine", "example.org", "7700900123", "1970-05")
CONTACT_TABLE = ParticipantContact._meta.db_table
HISTORY_TABLE = ParticipantContact.history.model._meta.db_table


def raw_text(table: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")
        return " ".join(str(value) for row in cursor.fetchall() for value in row)


def raw_tokens(table: str, key: str) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT full_name, email, mobile, date_of_birth FROM "
            f"{connection.ops.quote_name(table)} ORDER BY {key}"
        )
        return cursor.fetchall()


def details(full_name: str = NAME, **changes):
    values = {"email": EMAIL, "mobile": MOBILE, "date_of_birth": BORN, **changes}
    return contact(full_name, **values)


@pytest.fixture
def enrolled(site_a, staff_a):
    participant = journeys.enrol(site_a, staff_a, details=details())
    # A second version, so that the history holds an update as well as the insert.
    audit.update_contact(participant, details(mobile="+447700900456"))
    audit.update_contact(participant, details())
    return participant


@pytest.fixture
def other(site_a, staff_a):
    return journeys.enrol(
        site_a,
        staff_a,
        details=contact("Bea Other", email="bea@example.com", mobile="+447700900999"),
    )


def search(client, user, text: str) -> list:
    client.force_login(user)
    response = client.get(reverse("participants:list"), {"q": text})
    return list(response.context["page"].object_list)


# ---------------------------------------------------------------------------
# At rest


def test_the_contact_table_holds_no_plaintext_details(enrolled):
    stored = raw_text(CONTACT_TABLE)
    assert [secret for secret in SECRETS if secret in stored] == []


def test_the_history_table_holds_no_plaintext_details(enrolled):
    assert ParticipantContact.history.filter(participant_id=enrolled.pk).count() == 3
    stored = raw_text(HISTORY_TABLE)
    assert [secret for secret in SECRETS if secret in stored] == []


def test_details_read_back_as_they_were_written(enrolled):
    stored = ParticipantContact.objects.get(participant=enrolled)
    assert (stored.full_name, stored.email, stored.mobile, stored.date_of_birth) == (
        NAME,
        EMAIL,
        MOBILE,
        BORN,
    )
    first = ParticipantContact.history.earliest()
    assert (first.full_name, first.date_of_birth) == (NAME, BORN)


def test_empty_details_stay_empty(site_a, staff_a):
    participant = journeys.enrol(
        site_a, staff_a, details=contact("Alex Example", mobile="")
    )
    stored = ParticipantContact.objects.get(participant=participant)
    assert (stored.mobile, stored.date_of_birth, stored.mobile_hash) == ("", None, "")


def test_filtering_on_an_encrypted_detail_is_refused_with_a_reason(enrolled):
    with pytest.raises(FieldError, match="encrypted"):
        ParticipantContact.objects.filter(email__iexact=EMAIL).exists()
    assert ParticipantContact.objects.filter(date_of_birth__isnull=False).exists()


def test_details_written_with_an_unknown_key_do_not_read_as_garbage(enrolled, settings):
    settings.CONTACT_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    with pytest.raises(ContactDecryptionError, match="CONTACT_ENCRYPTION_KEYS"):
        ParticipantContact.objects.get(participant=enrolled)


# ---------------------------------------------------------------------------
# Duplicates and search, through the keyed hashes


def test_the_same_email_in_any_case_is_a_possible_duplicate(enrolled, other):
    found = details(full_name="Someone", email=" zebedee@EXAMPLE.ORG", mobile="")
    assert possible_duplicates(enrolled.study, found) == [enrolled]


def test_the_same_mobile_is_a_possible_duplicate(enrolled, other):
    found = details(full_name="Someone", email="", date_of_birth=None)
    assert possible_duplicates(enrolled.study, found) == [enrolled]


def test_the_same_name_in_another_spelling_and_birth_date_is_a_duplicate(
    enrolled, other
):
    found = details(full_name="zebedee nunez quartermaine", email="", mobile="")
    assert possible_duplicates(enrolled.study, found) == [enrolled]


def test_search_finds_a_participant_by_a_word_of_the_surname(
    client, staff_a, enrolled, other
):
    assert search(client, staff_a, "NUNEZ") == [enrolled]
    assert search(client, staff_a, "quartermaine zebedee") == [enrolled]


def test_search_matches_whole_words_only(client, staff_a, enrolled, other):
    assert search(client, staff_a, "Quarter") == []


def test_numbers_in_a_name_are_words_that_must_match_too(site_a, staff_a, client):
    seventh, eighth = (
        journeys.enrol(site_a, staff_a, details=contact(f"Demo Participant {n}"))
        for n in ("007", "008")
    )
    assert search(client, staff_a, "participant 007") == [seventh]


def test_search_finds_a_participant_by_email(client, staff_a, enrolled, other):
    assert search(client, staff_a, "zebedee@example.ORG ") == [enrolled]


def test_search_finds_a_participant_by_phone_in_another_format(
    client, staff_a, enrolled, other
):
    assert search(client, staff_a, "07700 900123") == [enrolled]
    assert search(client, staff_a, "+44 (0)7700-900123") == [enrolled]


def test_search_still_finds_by_study_id(client, staff_a, enrolled, other):
    assert search(client, staff_a, other.code.lower()) == [other]


# ---------------------------------------------------------------------------
# Rotation


def test_rotation_moves_every_row_to_the_new_key(site_a, staff_a, settings):
    key_a, key_b = (Fernet.generate_key().decode() for _ in range(2))
    settings.CONTACT_ENCRYPTION_KEYS = [key_a]
    participant = journeys.enrol(site_a, staff_a, details=details())
    audit.update_contact(participant, details(email="z.q@example.org"))
    before = raw_tokens(CONTACT_TABLE, "id") + raw_tokens(HISTORY_TABLE, "history_id")

    settings.CONTACT_ENCRYPTION_KEYS = [key_b, key_a]
    out = StringIO()
    call_command("rotate_contact_keys", "--batch-size", "1", stdout=out)
    assert out.getvalue().splitlines() == [
        "Contacts: 1 checked, 1 re-encrypted, 0 rehashed.",
        "History: 2 checked, 2 re-encrypted.",
    ]

    settings.CONTACT_ENCRYPTION_KEYS = [key_b]
    stored = ParticipantContact.objects.get(participant=participant)
    assert (stored.full_name, stored.email, stored.date_of_birth) == (
        NAME,
        "z.q@example.org",
        BORN,
    )
    assert [h.email for h in ParticipantContact.history.order_by("history_id")] == [
        EMAIL,
        "z.q@example.org",
    ]
    after = raw_tokens(CONTACT_TABLE, "id") + raw_tokens(HISTORY_TABLE, "history_id")
    old_tokens = [token for row in before for token in row if token]
    new_tokens = [token for row in after for token in row if token]
    assert len(old_tokens) == len(new_tokens) == 3 * 4
    assert set(old_tokens).isdisjoint(new_tokens)


def test_rotation_run_again_changes_nothing(enrolled):
    call_command("rotate_contact_keys", stdout=StringIO())
    before = raw_tokens(CONTACT_TABLE, "id")
    out = StringIO()
    call_command("rotate_contact_keys", stdout=out)
    assert "0 re-encrypted, 0 rehashed" in out.getvalue()
    assert raw_tokens(CONTACT_TABLE, "id") == before


def test_a_new_hash_key_finds_nothing_until_rotation_recomputes_the_hashes(
    client, staff_a, enrolled, other, settings
):
    settings.CONTACT_HASH_KEY = "a-new-contact-hash-key-" + "n3w!" * 8
    assert search(client, staff_a, "quartermaine") == []

    out = StringIO()
    call_command("rotate_contact_keys", stdout=out)

    assert "Contacts: 2 checked, 0 re-encrypted, 2 rehashed." in out.getvalue()
    assert search(client, staff_a, "quartermaine") == [enrolled]
    assert search(client, staff_a, "07700 900123") == [enrolled]
    found = details(full_name="Someone", mobile="")
    assert possible_duplicates(enrolled.study, found) == [enrolled]


# ---------------------------------------------------------------------------
# The data migration


@pytest.mark.django_db(transaction=True)
def test_the_data_migration_encrypts_plaintext_rows_and_fills_the_hashes(
    site_a, staff_a
):
    participant = journeys.enrol(site_a, staff_a, details=details())
    executor = MigrationExecutor(connection)
    try:
        executor.migrate([("participants", "0007_contact_encryption")])
        # Undone, the data migration leaves the plaintext of before it.
        assert NAME in raw_text(CONTACT_TABLE)
        assert EMAIL in raw_text(HISTORY_TABLE)
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
    assert [s for s in SECRETS if s in raw_text(CONTACT_TABLE)] == []
    assert [s for s in SECRETS if s in raw_text(HISTORY_TABLE)] == []
    assert possible_duplicates(participant.study, details(mobile="")) == [participant]
    stored = ParticipantContact.objects.get(participant=participant)
    assert (stored.full_name, stored.date_of_birth) == (NAME, BORN)


# ---------------------------------------------------------------------------
# Keys from the environment

VALID_KEY = "dGVzdC1zdWl0ZS1jb250YWN0LWtleS1ub3Qtc2VjcmU="


def test_encryption_keys_are_required_when_debug_is_off():
    with pytest.raises(ImproperlyConfigured, match="CONTACT_ENCRYPTION_KEYS must"):
        config.read_contact_encryption_keys({}, debug=False)


def test_a_development_encryption_key_is_used_only_with_debug():
    assert config.read_contact_encryption_keys({}, debug=True) == [
        config.DEV_CONTACT_ENCRYPTION_KEY
    ]


def test_encryption_keys_are_read_in_order():
    other = Fernet.generate_key().decode()
    environ = {"CONTACT_ENCRYPTION_KEYS": f" {other}, {VALID_KEY} "}
    assert config.read_contact_encryption_keys(environ, debug=False) == [
        other,
        VALID_KEY,
    ]


@pytest.mark.parametrize("debug", [True, False])
def test_a_malformed_encryption_key_is_refused(debug):
    environ = {"CONTACT_ENCRYPTION_KEYS": f"{VALID_KEY},not-a-key"}
    with pytest.raises(ImproperlyConfigured, match="Key 2 of CONTACT_ENCRYPTION"):
        config.read_contact_encryption_keys(environ, debug=debug)


def test_the_hash_key_is_required_when_debug_is_off():
    with pytest.raises(ImproperlyConfigured, match="CONTACT_HASH_KEY must"):
        config.read_contact_hash_key({}, debug=False)
    assert config.read_contact_hash_key({}, debug=True) == config.DEV_CONTACT_HASH_KEY


def test_a_short_hash_key_is_refused():
    with pytest.raises(ImproperlyConfigured, match="at least 32"):
        config.read_contact_hash_key({"CONTACT_HASH_KEY": "short"}, debug=False)
