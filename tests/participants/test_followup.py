"""One follow-up state, read alike by every page: the dashboard, the work list,
CONSORT, the attrition table, the analysis's completers and the exports."""

import datetime as dt
import io
import statistics

import pandas as pd
import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import timezone

from analysis import exports, runs
from analysis.codebook import codebook_csv
from analysis.dataset import COMPLETER, build_dataset
from analysis.models import AnalysisRun, RunStatus
from analysis.specification import ModelSpec, sample_for
from instruments import questionnaire
from instruments.models import Response, ResponseStatus
from participants import consort, followup, retention, schedule, worklist
from participants.followup import FollowUpState
from participants.models import (
    EligibilityCriterion,
    LostReason,
    Participant,
    ParticipantStatus,
    Visit,
    VisitStatus,
)
from studyportal.errors import DomainError
from tests.factories import reference_specs
from tests.participants import journeys
from tests.participants.test_paper_entry import PAPER_PAGES, answers_for
from tests.questionnaire.conftest import complete_answers

ENROLLED = 147


def today() -> dt.date:
    return timezone.localdate()


def days_ago(days: int) -> dt.date:
    return today() - dt.timedelta(days=days)


@pytest.fixture(scope="module")
def demo_cohort(django_db_setup, django_db_blocker):
    """The pk of the demo study with its cohort, seeded once for the module and
    rolled back after its last test; each test's changes are rolled back too."""
    from django.db import transaction

    from studyportal import demo

    with django_db_blocker.unblock(), transaction.atomic():
        study = demo.seed_reference_study()
        demo.seed_demo_users(study)
        demo.seed_demo_participants(study, today=timezone.localdate())
        yield study.pk
        transaction.set_rollback(True)


@pytest.fixture
def demo_study(demo_cohort, db):
    from participants.models import Study

    return Study.objects.get(pk=demo_cohort)


@pytest.fixture
def coordinator(demo_study):
    return get_user_model().objects.get(username="coordinator")


def whole(study) -> retention.Scope:
    return retention.Scope(study=study, sites=tuple(study.sites.all()))


def timepoints(study):
    return list(study.timepoints.order_by("order"))


def followup_row(study) -> retention.VisitCounts:
    rows = retention.visit_counts(
        whole(study), timepoints=timepoints(study), today=today()
    )
    return next(
        row for row in rows if row.site is None and row.timepoint.code == "followup"
    )


def in_window(study, *, code=None):
    """A participant whose follow-up visit is open or overdue today."""
    visits = followup.with_states(
        Visit.objects.filter(participant__study=study, timepoint__code="followup"),
        today=today(),
    ).filter(followup_state=code or FollowUpState.OVERDUE)
    return visits.select_related("participant").order_by("participant__code").first()


# ---------------------------------------------------------------------------
# The definition


def test_each_visit_has_one_state_by_its_dates_and_the_participant(
    site_a, staff_a, coordinator_user
):
    due_today = journeys.enrol(site_a, staff_a)
    due_before = journeys.enrol(site_a, staff_a, on=days_ago(3))
    closed = journeys.enrol(site_a, staff_a, on=days_ago(20))  # sweep not run yet
    lost = journeys.enrol(site_a, staff_a, on=days_ago(3))
    worklist.mark_lost(
        lost, reason=LostReason.MOVED, today=today(), user=coordinator_user
    )
    done = journeys.enrol(site_a, staff_a, on=days_ago(3))
    done.visits.filter(timepoint__code="baseline").update(
        status=VisitStatus.COMPLETED, completed_at=timezone.now()
    )

    states = {
        p.code: followup.participant_states(p, today=today())
        for p in (due_today, due_before, closed, lost, done)
    }

    assert states[due_today.code] == {
        "baseline": FollowUpState.OPEN,
        "followup": FollowUpState.NOT_YET_DUE,
    }
    assert states[due_before.code]["baseline"] == FollowUpState.OVERDUE
    assert states[closed.code]["baseline"] == FollowUpState.MISSED
    assert states[lost.code] == {
        "baseline": FollowUpState.LOST,
        "followup": FollowUpState.LOST,
    }
    assert states[done.code]["baseline"] == FollowUpState.COMPLETED
    # The bulk count reads the same definition as the one-participant function.
    counted = followup.count_states(
        Visit.objects.filter(timepoint__code="baseline"), today=today()
    )[()]
    assert (counted.open, counted.overdue, counted.missed) == (1, 1, 1)
    assert (counted.lost, counted.completed, counted.total) == (1, 1, 5)
    visit = due_before.visits.get(timepoint__code="baseline")
    assert followup.visit_state(visit, today=today()) == FollowUpState.OVERDUE


