"""Concurrent enrolments at one site queue on the site's row: no gaps, no repeats.

Needs PostgreSQL (SQLite serialises every write, so it proves nothing here).
"""

import threading

import pytest
from django.db import connection, connections

from participants import enrolment
from studyportal import demo
from tests.factories import clinic_staff
from tests.participants import journeys
from tests.services import require_env_url

ENROLMENTS = 20


@pytest.mark.django_db(transaction=True)
def test_concurrent_enrolments_at_one_site_get_distinct_gap_free_study_ids():
    require_env_url("DATABASE_URL")
    if connection.vendor != "postgresql":
        pytest.skip("row locks are only meaningful on PostgreSQL")
    study = demo.seed_reference_study()
    site = study.sites.get(code="LDS")
    staff = clinic_staff(site)
    screenings = [journeys.consented(site, staff) for _ in range(ENROLMENTS)]

    start = threading.Barrier(ENROLMENTS)
    codes: list[str] = []
    errors: list[BaseException] = []

    def enrol(record):
        try:
            start.wait(timeout=30)
            participant = enrolment.enrol(
                screening=record,
                contact=journeys.contact(f"Patient {record.pk}"),
                characteristics=journeys.CHARACTERISTICS,
                user=staff,
                today=journeys.today(),
            )
            codes.append(participant.code)
        except BaseException as exc:  # reported below, with the thread's codes
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=enrol, args=(r,)) for r in screenings]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert not errors, errors
    assert sorted(codes) == [f"LDS-{n:04d}" for n in range(1, ENROLMENTS + 1)]
    site.refresh_from_db()
    assert site.last_participant_number == ENROLMENTS
