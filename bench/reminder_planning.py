"""Time and count the queries of the reminder planner as the cohort grows.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/studyportal_bench \
        .venv/bin/python bench/reminder_planning.py [--sizes 10000 100000] [--due 1000]

On a throwaway test database, builds participants with two visits each directly
with bulk_create (the services would take hours at this size), gives ``--due``
of the visits a ``next_message_at`` in the past and the rest one in the future,
then runs ``reminders.plan_due(now)`` once per size and prints the time and the
number of queries. The planner is meant to read only due visits through the
``next_message_at`` index, so both figures should follow the number due, not the
number of participants; the EXPLAIN of its visit query shows which way it reads.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from django.db import connection, transaction  # noqa: E402
from django.utils import timezone  # noqa: E402
from support import throwaway_database  # noqa: E402

BATCH = 5000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--due", type=int, default=1000)
    args = parser.parse_args()

    with throwaway_database():
        run(sorted(args.sizes), args.due)


def run(sizes: list[int], due: int) -> None:
    from participants import reminders
    from studyportal import demo

    study = demo.seed_reference_study()
    reminders.policy_for(study)
    print(
        f"database: {connection.vendor}, batch of the planner: {reminders.PLAN_BATCH}"
    )

    rows = []
    built = 0
    explained = ""
    for size in sizes:
        start = time.perf_counter()
        build_participants(study, first=built, count=size - built)
        built = size
        now = timezone.now()
        make_due(now, due)
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
        build_seconds = time.perf_counter() - start

        # A dry run reads the same due visits and changes nothing: it warms the
        # caches and hands over the visit query to explain.
        with Recorder() as dry:
            reminders.plan_due(now, dry_run=True)
        explained = explain(*next(q for q in dry.queries if is_visit_query(q)))

        with Recorder() as recorder:
            start = time.perf_counter()
            result = reminders.plan_due(now)
            seconds = time.perf_counter() - start
        visits = count_visits()
        rows.append(
            (size, visits, due, result.created, seconds, len(recorder), build_seconds)
        )

    print()
    header = ("participants", "visits", "due", "planned", "seconds", "queries")
    print(" ".join(f"{name:>12}" for name in header), f"{'(built in s)':>14}")
    for size, visits, due_count, planned, seconds, queries, build in rows:
        print(
            f"{size:>12,} {visits:>12,} {due_count:>12,} {planned:>12,} "
            f"{seconds:>12.3f} {queries:>12,} {build:>14.1f}"
        )
    if len(rows) > 1:
        small, big = rows[0], rows[-1]
        print(
            f"\n{big[0]:,} / {small[0]:,} participants: time x{big[4] / small[4]:.2f}, "
            f"queries x{big[5] / small[5]:.2f}"
        )
    print("\nEXPLAIN ANALYZE of the planner's visit query at the largest size:")
    print(explained)


class Recorder:
    """Every statement the connection runs, without the query log's 9,000 cap."""

    def __init__(self) -> None:
        self.queries: list[tuple[str, object]] = []
        self._wrapping = None

    def __call__(self, execute, sql, params, many, context):
        self.queries.append((sql, params))
        return execute(sql, params, many, context)

    def __len__(self) -> int:
        return len(self.queries)

    def __enter__(self) -> Recorder:
        self._wrapping = connection.execute_wrapper(self)
        self._wrapping.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self._wrapping.__exit__(*exc)


def is_visit_query(query: tuple[str, object]) -> bool:
    sql = query[0]
    return 'FROM "participants_visit"' in sql and "FOR UPDATE" in sql


def explain(sql: str, params) -> str:
    """EXPLAIN ANALYZE inside a transaction rolled back, as the query locks rows."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
        transaction.set_rollback(True)
    return plan


def count_visits() -> int:
    from participants.models import Visit

    return Visit.objects.count()


def build_participants(study, *, first: int, count: int) -> None:
    """``count`` enrolled participants, each with an open baseline and a follow-up."""
    from django.contrib.auth import get_user_model

    from participants.models import (
        Channel,
        Participant,
        ParticipantContact,
        ScreeningOutcome,
        ScreeningRecord,
        Visit,
    )
    from participants.schedule import new_visit

    user, _ = get_user_model().objects.get_or_create(username="bench")
    sites = list(study.sites.order_by("code"))
    timepoints = list(study.timepoints.order_by("order"))
    criteria = {code: True for code in study.criteria.values_list("code", flat=True)}
    today = timezone.localdate()
    later = timezone.now() + dt.timedelta(days=30)
    for offset in range(first, first + count, BATCH):
        numbers = range(offset, min(offset + BATCH, first + count))
        enrolled_on = [today - dt.timedelta(days=n % 10) for n in numbers]
        screenings = ScreeningRecord.objects.bulk_create(
            ScreeningRecord(
                study=study,
                site=sites[n % len(sites)],
                screened_on=day,
                criteria_met=criteria,
                eligible=True,
                outcome=ScreeningOutcome.ENROLLED,
                screened_by=user,
            )
            for n, day in zip(numbers, enrolled_on, strict=True)
        )
        participants = Participant.objects.bulk_create(
            Participant(
                study=study,
                site=screening.site,
                code=f"{screening.site.code}-{n:07d}",
                screening=screening,
                enrolled_on=day,
                enrolled_by=user,
            )
            for n, day, screening in zip(numbers, enrolled_on, screenings, strict=True)
        )
        contacts = [
            ParticipantContact(
                participant=participant,
                full_name=f"Bench Participant {participant.code}",
                email=f"{participant.code.lower()}@example.invalid",
                preferred_channel=Channel.EMAIL,
            )
            for participant in participants
        ]
        for contact in contacts:
            contact.refresh_hashes()  # bulk_create skips save(), which does it
        ParticipantContact.objects.bulk_create(contacts)
        visits = []
        for participant in participants:
            for timepoint in timepoints:
                visit = new_visit(
                    participant, timepoint, anchor=participant.enrolled_on, today=today
                )
                # Spread over a fortnight so the index sees many values.
                visit.next_message_at = later + dt.timedelta(
                    minutes=participant.pk % 20_000
                )
                visits.append(visit)
        Visit.objects.bulk_create(visits)


def make_due(now: dt.datetime, due: int) -> None:
    """``due`` open baseline visits come due (their invitation); none is due else."""
    from participants.models import OutboundMessage, Visit, VisitStatus

    Visit.objects.filter(next_message_at__lte=now).update(
        next_message_at=now + dt.timedelta(days=30)
    )
    # Visits without any message yet, so each due visit plans its invitation.
    # Opened within the week: only the invitation is due, no reminder yet.
    week = timezone.localdate() - dt.timedelta(days=6)
    fresh = (
        Visit.objects.filter(
            status=VisitStatus.OPEN, timepoint__order=1, opens_on__gte=week
        )
        .exclude(pk__in=OutboundMessage.objects.values("visit_id"))
        .order_by("-pk")
        .values_list("pk", flat=True)[:due]
    )
    Visit.objects.filter(pk__in=list(fresh)).update(
        next_message_at=now - dt.timedelta(hours=1)
    )


if __name__ == "__main__":
    main()