# ---------------------------------------------------------------------------
# The findings, on the demo cohort


def test_n1_people_still_inside_their_window_are_not_non_completers_nor_missed(
    demo_study,
):
    people = followup.participant_counts_at(
        demo_study.participants.all(), timepoints(demo_study)[-1], today=today()
    )
    assert people.still_to_come > 0  # the demo has follow-ups in their window
    run = AnalysisRun.objects.create(
        study=demo_study,
        preset="custom",
        specification=[spec.as_dict() for spec in reference_specs()[:1]],
    )

    runs.perform(run.pk)

    run.refresh_from_db()
    table = run.descriptives["completers"]
    rows = {
        row[0]: dict(zip(table["columns"], row[1:], strict=True))
        for row in table["rows"]
    }
    pain = rows["baseline_pain_severity"]  # everyone answered it at baseline
    assert pain["Completers n"] == people.completed == 103
    assert pain["Others n"] == people.ended_without_completion
    assert pain["Others n"] < ENROLLED - people.completed
    attrition = retention.attrition(
        whole(demo_study), timepoints=timepoints(demo_study), today=today()
    )
    dashboard = {row.label: row for row in attrition.rows}[
        "Pain severity (average of the 4 ratings, 0 to 10)"
    ]
    assert (dashboard.completers.n, dashboard.non_completers.n) == (
        pain["Completers n"],
        pain["Others n"],
    )
    # A completers-only model uses the same completers.
    frame = build_dataset(demo_study).frame
    completers = sample_for(frame, ModelSpec("", "", [], [], sample="completers"))
    assert len(completers) == people.completed == frame[COMPLETER].sum()


def test_n1_an_open_visit_is_coded_still_open_not_missed_in_exports(demo_study):
    open_visit = in_window(demo_study, code=FollowUpState.OVERDUE)
    missed = Visit.objects.filter(
        participant__study=demo_study,
        participant__status=ParticipantStatus.ACTIVE,
        timepoint__code="followup",
        status=VisitStatus.MISSED,
    ).first()
    Response.objects.filter(visit=open_visit).delete()
    export = exports.prepare(demo_study, exports.ExportRequest(), today=today())
    out = io.BytesIO()
    exports.write(export, out)

    frame = pd.read_csv(io.BytesIO(out.getvalue()), encoding="utf-8-sig").set_index(
        "pseudonym"
    )

    row = frame.loc[exports.export_pseudonym(open_visit.participant.code)]
    assert row["followup_selfmgmt_total"] == exports.VISIT_OPEN.code == -99995
    assert row["followup_day"] == exports.VISIT_OPEN.code
    gone = frame.loc[exports.export_pseudonym(missed.participant.code)]
    assert gone["followup_selfmgmt_total"] == exports.VISIT_MISSED.code
    assert "-99995=visit still open" in codebook_csv(export)
    # Once its window has closed, the same visit is missed.
    later = exports.prepare(
        demo_study,
        exports.ExportRequest(),
        today=open_visit.closes_on + dt.timedelta(days=1),
    )
    out = io.BytesIO()
    exports.write(later, out)
    frame = pd.read_csv(io.BytesIO(out.getvalue()), encoding="utf-8-sig").set_index(
        "pseudonym"
    )
    row = frame.loc[exports.export_pseudonym(open_visit.participant.code)]
    assert row["followup_selfmgmt_total"] == exports.VISIT_MISSED.code


