"""Server time of a questionnaire page against a trivial Django view, same run.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/studyportal_bench \
        .venv/bin/python bench/questionnaire_pages.py [--rounds 200]

Runs in-process through Django's full middleware stack with the test client, on a
throwaway test database, and prints median and 95th percentile milliseconds for
a page GET, a page POST (validate, save, redirect), a trivial view (no database,
no template) and a one-query page with the patient page chrome, with each figure
as a multiple of the trivial view's.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from django.db import connection  # noqa: E402
from django.http import HttpResponse  # noqa: E402
from django.test.utils import (  # noqa: E402
    override_settings,
)
from django.urls import include, path  # noqa: E402
from support import throwaway_database  # noqa: E402


def trivial(request):
    return HttpResponse("ok")


def minimal_page(request):
    """What any patient page costs at least: one query and the page chrome."""
    from django.shortcuts import render

    from participants.models import Visit

    visit = Visit.objects.select_related("participant__study").first()
    return render(
        request, "questionnaire/link_expired.html", {"study": visit.participant.study}
    )


urlpatterns = [
    path("trivial/", trivial),
    path("minimal/", minimal_page),
    path("", include("studyportal.urls")),
]


def timed(call, rounds: int) -> list[float]:
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        response = call()
        samples.append((time.perf_counter() - start) * 1000)
        assert response.status_code in (200, 302), response.status_code
    return samples


def summary(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[int(0.95 * (len(ordered) - 1))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=200)
    rounds = parser.parse_args().rounds

    with throwaway_database(), override_settings(ROOT_URLCONF=__name__):
        run(rounds)


def run(rounds: int) -> None:
    from django.test import Client

    from participants import links
    from studyportal import demo
    from tests.questionnaire.conftest import PAIN, enrol_participant

    study = demo.seed_reference_study()
    visit = enrol_participant(study).visits.get(timepoint__code="baseline")
    base = links.questionnaire_path(links.issue_token(visit))
    page_url = f"{base}1/"
    client = Client()
    # Warm caches (templates, parsed definitions) before measuring.
    for _ in range(10):
        client.get("/trivial/")
        client.get(page_url)

    results = {
        "trivial view GET": timed(lambda: client.get("/trivial/"), rounds),
        "one-query page GET": timed(lambda: client.get("/minimal/"), rounds),
        "questionnaire page GET": timed(lambda: client.get(page_url), rounds),
        "questionnaire page POST": timed(
            lambda: client.post(page_url, {**PAIN, "go": "next"}), rounds
        ),
    }
    floor = summary(results["trivial view GET"])
    print(f"database: {connection.vendor}, rounds: {rounds}")
    print(f"{'':26} {'median ms':>10} {'p95 ms':>10} {'x median':>9} {'x p95':>7}")
    for name, samples in results.items():
        median, p95 = summary(samples)
        print(
            f"{name:26} {median:10.2f} {p95:10.2f} "
            f"{median / floor[0]:9.1f} {p95 / floor[1]:7.1f}"
        )


if __name__ == "__main__":
    main()
