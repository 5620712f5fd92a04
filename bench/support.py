"""What every benchmark needs: Django set up on test settings and a throwaway database.

Import this module first in a benchmark script; ``throwaway_database()`` creates
``test_<name>`` on the configured server and drops it afterwards, so nothing a
benchmark builds is left behind.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

import django  # noqa: E402

django.setup()

from django.db import connection  # noqa: E402
from django.test.utils import (  # noqa: E402
    setup_test_environment,
    teardown_test_environment,
)


@contextmanager
def throwaway_database() -> Iterator[None]:
    setup_test_environment()
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        yield
    finally:
        connection.close()
        connection.creation.destroy_test_db(old_name, verbosity=0)
        teardown_test_environment()


def write_synthetic(
    study, people: list, *, user, rng, first_code: int, followed_up: float = 1.0
) -> int:
    """Enrol ``people`` (from ``studyportal.synthetic.simulate``) with bulk_create.

    Each gets a screening record, a participant, both visits and the responses
    the enrolment form and the questionnaires store, with the scores the
    scoring engine gave. The baseline is always submitted; the follow-up with
    chance ``followed_up``, the visit being missed otherwise. Returns how many
    responses were written.
    """
    from django.utils import timezone

    from instruments import answers as answer_rules
    from instruments.models import InstrumentVersion, Response, ResponseStatus
    from participants import schedule
    from participants.enrolment import characteristics_instrument_slug
    from participants.models import (
        Participant,
        ScreeningOutcome,
        ScreeningRecord,
        Visit,
        VisitStatus,
    )

    sites = list(study.sites.order_by("code"))
    timepoints = list(study.timepoints.order_by("order"))
    latest = {}
    for version in InstrumentVersion.objects.select_related("instrument").order_by(
        "number"
    ):
        latest[version.instrument.slug] = version
    staff_slug = characteristics_instrument_slug(study)
    criteria = list(study.criteria.values_list("code", flat=True))
    site_of = [rng.choice(sites) for _ in people]
    screenings = ScreeningRecord.objects.bulk_create(
        ScreeningRecord(
            study=study,
            site=site,
            screened_on=person.enrolled_on,
            criteria_met=dict.fromkeys(criteria, True),
            eligible=True,
            outcome=ScreeningOutcome.ENROLLED,
            screened_by=user,
        )
        for person, site in zip(people, site_of, strict=True)
    )
    participants = Participant.objects.bulk_create(
        Participant(
            study=study,
            site=site,
            code=f"S{first_code + i:07d}",
            screening=screening,
            enrolled_on=person.enrolled_on,
            enrolled_by=user,
        )
        for i, (person, site, screening) in enumerate(
            zip(people, site_of, screenings, strict=True)
        )
    )
    visits, answered = [], []
    for person, participant in zip(people, participants, strict=True):
        done = {timepoints[0].pk}
        if rng.random() < followed_up:
            done |= {timepoint.pk for timepoint in timepoints[1:]}
        for timepoint in timepoints:
            window = schedule.window(timepoint, participant.enrolled_on)
            completed = timepoint.pk in done
            submitted = timezone.make_aware(
                dt.datetime.combine(window.due_on, dt.time(11))
            )
            visit = Visit(
                participant=participant,
                timepoint=timepoint,
                opens_on=window.opens_on,
                due_on=window.due_on,
                closes_on=window.closes_on,
                status=VisitStatus.COMPLETED if completed else VisitStatus.MISSED,
                completed_at=submitted if completed else None,
            )
            visits.append(visit)
            if completed:
                answered.append((visit, person, timepoint, submitted))
    Visit.objects.bulk_create(visits)
    responses = []
    for visit, person, timepoint, submitted in answered:
        given = dict(person.answers.get(timepoint.code, {}))
        if timepoint == timepoints[0] and staff_slug:
            # As staff enter it, date of birth included: exports must leave it.
            given[staff_slug] = answer_rules.resolve(
                latest[staff_slug].parsed,
                person.characteristics,
                today=person.enrolled_on,
            ).answers
        scored = person.scores.get(timepoint.code, {})
        for slug, answers in given.items():
            version = latest[slug]
            names = {score.name for score in version.parsed.scores}
            responses.append(
                Response(
                    visit=visit,
                    instrument_id=version.instrument_id,
                    instrument_version=version,
                    answers=answers,
                    scores={
                        name: {"value": value}
                        for name, value in scored.items()
                        if name in names
                    },
                    status=ResponseStatus.SUBMITTED,
                    mode="staff" if slug == staff_slug else "web",
                    submitted_at=submitted,
                )
            )
    Response.objects.bulk_create(responses)
    return len(responses)