def test_n2_a_missing_baseline_score_is_left_out_not_counted_as_zero(demo_study):
    last = timepoints(demo_study)[-1]
    completers = Participant.objects.filter(
        study=demo_study, visits__timepoint=last, visits__status=VisitStatus.COMPLETED
    )
    scored = Response.objects.filter(
        visit__participant__in=completers,
        visit__timepoint__code="baseline",
        instrument__slug="self_management",
        status=ResponseStatus.SUBMITTED,
    ).order_by("pk")
    blank = scored.first()
    blank.scores["selfmgmt_total"]["value"] = None
    blank.save(update_fields=["scores"])
    values = [
        response.scores["selfmgmt_total"]["value"]
        for response in scored
        if response.scores["selfmgmt_total"]["value"] is not None
    ]

    data = retention.attrition(
        whole(demo_study), timepoints=timepoints(demo_study), today=today()
    )

    total = {row.label: row for row in data.rows}[
        "Self-management total (sum of 12 items, 0 to 96)"
    ]
    assert total.completers.n == len(values) < completers.count()
    assert total.completers.mean == pytest.approx(statistics.mean(values))
    assert total.completers.sd == pytest.approx(statistics.stdev(values))


def test_n3_a_lost_participants_open_visit_is_counted_once(demo_study, coordinator):
    visit = in_window(demo_study)
    before = followup_row(demo_study)
    worklist.mark_lost(
        visit.participant,
        reason=LostReason.NO_CONTACT,
        today=today(),
        user=coordinator,
    )

    row = followup_row(demo_study)
    listed = worklist.worklist(coordinator, today=today())
    overdue = worklist.worklist(coordinator, today=today(), overdue_only=True)
    counts = consort.consort_counts(
        whole(demo_study), timepoints=timepoints(demo_study), today=today()
    )

    assert (row.open, row.overdue, row.lost) == (
        before.open - 1,
        before.overdue - 1,
        before.lost + 1,
    )
    followups = [item for item in listed if item.timepoint.code == "followup"]
    assert row.open == len(followups)
    assert row.overdue == len([i for i in overdue if i.timepoint.code == "followup"])
    assert counts.followup_to_come == row.not_yet_due + row.open
    assert row.total == ENROLLED
    assert (
        row.not_yet_due
        + row.open
        + row.completed
        + row.missed
        + row.withdrawn
        + row.lost
    ) == ENROLLED


def test_n4_consort_names_the_reason_for_exclusion(demo_study):
    # Worded by the protocol for one criterion; the other falls back.
    EligibilityCriterion.objects.filter(study=demo_study, code="english").update(
        exclusion_reason=""
    )

    counts = consort.consort_counts(
        whole(demo_study), timepoints=timepoints(demo_study), today=today()
    )

    reasons = dict(counts.unmet_criteria)
    assert reasons["Under 18"] > 0
    assert reasons["Did not meet: Able to complete questionnaires in English"] > 0
    assert "Aged 18 or over" not in reasons
    assert sum(reasons.values()) == counts.not_eligible


def test_n4_consort_claims_only_the_n_an_analysis_run_gave(demo_study):
    scope, points = whole(demo_study), timepoints(demo_study)
    counts = consort.consort_counts(scope, timepoints=points, today=today())
    svg = consort.consort_svg(counts)
    assert counts.analysed_run is None
    assert "Analysed" not in svg
    assert f"Completed follow-up (n={counts.followup_completed})" in svg

    finished = timezone.now()
    run = AnalysisRun.objects.create(
        study=demo_study,
        preset="reference",
        status=RunStatus.DONE,
        finished_at=finished,
        results=[
            {"name": "followup_selfmgmt_total", "outcome": "x", "n": 101},
            {"name": "followup_selfmgmt_coping", "outcome": "x", "n": 91},
            {"name": "broken", "outcome": "x", "error": "Too few cases."},
        ],
    )
    AnalysisRun.objects.create(study=demo_study, preset="reference")  # queued

    counts = consort.consort_counts(scope, timepoints=points, today=today())
    svg = consort.consort_svg(counts)

    assert counts.analysed_run == runs.latest_analysed(demo_study)
    assert [(m.name, m.n) for m in counts.analysed_run.models] == [
        ("followup_selfmgmt_total", 101),
        ("followup_selfmgmt_coping", 91),
    ]
    assert f"Analysed in run {run.pk} of" in svg and "(n=91–101)" in svg
    assert "followup_selfmgmt_total (n=101)" in svg
    # A run analyses the whole study: one clinic's figure claims none of it.
    one_site = retention.Scope(study=demo_study, sites=(demo_study.sites.first(),))
    assert consort.consort_counts(one_site, timepoints=points).analysed_run is None


