"""Server time and query count of the retention dashboard at two cohort sizes.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/studyportal_bench \
        .venv/bin/python bench/dashboard.py [--sizes 1000 100000] [--rounds 5]

Builds each cohort on a throwaway test database with bulk_create (participants,
their two visits in varied states, screening records, some sent messages and
calls), then times the dashboard, the CONSORT SVG and the tracker CSV through
Django's full middleware stack with the test client. Prints the median of a few
runs and the number of queries of each.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from django.db import connection  # noqa: E402
from django.test.utils import (  # noqa: E402
    CaptureQueriesContext,
)
from support import throwaway_database  # noqa: E402

BATCH = 5000


def build(study, size: int, rng: random.Random, user) -> None:
    """``size`` participants enrolled over the last year, at every stage."""
    from django.utils import timezone

    from participants import schedule
    from participants.models import (
        ContactAttempt,
        MessageStatus,
        OutboundMessage,
        Participant,
        ParticipantStatus,
        ScreeningOutcome,
        ScreeningRecord,
        Visit,
        VisitStatus,
    )

    today = timezone.localdate()
    sites = list(study.sites.order_by("code"))
    baseline, followup = study.timepoints.order_by("order")
    codes = list(study.criteria.values_list("code", flat=True))
    start = Participant.objects.count()
    for first in range(0, size, BATCH):
        count = min(BATCH, size - first)
        enrolled_on = [
            today - dt.timedelta(days=rng.randint(0, 365)) for _ in range(count)
        ]
        site_of = [rng.choice(sites) for _ in range(count)]
        screenings = ScreeningRecord.objects.bulk_create(
            ScreeningRecord(
                study=study,
                site=site_of[i],
                screened_on=enrolled_on[i],
                criteria_met=dict.fromkeys(codes, True),
                eligible=True,
                outcome=ScreeningOutcome.ENROLLED,
                screened_by=user,
            )
            for i in range(count)
        )
        # Roughly a third of those screened are not enrolled.
        ScreeningRecord.objects.bulk_create(
            ScreeningRecord(
                study=study,
                site=rng.choice(sites),
                screened_on=today - dt.timedelta(days=rng.randint(0, 365)),
                criteria_met={code: rng.random() > 0.2 for code in codes},
                eligible=False,
                outcome=rng.choice(
                    [
                        ScreeningOutcome.INELIGIBLE,
                        ScreeningOutcome.DECLINED,
                        ScreeningOutcome.NOT_APPROACHED,
                    ]
                ),
                decline_reason=rng.choice(["no_time", "not_interested", ""]),
                screened_by=user,
            )
            for _ in range(count // 2)
        )
        statuses = rng.choices(
            [
                ParticipantStatus.ACTIVE,
                ParticipantStatus.WITHDRAWN,
                ParticipantStatus.LOST,
            ],
            [90, 4, 6],
            k=count,
        )
        participants = Participant.objects.bulk_create(
            Participant(
                study=study,
                site=site_of[i],
                code=f"B{start + first + i:07d}",
                screening=screenings[i],
                status=statuses[i],
                enrolled_on=enrolled_on[i],
                enrolled_by=user,
                withdrawal_reason="burden"
                if statuses[i] == ParticipantStatus.WITHDRAWN
                else "",
                lost_reason="no_contact"
                if statuses[i] == ParticipantStatus.LOST
                else "",
            )
            for i in range(count)
        )
        visits = []
        for participant in participants:
            for timepoint in (baseline, followup):
                window = schedule.window(timepoint, participant.enrolled_on)
                status = window.status_on(today)
                completed_at = None
                if status != VisitStatus.SCHEDULED and rng.random() < 0.7:
                    status = VisitStatus.COMPLETED
                    day = window.opens_on + dt.timedelta(days=rng.randint(0, 10))
                    completed_at = timezone.make_aware(
                        dt.datetime.combine(min(day, today), dt.time(12))
                    )
                if participant.status == ParticipantStatus.WITHDRAWN and status in (
                    VisitStatus.SCHEDULED,
                    VisitStatus.OPEN,
                ):
                    status = VisitStatus.WITHDRAWN
                visits.append(
                    Visit(
                        participant=participant,
                        timepoint=timepoint,
                        opens_on=window.opens_on,
                        due_on=window.due_on,
                        closes_on=window.closes_on,
                        status=status,
                        completed_at=completed_at,
                    )
                )
        visits = Visit.objects.bulk_create(visits)
        messages, calls = [], []
        for visit in visits:
            if visit.status == VisitStatus.SCHEDULED:
                continue
            opened = timezone.make_aware(
                dt.datetime.combine(visit.opens_on, dt.time(10))
            )
            for kind, days in (("invite", 0), ("reminder_1", 7), ("reminder_2", 14)):
                sent = opened + dt.timedelta(days=days)
                if sent > timezone.now() or (
                    visit.completed_at and sent > visit.completed_at
                ):
                    break
                messages.append(
                    OutboundMessage(
                        visit=visit,
                        kind=kind,
                        channel="email",
                        due_at=sent,
                        sent_at=sent,
                        status=MessageStatus.SENT,
                    )
                )
            if visit.status in (VisitStatus.OPEN, VisitStatus.MISSED) and (
                rng.random() < 0.3
            ):
                calls.append(
                    ContactAttempt(
                        visit=visit, channel="phone", outcome="no_answer", made_by=user
                    )
                )
        OutboundMessage.objects.bulk_create(messages)
        ContactAttempt.objects.bulk_create(calls)


def timed(client, url: str, rounds: int) -> tuple[float, int]:
    def fetch():
        response = client.get(url)
        assert response.status_code == 200, response.status_code
        if response.streaming:
            b"".join(response.streaming_content)

    fetch()  # warm caches
    with CaptureQueriesContext(connection) as queries:
        fetch()
    # Read now: the next request's request_started signal empties the log.
    count = len(queries.captured_queries)
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        fetch()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples), count


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 100_000])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    with throwaway_database():
        run(sorted(args.sizes), args.rounds)


def run(sizes: list[int], rounds: int) -> None:
    from django.test import Client
    from django.urls import reverse

    from participants.models import Participant
    from studyportal import demo
    from tests.factories import coordinator

    study = demo.seed_reference_study()
    user = coordinator(study)
    client = Client()
    client.force_login(user)
    rng = random.Random(2018)
    urls = {
        "dashboard": reverse("retention:dashboard"),
        "consort.svg": reverse("retention:consort_svg"),
        "tracker.csv": reverse("retention:tracker_csv"),
    }
    print(f"database: {connection.vendor}, median of {rounds} runs")
    print(f"{'participants':>12} {'page':12} {'median ms':>10} {'queries':>8}")
    for size in sizes:
        start = time.perf_counter()
        build(study, size - Participant.objects.count(), rng, user)
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")
        built = time.perf_counter() - start
        print(f"{'':>12} (built {size} participants in {built:.1f} s)")
        for name, url in urls.items():
            median, queries = timed(client, url, rounds)
            print(f"{size:>12} {name:12} {median:10.1f} {queries:8}")


if __name__ == "__main__":
    main()
