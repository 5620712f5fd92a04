"""simulate_study: test data for a study in set-up, made through the real services."""

import csv
import datetime as dt
import io
import random

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from analysis import exports
from analysis.dataset import build_dataset
from analysis.exports import ExportRequest
from instruments import answers as answer_rules
from instruments.definitions import from_data as definition_from_data
from instruments.forms import InstrumentForm
from instruments.models import Response, ResponseMode, ResponseStatus
from instruments.responses import scores_for
from participants import consort, protocol, simulation
from participants.models import (
    DeclineReason,
    Participant,
    ParticipantContact,
    Role,
    ScreeningOutcome,
    ScreeningRecord,
    StaffMembership,
    Study,
    StudyPhase,
    Visit,
    VisitStatus,
)
from participants.retention import Scope
from studyportal import demo
from tests.factories import investigator
from tests.participants import journeys

REFERENCE_SEED = 11
FOLLOWUP_RATE = 0.7


def simulate(slug: str, *args: str) -> str:
    out = io.StringIO()
    call_command("simulate_study", slug, *args, stdout=out)
    return out.getvalue()


def snapshot(study: Study) -> dict:
    """Everything a run made, without database ids or the real clock's times."""
    screenings = ScreeningRecord.objects.filter(study=study).order_by("pk")
    participants = Participant.objects.filter(study=study).order_by("pk")
    visits = Visit.objects.filter(participant__study=study).order_by("pk")
    responses = Response.objects.filter(visit__participant__study=study).order_by("pk")
    return {
        "screenings": list(
            screenings.values_list(
                "site__code",
                "screened_on",
                "criteria_met",
                "outcome",
                "decline_reason",
                "is_test_data",
            )
        ),
        "participants": list(
            participants.values_list(
                "code", "site__code", "enrolled_on", "status", "is_test_data"
            )
        ),
        "names": [
            contact.full_name
            for contact in ParticipantContact.objects.filter(
                participant__study=study
            ).order_by("pk")
        ],
        "visits": list(
            visits.values_list(
                "participant__code",
                "timepoint__code",
                "status",
                "opens_on",
                "closes_on",
                "completed_at",
            )
        ),
        "responses": list(
            responses.values_list(
                "visit__participant__code",
                "visit__timepoint__code",
                "instrument__slug",
                "answers",
                "scores",
                "status",
                "mode",
                "submitted_at",
                "paradata",
            )
        ),
    }


def posted(definition, answers: dict) -> dict:
    """Stored answers as the form posts them (calculated items are not posted)."""
    return {
        name: [str(code) for code in value] if isinstance(value, list) else str(value)
        for name, value in answers.items()
        if definition.item(name).is_answerable
    }


def check_responses(study: Study) -> int:
    """Every submitted response passes the form the patient pages use, as of the
    day it was submitted, and holds what that form and the engine make of it."""
    checked = 0
    for response in Response.objects.filter(
        visit__participant__study=study, status=ResponseStatus.SUBMITTED
    ).select_related("instrument_version"):
        definition = response.instrument_version.parsed
        day = timezone.localdate(response.submitted_at)
        form = InstrumentForm(
            posted(definition, response.answers), definition=definition, today=day
        )
        assert form.is_valid(), (response, form.errors)
        assert form.all_answers() == response.answers
        assert response.scores == scores_for(definition, response.answers)
        checked += 1
    return checked


def hidden_answered(study: Study) -> tuple[int, int]:
    """(answers given to hidden items, items hidden) over every response."""
    answered, hidden = 0, 0
    for response in Response.objects.filter(
        visit__participant__study=study
    ).select_related("instrument_version", "visit"):
        definition = response.instrument_version.parsed
        day = timezone.localdate(response.submitted_at)
        resolved = answer_rules.resolve(definition, response.answers, today=day)
        hidden += len(resolved.hidden)
        answered += len(resolved.hidden & set(response.answers))
    return answered, hidden


# ---------------------------------------------------------------------------
# The reference study, loaded from its file, in set-up


