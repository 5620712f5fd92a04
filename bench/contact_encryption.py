"""What encrypting contact details costs: saving, loading and duplicate checks.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/studyportal_bench \
        .venv/bin/python bench/contact_encryption.py [--count 10000]

On a throwaway test database, writes ``--count`` ParticipantContact rows
(encrypted, with their keyed hashes) and as many rows of a plain table with the
columns the contact table had before encryption, both with bulk_create; reads
each table back whole; then times a possible-duplicates check against each.
Prints seconds and the encrypted/plain ratio.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from django.db import connection, models  # noqa: E402
from django.db.models import Q  # noqa: E402
from support import throwaway_database  # noqa: E402

BATCH = 1000
LOOKUPS = 200


class PlainContact(models.Model):
    """The contact table as it was before encryption, for the baseline."""

    participant = models.OneToOneField(
        "participants.Participant", models.CASCADE, related_name="bench_plain"
    )
    full_name = models.CharField(max_length=200)
    email = models.EmailField(blank=True, db_index=True)
    mobile = models.CharField(max_length=20, blank=True, db_index=True)
    preferred_channel = models.CharField(max_length=10)
    time_zone = models.CharField(max_length=64)
    date_of_birth = models.DateField(null=True)

    class Meta:
        app_label = "participants"
        db_table = "bench_plain_contact"
        managed = False  # created by the benchmark, unknown to migrations

    def __str__(self) -> str:
        return self.full_name


def person(n: int) -> dict:
    return {
        "full_name": f"Bench Participant {n:06d}",
        "email": f"bench.{n:06d}@example.invalid",
        "mobile": f"+4477009{n % 100000:05d}",
        "preferred_channel": "email",
        "time_zone": "Europe/London",
        "date_of_birth": dt.date(1950, 1, 1) + dt.timedelta(days=n % 15000),
    }


def participants(count: int) -> list[int]:
    """``count`` bare participants for the contacts to belong to."""
    from django.contrib.auth import get_user_model

    from participants.models import Participant, ScreeningRecord
    from studyportal import demo

    study = demo.seed_reference_study()
    site = study.sites.order_by("code").first()
    user = get_user_model().objects.create(username="bench")
    today = dt.date.today()
    screenings = ScreeningRecord.objects.bulk_create(
        ScreeningRecord(
            study=study,
            site=site,
            screened_on=today,
            eligible=True,
            outcome="enrolled",
            screened_by=user,
        )
        for _ in range(count)
    )
    made = Participant.objects.bulk_create(
        Participant(
            study=study,
            site=site,
            code=f"B-{n:07d}",
            screening=screening,
            enrolled_on=today,
            enrolled_by=user,
        )
        for n, screening in enumerate(screenings)
    )
    return [p.pk for p in made]


def seconds(action) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def median_seconds(action, rounds: int) -> float:
    return statistics.median(seconds(action) for _ in range(rounds))


def run(count: int) -> None:
    from participants.contacts import ContactDetails, possible_duplicates
    from participants.models import Participant, ParticipantContact

    with connection.schema_editor() as editor:
        editor.create_model(PlainContact)
    ids = participants(count)
    study = Participant.objects.first().study

    def save_encrypted():
        for first in range(0, count, BATCH):
            rows = []
            for n, pk in enumerate(ids[first : first + BATCH], start=first):
                row = ParticipantContact(participant_id=pk, **person(n))
                row.refresh_hashes()
                rows.append(row)
            ParticipantContact.objects.bulk_create(rows)

    def save_plain():
        PlainContact.objects.bulk_create(
            (PlainContact(participant_id=pk, **person(n)) for n, pk in enumerate(ids)),
            batch_size=BATCH,
        )

    probe = person(count // 2)
    details = ContactDetails(
        full_name=probe["full_name"].upper(),
        email=probe["email"].upper(),
        mobile=probe["mobile"],
        date_of_birth=probe["date_of_birth"],
    )
    # The check as it was before encryption.
    plain_match = (
        Q(bench_plain__email__iexact=details.email)
        | Q(bench_plain__mobile=details.mobile)
        | Q(
            bench_plain__full_name__iexact=details.full_name,
            bench_plain__date_of_birth=details.date_of_birth,
        )
    )
    in_study = Participant.objects.filter(study=study).select_related("site")

    figures = [("save", seconds(save_encrypted), seconds(save_plain))]
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")  # plan the lookups on the rows just written
    assert len(possible_duplicates(study, details)) == 1
    assert len(in_study.filter(plain_match)) == 1
    figures += [
        (
            "load",
            seconds(lambda: list(ParticipantContact.objects.all())),
            seconds(lambda: list(PlainContact.objects.all())),
        ),
        (
            "duplicate check (median)",
            median_seconds(lambda: possible_duplicates(study, details), LOOKUPS),
            median_seconds(
                lambda: list(in_study.filter(plain_match).distinct()), LOOKUPS
            ),
        ),
    ]
    print(f"database: {connection.vendor}, {count} contacts")
    print(f"{'':26}{'encrypted':>12}{'plain':>12}{'ratio':>8}")
    for name, encrypted, plain in figures:
        print(f"{name:26}{encrypted:11.4f}s{plain:11.4f}s{encrypted / plain:7.1f}x")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=10_000)
    args = parser.parse_args()
    with throwaway_database():
        run(args.count)


if __name__ == "__main__":
    main()
