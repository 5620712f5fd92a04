"""The knee-pain study, loaded from its file and filled by simulate_study, runs on
every page as the reference study does: no page assumes the reference study."""

import csv
import io

import pytest
from django.core.management import call_command
from django.urls import reverse

from analysis import runs
from analysis.models import RunStatus
from participants import measures, protocol
from participants.models import Participant, Study
from tests.factories import (
    UserFactory,
    clinic_staff,
    coordinator,
    investigator,
    qualitative,
)
from tests.participants.test_followup import assert_pages_reconcile

PARTICIPANTS = 300


@pytest.fixture(scope="module")
def knee_cohort(django_db_setup, django_db_blocker):
    from django.db import transaction

    with django_db_blocker.unblock(), transaction.atomic():
        out = io.StringIO()
        knee_file = protocol.STUDIES_DIR / "knee_physio.yaml"
        call_command("load_study", str(knee_file), stdout=out)
        call_command(
            "simulate_study",
            "knee-physio",
            "--participants",
            str(PARTICIPANTS),
            "--seed",
            "7",
            stdout=out,
        )
        yield Study.objects.get(slug="knee-physio").pk
        transaction.set_rollback(True)


@pytest.fixture
def knee(knee_cohort, db):
    return Study.objects.get(pk=knee_cohort)


def test_the_pages_reconcile_on_the_knee_study(client, knee):
    assert_pages_reconcile(client, knee, coordinator(knee), enrolled=PARTICIPANTS)


def test_the_dashboard_shows_the_knee_studys_own_measures(client, knee):
    client.force_login(coordinator(knee))
    page = client.get(reverse("retention:dashboard"))
    assert page.status_code == 200
    attrition = page.context["attrition"]
    labels = [row.label for row in attrition.rows]
    assert labels == [m.label for m in measures.key_measures(knee)]
    assert len(labels) == 6
    assert all(row.completers.n > 0 for row in attrition.rows)
    assert attrition.sex
    consort = page.context["consort"]
    assert consort.enrolled == PARTICIPANTS
    text = page.content.decode()
    assert "6-week follow-up" in text and "6-month follow-up" in text
    assert "Back pain" not in text


def test_its_preset_runs_and_describes_the_sample(knee):
    run = runs.request_run(study=knee, preset="function", user=investigator(knee))
    runs.perform(run.pk)
    run.refresh_from_db()
    assert run.status == RunStatus.DONE, run.error
    assert [model["outcome"] for model in run.results] == [
        "week6_knee_function",
        "month6_knee_function",
    ]
    assert all("error" not in model for model in run.results)
    assert all(model["n"] > 50 for model in run.results)
    assert run.results[1]["blocks"][1]["entered"] == [
        "month6_exercise_adherence",
        "baseline_knee_confidence",
    ]
    described = run.descriptives
    table_one = [row[0] for row in described["table_one"]["rows"]]
    assert any("knee" in name.lower() for name in table_one)
    assert [m["score"] for m in described["mixed_models"]] == ["knee_function"]


def test_every_page_opens_for_every_role(client, knee):
    site = knee.sites.get(code="BRS")
    people = {
        "clinic staff": clinic_staff(site),
        "coordinator": coordinator(knee),
        "investigator": investigator(knee),
        "qualitative": qualitative(knee),
        "admin": UserFactory(is_superuser=True, is_staff=True),
    }
    participant = Participant.objects.filter(site=site).first()
    pages = [
        reverse("home"),
        reverse("participants:screening_list"),
        reverse("participants:list"),
        reverse("participants:detail", args=[participant.pk]),
        reverse("worklist:list"),
        reverse("retention:dashboard"),
        reverse("retention:consort_svg"),
        reverse("analysis:run_list"),
        reverse("analysis:specify", args=[knee.pk]),
        reverse("analysis:downloads", args=[knee.pk]),
        reverse("interviews:samples"),
        reverse("coding:joint_display"),
        reverse("setup:study", args=[knee.slug]),
        reverse("setup:measures", args=[knee.slug]),
    ]
    for role, person in people.items():
        client.force_login(person)
        for url in pages:
            response = client.get(url)
            assert response.status_code in (200, 302, 403, 404), (role, url)
            if response.status_code == 200 and not getattr(
                response, "streaming", False
            ):
                assert response.content, (role, url)


def test_a_download_holds_every_participant_with_the_knee_studys_variables(
    client, knee
):
    client.force_login(investigator(knee))
    response = client.post(
        reverse("analysis:downloads", args=[knee.pk]),
        {
            "layout": "wide",
            "fmt": "csv",
            "items": "on",
            "scores": "on",
            "dates": "days",
            "identifier": "pseudonym",
            "small_cells_understood": "on",
        },
    )
    assert response.status_code == 200, response.content[:500]
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    header = rows[0]
    assert "month6_knee_function" in header
    assert "baseline_knee_pain" in header
    assert len(rows) - 1 == PARTICIPANTS