def test_n5_the_demo_marks_completed_those_whose_last_visit_is_done(demo_study):
    statuses = retention.participant_status_counts(whole(demo_study))[-1]
    row = followup_row(demo_study)

    # Everyone who completed follow-up and neither withdrew nor was lost.
    assert statuses.completed == row.completed == 103
    assert statuses.active == row.not_yet_due + row.open + row.missed


def open_followup(site, staff):
    """Someone enrolled 90 days ago, baseline done, follow-up open today."""
    participant = journeys.enrol(site, staff, on=days_ago(90))
    participant.visits.filter(timepoint__code="baseline").update(
        status=VisitStatus.COMPLETED, completed_at=timezone.now()
    )
    participant.visits.filter(timepoint__code="followup").update(
        status=VisitStatus.OPEN
    )
    return participant, participant.visits.get(timepoint__code="followup")


def test_n5_submitting_the_last_visit_completes_the_participant(site_a, staff_a):
    participant, visit = open_followup(site_a, staff_a)
    pages = questionnaire.pages_for(visit)
    for number, answers in complete_answers().items():
        questionnaire.save_page(
            visit, pages[number - 1], answers, mode="web", device="phone"
        )

    questionnaire.submit(visit, mode="web", device="phone", today=today())

    participant.refresh_from_db()
    assert participant.status == ParticipantStatus.COMPLETED
    assert participant.history.first().history_change_reason.startswith("Completed")
    # Their link still says the questionnaire is done, not that it is closed.
    visit.refresh_from_db()
    with pytest.raises(DomainError, match="completed"):
        questionnaire.check_open(visit)


def test_n5_staff_entering_the_last_visit_completes_the_participant(
    client, site_a, staff_a
):
    participant, visit = open_followup(site_a, staff_a)
    client.force_login(staff_a)
    for slug in PAPER_PAGES:
        url = reverse("participants:paper_entry", args=[participant.pk, visit.pk, slug])
        assert client.post(url, answers_for(slug)).status_code == 302

    participant.refresh_from_db()
    assert participant.status == ParticipantStatus.COMPLETED


def test_n5_the_visit_status_sweep_completes_those_left_active(site_a, staff_a):
    participant, visit = open_followup(site_a, staff_a)
    still_open, _ = open_followup(site_a, staff_a)
    # Completed without the service (as data made before it existed).
    Visit.objects.filter(pk=visit.pk).update(status=VisitStatus.COMPLETED)

    changes = schedule.update_statuses(today())

    assert changes.completed == 1
    participant.refresh_from_db()
    still_open.refresh_from_db()
    assert participant.status == ParticipantStatus.COMPLETED
    assert still_open.status == ParticipantStatus.ACTIVE
    assert schedule.update_statuses(today()).completed == 0