@pytest.fixture(scope="module")
def reference_run(django_db_setup, django_db_blocker):
    """The reference study with 60 simulated participants, and the snapshot of
    an earlier run with the same seed on the same day (since rolled back)."""
    with django_db_blocker.unblock(), transaction.atomic():
        study = protocol.load(protocol.read_file(demo.REFERENCE_PROTOCOL)).study
        assert study.phase == StudyPhase.SETUP
        args = ["--participants", "60", "--seed", str(REFERENCE_SEED)]
        args += ["--followup-rate", str(FOLLOWUP_RATE)]
        with transaction.atomic():
            simulate(study.slug, *args)
            earlier = snapshot(study)
            transaction.set_rollback(True)
        output = simulate(study.slug, *args)
        yield study.pk, earlier, output
        transaction.set_rollback(True)


@pytest.fixture
def simulated(reference_run, db) -> Study:
    return Study.objects.get(pk=reference_run[0])


def test_it_enrols_the_participants_asked_for_at_every_site_by_its_target(
    simulated,
):
    participants = Participant.objects.filter(study=simulated)
    assert participants.count() == 60
    assert not participants.filter(is_test_data=False).exists()
    by_site = {
        site.code: participants.filter(site=site).count()
        for site in simulated.sites.all()
    }
    # Targets 55, 50 and 42: 60 shared in proportion.
    assert by_site == {"LDS": 22, "SHF": 21, "YRK": 17}


def test_each_site_enrols_through_a_simulation_member_of_its_clinic_staff(simulated):
    for site in simulated.sites.all():
        users = {p.enrolled_by for p in Participant.objects.filter(site=site)}
        assert len(users) == 1
        (user,) = users
        assert not user.has_usable_password()
        assert StaffMembership.objects.filter(
            user=user, site=site, role=Role.CLINIC_STAFF
        ).exists()


def test_every_screening_is_test_data_and_consort_has_each_exclusion(simulated):
    screenings = ScreeningRecord.objects.filter(study=simulated)
    assert not screenings.filter(is_test_data=False).exists()
    counts = consort.consort_counts(
        Scope(simulated, tuple(simulated.sites.all())),
        timepoints=list(simulated.timepoints.order_by("order")),
    )
    assert counts.enrolled == 60
    assert [n for _, n in counts.unmet_criteria] == [3] * 5
    assert {reason for reason, _ in counts.decline_reasons} == {
        label for _, label in DeclineReason.choices
    }
    assert counts.not_approached > 0
    assert counts.assessed == screenings.count() > 60


def test_follow_up_is_completed_at_the_rate_asked_for(simulated):
    today = timezone.localdate()
    followups = Visit.objects.filter(
        participant__study=simulated, timepoint__code="followup"
    )
    closed = followups.filter(closes_on__lt=today)
    completed = closed.filter(status=VisitStatus.COMPLETED).count()
    missed = closed.filter(status=VisitStatus.MISSED).count()
    assert completed + missed == closed.count() >= 20
    assert abs(completed / closed.count() - FOLLOWUP_RATE) <= 0.05
    # Some done, some in their window, some yet to open.
    statuses = set(followups.values_list("status", flat=True))
    assert statuses == {
        VisitStatus.COMPLETED,
        VisitStatus.MISSED,
        VisitStatus.OPEN,
        VisitStatus.SCHEDULED,
    }


def test_visits_are_completed_in_their_windows_on_days_past(simulated):
    today = timezone.localdate()
    completed = Visit.objects.filter(
        participant__study=simulated, status=VisitStatus.COMPLETED
    )
    assert completed.filter(timepoint__code="baseline").count() >= 55
    for visit in completed:
        day = timezone.localdate(visit.completed_at)
        assert visit.opens_on <= day <= visit.closes_on
        assert day < today
        for response in visit.responses.all():
            assert response.status == ResponseStatus.SUBMITTED
            assert response.submitted_at <= visit.completed_at
    # Enrolment happened on past days, and the visit windows follow from them.
    enrolled = set(
        Participant.objects.filter(study=simulated).values_list(
            "enrolled_on", flat=True
        )
    )
    assert max(enrolled) < today and len(enrolled) > 30