def test_n6_overdue_means_the_same_on_every_page(client, demo_study, coordinator):
    # A participant lost while overdue is lost, on every page.
    worklist.mark_lost(
        in_window(demo_study).participant,
        reason=LostReason.MOVED,
        today=today(),
        user=coordinator,
    )
    overdue = followup.with_states(
        Visit.objects.filter(participant__study=demo_study), today=today()
    ).filter(followup_state=FollowUpState.OVERDUE)
    assert overdue.exists()
    listed = worklist.worklist(coordinator, today=today(), overdue_only=True)
    flagged = [
        item for item in worklist.worklist(coordinator, today=today()) if item.overdue
    ]
    rows = retention.visit_counts(
        whole(demo_study), timepoints=timepoints(demo_study), today=today()
    )
    totals = [row for row in rows if row.site is None]

    expected = sorted(overdue.values_list("pk", flat=True))
    assert sorted(item.visit.pk for item in listed) == expected
    assert sorted(item.visit.pk for item in flagged) == expected
    assert sum(row.overdue for row in totals) == len(expected)
    client.force_login(coordinator)
    page = client.get(reverse("retention:dashboard"))
    assert page.context["overdue"] == len(expected)
    # The day after its window closes, an overdue visit is missed, not overdue.
    visit = overdue.order_by("closes_on").first()
    after = visit.closes_on + dt.timedelta(days=1)
    assert followup.visit_state(visit, today=visit.closes_on) == FollowUpState.OVERDUE
    assert followup.visit_state(visit, today=after) == FollowUpState.MISSED
    assert followup.visit_state(visit, today=visit.due_on) == FollowUpState.OPEN


def test_the_pages_reconcile_on_the_demo_cohort(client, demo_study, coordinator):
    assert_pages_reconcile(client, demo_study, coordinator, enrolled=ENROLLED)


def assert_pages_reconcile(client, study, coordinator, *, enrolled: int) -> None:
    """Dashboard, work list, CONSORT, retention, attrition and the analysis
    count the same people the same way, for any study."""
    demo_study = study
    scope, points = whole(demo_study), timepoints(demo_study)
    rows = retention.visit_counts(scope, timepoints=points, today=today())
    totals = {row.timepoint.code: row for row in rows if row.site is None}
    counts = consort.consort_counts(scope, timepoints=points, today=today())
    months, retained = retention.retention_by_month(
        scope, timepoints=points, today=today()
    )
    attrition = retention.attrition(scope, timepoints=points, today=today())
    listed = worklist.worklist(coordinator, today=today())
    overdue = worklist.worklist(coordinator, today=today(), overdue_only=True)
    frame = build_dataset(demo_study).frame
    states = runs.followup_states(demo_study, frame.index, today=today())
    codes = list(study.timepoints.order_by("order").values_list("code", flat=True))
    last = totals[codes[-1]]

    # Each timepoint's row adds up to the participants enrolled.
    for row in totals.values():
        assert row.total == counts.enrolled == enrolled
    # Open and overdue, as the work list shows them.
    assert sum(row.open for row in totals.values()) == len(listed)
    assert sum(row.overdue for row in totals.values()) == len(overdue)
    # CONSORT's follow-up boxes are the dashboard's follow-up row.
    assert counts.followup_completed == last.completed
    assert counts.followup_missed == last.missed
    assert counts.followup_lost == last.lost
    assert counts.followup_withdrawn == last.withdrawn
    assert counts.followup_to_come == last.not_yet_due + last.open
    assert counts.baseline_completed == totals[codes[0]].completed
    # Retention and the attrition table count the same people.
    assert retained.followup_completed == last.completed
    # Retention counts among those who completed the first timepoint, and says so.
    assert retained.followup_to_come <= counts.followup_to_come
    assert retained.baseline_completed == counts.baseline_completed
    assert attrition.completers == last.completed
    assert attrition.non_completers == last.missed + last.withdrawn + last.lost
    # The analysis's completers are CONSORT's.
    assert (states == FollowUpState.COMPLETED).sum() == counts.followup_completed
    assert frame[COMPLETER].sum() == counts.followup_completed
    assert states.isin(followup.ENDED_WITHOUT_COMPLETION).sum() == (
        attrition.non_completers
    )
    assert states.isin(followup.STILL_TO_COME).sum() == counts.followup_to_come
    # The dashboard page shows these numbers.
    client.force_login(coordinator)
    page = client.get(reverse("retention:dashboard")).context
    assert page["consort"].followup == counts.followup
    assert page["overdue"] == len(overdue)
    assert page["retention_total"].followup_to_come == retained.followup_to_come
    assert months