def test_patients_answer_page_by_page_and_staff_enter_the_characteristics(
    simulated,
):
    responses = Response.objects.filter(visit__participant__study=simulated)
    patient = responses.filter(instrument__respondent="patient")
    assert set(patient.values_list("mode", flat=True)) <= {
        ResponseMode.WEB,
        ResponseMode.TABLET,
    }
    assert all(r.paradata["pages"] for r in patient)
    staff = responses.filter(instrument__respondent="staff")
    assert staff.count() == 60
    assert set(staff.values_list("mode", flat=True)) == {ResponseMode.STAFF}


def test_every_response_is_valid_against_its_instrument(simulated):
    assert check_responses(simulated) > 100


def test_no_hidden_item_is_answered(simulated):
    answered, hidden = hidden_answered(simulated)
    assert hidden > 0  # the enrolment form's branching hid something
    assert answered == 0


def test_the_same_seed_gives_the_same_data(simulated, reference_run):
    _, earlier, _ = reference_run
    assert snapshot(simulated) == earlier
    assert len(earlier["responses"]) > 100


def test_it_prints_what_it_made(reference_run):
    output = reference_run[2]
    assert "made 60 participants (seed 11), all marked as test data" in output
    assert "enrolled by site: LDS 22, SHF 21, YRK 17" in output
    assert "followup visits:" in output


def test_a_production_study_leaves_test_data_out_of_its_dataset(simulated):
    site = simulated.sites.get(code="LDS")
    real = journeys.enrol(site, investigator(simulated))
    assert len(build_dataset(simulated).frame) == 61
    Study.objects.filter(pk=simulated.pk).update(phase=StudyPhase.PRODUCTION)
    simulated.refresh_from_db()
    assert list(build_dataset(simulated).frame.index) == [real.code]


def export_rows(study: Study, **choices) -> int:
    export = exports.prepare(study, ExportRequest(**choices))
    out = io.BytesIO()
    return exports.write(export, out).rows


def test_a_production_study_leaves_test_data_out_of_downloads_unless_asked(
    simulated, client
):
    site = simulated.sites.get(code="LDS")
    journeys.enrol(site, investigator(simulated))
    Study.objects.filter(pk=simulated.pk).update(phase=StudyPhase.PRODUCTION)
    simulated.refresh_from_db()
    assert export_rows(simulated) == 1
    assert export_rows(simulated, include_test_data=True) == 61

    client.force_login(investigator(simulated))
    url = reverse("analysis:downloads", args=[simulated.pk])
    assert "Include test data" in client.get(url).content.decode()
    choices = {
        "layout": "wide",
        "fmt": "csv",
        "items": "on",
        "scores": "on",
        "dates": "days",
        "identifier": "pseudonym",
        "small_cells_understood": "on",
    }

    def downloaded(data) -> list:
        response = client.post(url, data)
        assert response.status_code == 200
        text = b"".join(response.streaming_content).decode()
        return list(csv.DictReader(io.StringIO(text)))

    assert len(downloaded(choices)) == 1
    assert len(downloaded(choices | {"include_test_data": "on"})) == 61


def test_export_dataset_leaves_test_data_out_of_a_production_study_unless_asked(
    simulated, tmp_path
):
    Study.objects.filter(pk=simulated.pk).update(phase=StudyPhase.PRODUCTION)
    out = tmp_path / "data.csv"

    def exported(*flags: str) -> str:
        printed = io.StringIO()
        call_command(
            "export_dataset",
            "--study",
            simulated.slug,
            "--out",
            str(out),
            *flags,
            stdout=printed,
        )
        return printed.getvalue()

    assert exported().startswith("Wrote 0 rows")
    assert exported("--include-test-data").startswith("Wrote 60 rows")


def test_a_study_in_set_up_downloads_its_test_data_without_being_asked(
    simulated, client
):
    assert export_rows(simulated) == 60
    client.force_login(investigator(simulated))
    page = client.get(reverse("analysis:downloads", args=[simulated.pk]))
    text = page.content.decode()
    assert "Include test data" not in text
    assert "still being set up" in text


# ---------------------------------------------------------------------------
# A small study of its own: one site, two timepoints, one questionnaire

TINY = {
    "slug": "tiny-trial",
    "name": "A tiny trial of the simulation",
    "short_name": "Tiny",
    "sites": [{"code": "TNY", "name": "The only clinic"}],
    "timepoints": [
        {
            "code": "entry",
            "label": "Entry",
            "day": 0,
            "window_after": 7,
            "instruments": ["pain_severity"],
        },
        {
            "code": "week4",
            "label": "Four weeks",
            "day": 28,
            "window_before": 3,
            "window_after": 7,
            "instruments": ["pain_severity"],
        },
    ],
    "consent": [
        {
            "version": 1,
            "title": "Consent",
            "statements": [
                {"code": "yes", "kind": "take_part", "text": "I agree to take part."}
            ],
        }
    ],
    "eligibility": [{"code": "grown_up", "text": "Aged 18 or over"}],
}


@pytest.fixture
def tiny(db) -> Study:
    return protocol.load(protocol.from_data(TINY, source="tiny")).study


def test_a_study_of_its_own_is_simulated_from_its_protocol_alone(tiny):
    output = simulate(tiny.slug, "--participants", "12", "--seed", "5")
    assert "tiny-trial: made 12 participants (seed 5)" in output
    participants = Participant.objects.filter(study=tiny)
    assert participants.count() == 12
    assert set(participants.values_list("site__code", flat=True)) == {"TNY"}
    assert all(p.is_test_data for p in participants)
    ineligible = ScreeningRecord.objects.filter(
        study=tiny, outcome=ScreeningOutcome.INELIGIBLE
    )
    assert ineligible.exists()
    assert all(r.criteria_met == {"grown_up": False} for r in ineligible)
    completed = Visit.objects.filter(
        participant__study=tiny, status=VisitStatus.COMPLETED
    )
    assert {v.timepoint.code for v in completed} == {"entry", "week4"}
    assert (
        check_responses(tiny)
        == Response.objects.filter(visit__participant__study=tiny).count()
    )


def test_a_study_of_its_own_gives_the_same_data_for_the_same_seed(tiny):
    with transaction.atomic():
        simulate(tiny.slug, "--participants", "8", "--seed", "21")
        first = snapshot(tiny)
        transaction.set_rollback(True)
    simulate(tiny.slug, "--participants", "8", "--seed", "21")
    assert snapshot(tiny) == first
    assert first["responses"]


def test_a_second_seed_gives_other_data(tiny):
    with transaction.atomic():
        simulate(tiny.slug, "--participants", "8", "--seed", "21")
        first = snapshot(tiny)
        transaction.set_rollback(True)
    simulate(tiny.slug, "--participants", "8", "--seed", "22")
    assert snapshot(tiny) != first


def test_a_study_in_production_is_refused_unless_forced(tiny):
    Study.objects.filter(pk=tiny.pk).update(phase=StudyPhase.PRODUCTION)
    with pytest.raises(CommandError, match="in production"):
        simulate(tiny.slug, "--participants", "3")
    assert not Participant.objects.filter(study=tiny).exists()
    simulate(tiny.slug, "--participants", "3", "--force")
    assert Participant.objects.filter(study=tiny, is_test_data=True).count() == 3


def test_an_unknown_study_is_refused_with_the_known_ones(tiny):
    with pytest.raises(CommandError) as refused:
        simulate("no-such-study", "--participants", "3")
    assert "no-such-study" in str(refused.value)
    assert "tiny-trial" in str(refused.value)


def test_running_again_adds_participants_with_names_of_their_own(tiny):
    simulate(tiny.slug, "--participants", "4", "--seed", "1")
    simulate(tiny.slug, "--participants", "4", "--seed", "1")
    names = [
        c.full_name for c in ParticipantContact.objects.filter(participant__study=tiny)
    ]
    assert len(names) == len(set(names)) == 8


# ---------------------------------------------------------------------------
# Answers drawn from any definition

EVERY_TYPE = {
    "slug": "every_type",
    "title": "Every kind of question",
    "sections": [
        {
            "title": "One",
            "items": [
                {
                    "name": "kind",
                    "type": "radio",
                    "required": True,
                    "choices": [{"code": 1, "label": "A"}, {"code": 2, "label": "B"}],
                },
                {
                    "name": "because",
                    "type": "notes",
                    "required": True,
                    "branching": "[kind] = '2'",
                },
                {"name": "agree", "type": "yesno"},
                {
                    "name": "tried",
                    "type": "checkbox",
                    "choices": [
                        {"code": 1, "label": "X"},
                        {"code": 2, "label": "Y"},
                        {"code": 3, "label": "Other"},
                    ],
                },
                {
                    "name": "tried_other",
                    "type": "text",
                    "required": True,
                    "branching": "[tried(3)] = '1'",
                },
                {"name": "score", "type": "rating", "min": 0, "max": 100},
                {"name": "count", "type": "integer", "required": True},
                {"name": "weight", "type": "decimal", "min": 40.25, "max": 40.75},
                {"name": "height", "type": "decimal", "decimals": 0, "max": 250},
            ],
        },
        {
            "title": "Two",
            "items": [
                {"name": "email", "type": "text", "validation": "email"},
                {"name": "phone", "type": "text", "validation": "phone"},
                {"name": "when", "type": "date", "min": "2020-01-01", "max": "today"},
                {"name": "since", "type": "date", "required": True},
                {
                    "name": "place",
                    "type": "dropdown",
                    "required": True,
                    "choices": [{"code": "a", "label": "Here"}],
                },
                {"name": "twice", "type": "calc", "calculation": "[count] * 2"},
                {"name": "note", "type": "descriptive", "label": "Thank you."},
            ],
        },
    ],
}


def test_drawn_answers_pass_the_form_for_every_kind_of_question():
    definition = definition_from_data(EVERY_TYPE, source="test")
    rng = random.Random(3)
    today = dt.date(2026, 3, 1)
    shown_because = 0
    for _ in range(200):
        form = simulation.filled_form(definition, rng, today=today)
        answers = form.all_answers()
        resolved = answer_rules.resolve(definition, answers, today=today)
        assert not resolved.hidden & set(answers)
        assert answers["twice"] == answers["count"] * 2
        assert 40.25 <= answers.get("weight", 40.5) <= 40.75
        assert dt.date(2020, 1, 1).isoformat() <= answers.get("when", "2020-01-01")
        assert answers.get("when", "") <= today.isoformat()
        shown_because += "because" in answers
        assert ("because" in answers) == (answers["kind"] == "2")
        ticked_other = "3" in answers.get("tried", [])
        assert ("tried_other" in answers) == ticked_other
    assert 0 < shown_because < 200


def test_answers_are_drawn_page_by_page_with_the_other_pages_answers():
    definition = definition_from_data(EVERY_TYPE, source="test")
    rng = random.Random(4)
    today = dt.date(2026, 3, 1)
    first = simulation.filled_form(definition, rng, today=today, sections=[0])
    second = simulation.filled_form(
        definition, rng, today=today, sections=[1], saved=first.page_answers()
    )
    assert set(first.page_answers()) <= {i.name for i in definition.sections[0].items}
    assert second.all_answers()["twice"] == first.page_answers()["count"] * 2


@pytest.mark.parametrize(
    ("total", "weights", "shares"),
    [
        (60, [55, 50, 42], [22, 21, 17]),
        (10, [0, 0, 0], [4, 3, 3]),
        (2, [5, 1, 1], [2, 0, 0]),
        (3, [100, 1, 0], [1, 1, 1]),
    ],
)
def test_participants_are_shared_between_sites_by_their_targets(total, weights, shares):
    assert simulation.allocate(total, weights) == shares
