"""The CONSORT flow: its counts, its drawing, and that it agrees with the dashboard."""

import datetime as dt

import pytest
from django.utils import timezone

from participants import consort, retention, screening, withdrawal
from participants.models import (
    ContactAttempt,
    DeclineReason,
    Participant,
    ParticipantStatus,
    ScreeningOutcome,
    Visit,
    VisitStatus,
    WithdrawalReason,
)
from studyportal import demo
from tests.participants import journeys


def timepoints(study):
    return list(study.timepoints.order_by("order"))


def whole_study(study):
    return retention.Scope(study=study, sites=tuple(study.sites.all()))


def screen(site, user, outcome, *, unmet=(), reason="", on=None):
    return screening.record_screening(
        site=site,
        screened_on=on or timezone.localdate(),
        criteria_met=journeys.all_met(**dict.fromkeys(unmet, False)),
        outcome=outcome,
        decline_reason=reason,
        decline_detail="Busy" if reason == DeclineReason.OTHER else "",
        user=user,
        today=timezone.localdate(),
    )


@pytest.fixture
def demo_study(protocol):
    demo.seed_demo_users(protocol)
    demo.seed_demo_participants(protocol, today=timezone.localdate())
    # The demo has two losses to follow-up; add two more, without a reason.
    active = Participant.objects.filter(status=ParticipantStatus.ACTIVE).order_by("pk")
    for participant in active[:2]:
        Participant.objects.filter(pk=participant.pk).update(
            status=ParticipantStatus.LOST, lost_on=timezone.localdate()
        )
    return protocol


def test_screening_counts_by_criterion_and_decline_reason(protocol, site_a, staff_a):
    screen(site_a, staff_a, ScreeningOutcome.INELIGIBLE, unmet=["adult"])
    screen(site_a, staff_a, ScreeningOutcome.INELIGIBLE, unmet=["adult", "english"])
    screen(site_a, staff_a, ScreeningOutcome.DECLINED, reason=DeclineReason.NO_TIME)
    screen(site_a, staff_a, ScreeningOutcome.DECLINED, reason=DeclineReason.OTHER)
    screen(site_a, staff_a, ScreeningOutcome.NOT_APPROACHED)
    journeys.consented(site_a, staff_a)  # consented, not yet enrolled
    journeys.enrol(site_a, staff_a)
    counts = consort.consort_counts(
        whole_study(protocol), timepoints=timepoints(protocol)
    )
    assert counts.assessed == 7
    assert (counts.not_eligible, counts.declined, counts.not_approached) == (2, 2, 1)
    assert counts.not_yet_enrolled == 1
    assert counts.enrolled == 1
    assert counts.excluded + counts.enrolled == counts.assessed
    # No exclusion reason is set on these criteria: the criterion is named.
    assert dict(counts.unmet_criteria) == {
        # The reasons for exclusion the protocol words.
        "Under 18": 2,
        "Unable to complete questionnaires in English": 1,
    }
    assert dict(counts.decline_reasons) == {"No time": 1, "Other": 1}


def test_withdrawal_without_keeping_data_leaves_the_analysis(protocol, site_a, staff_a):
    long_ago = timezone.localdate() - dt.timedelta(days=120)
    kept, removed = (journeys.enrol(site_a, staff_a, on=long_ago) for _ in range(2))
    Visit.objects.filter(timepoint__code="followup").update(
        status=VisitStatus.COMPLETED, completed_at=timezone.now()
    )
    withdrawal.withdraw(
        removed,
        withdrawn_on=timezone.localdate(),
        reason=WithdrawalReason.TOO_UNWELL,
        keep_data=False,
        today=timezone.localdate(),
    )
    counts = consort.consort_counts(
        whole_study(protocol), timepoints=timepoints(protocol)
    )
    assert counts.followup_completed == 2
    assert counts.withdrawn == counts.withdrawn_after_followup == 1
    # Reasons sit under "did not complete follow-up"; this one had completed it.
    assert counts.followup_withdrawn == 0 and counts.withdrawal_reasons == []
    assert counts.removed_from_analysis == 1
    assert counts.completed_with_data == 1
    assert kept.pk != removed.pk


def test_a_patient_screened_before_the_range_and_enrolled_in_it_is_counted(
    protocol, site_a, staff_a
):
    start = timezone.localdate() - dt.timedelta(days=10)
    record = journeys.screen(site_a, staff_a, on=start - dt.timedelta(days=3))
    journeys.take_consent(record, staff_a, on=start - dt.timedelta(days=3))
    from participants import enrolment

    enrolment.enrol(
        screening=record,
        contact=journeys.contact(),
        characteristics=journeys.CHARACTERISTICS,
        user=staff_a,
        today=start,
    )
    screen(site_a, staff_a, ScreeningOutcome.DECLINED, reason="no_time", on=start)
    screen(
        site_a,
        staff_a,
        ScreeningOutcome.DECLINED,
        reason="no_time",
        on=start - dt.timedelta(days=1),
    )
    scope = retention.Scope(
        study=protocol,
        sites=(site_a,),
        enrolled_from=start,
        enrolled_to=timezone.localdate(),
    )
    counts = consort.consort_counts(scope, timepoints=timepoints(protocol))
    assert (counts.assessed, counts.declined, counts.enrolled) == (2, 1, 1)


def test_consort_reconciles_with_the_dashboard_tables(demo_study, coordinator_user):
    visit = Visit.objects.filter(status=VisitStatus.OPEN).first()
    ContactAttempt.objects.create(
        visit=visit, channel="phone", outcome="no_answer", made_by=coordinator_user
    )
    scope = whole_study(demo_study)
    points = timepoints(demo_study)
    baseline, followup = points[0], points[-1]
    counts = consort.consort_counts(scope, timepoints=points)
    visits = retention.visit_counts(
        scope, timepoints=points, today=timezone.localdate()
    )
    total = {row.timepoint: row for row in visits if row.site is None}
    statuses = retention.participant_status_counts(scope)[-1]
    months, retained = retention.retention_by_month(scope, timepoints=points)
    recruitment = retention.recruitment(months, target=demo_study.recruitment_target)

    assert counts.assessed == 243
    assert counts.enrolled == statuses.enrolled == retained.enrolled == 147
    assert counts.enrolled == recruitment.enrolled
    assert counts.excluded + counts.enrolled == counts.assessed
    assert counts.baseline_completed == total[baseline].completed
    assert counts.baseline_completed == retained.baseline_completed
    assert counts.followup_completed == total[followup].completed == 103
    assert counts.withdrawn == statuses.withdrawn == 2
    assert counts.lost == statuses.lost == 4
    assert dict(counts.lost_reasons) == {
        "Moved away": 1,
        "No contact possible": 1,
        "No reason recorded": 2,
    }
    assert sum(n for _, n in counts.withdrawal_reasons) == counts.followup_withdrawn
    assert sum(n for _, n in counts.lost_reasons) == counts.followup_lost
    assert counts.not_eligible == sum(n for _, n in counts.unmet_criteria) == 40
    assert counts.declined == sum(n for _, n in counts.decline_reasons) == 32
    # Every participant is in exactly one place at follow-up, as on the dashboard.
    assert counts.allocated_to_followup == (
        counts.followup_completed
        + counts.followup_lost
        + counts.followup_withdrawn
        + counts.followup_missed
        + counts.followup_to_come
    )
    assert (counts.followup_lost, counts.followup_withdrawn) == (
        total[followup].lost,
        total[followup].withdrawn,
    )
    assert counts.followup_missed == total[followup].missed
    assert counts.followup_to_come == (
        total[followup].not_yet_due + total[followup].open
    )
    assert counts.completed_with_data == (
        counts.followup_completed - counts.removed_from_analysis
    )


def test_the_figure_is_svg_with_a_title_and_png_from_the_same_drawing(demo_study):
    counts = consort.consort_counts(
        whole_study(demo_study), timepoints=timepoints(demo_study)
    )
    svg = consort.consort_svg(counts)
    assert svg.startswith("<svg") and 'role="img"' in svg
    assert "<title id=" in svg and "Participant flow" in svg
    assert f"Assessed for eligibility (n={counts.assessed})" in svg
    # No analysis has run, so the figure claims no analysed N.
    assert f"Completed follow-up (n={counts.completed_with_data})" in svg
    assert "Analysed" not in svg
    assert "style=" not in svg
    assert consort.consort_png(counts).startswith(b"\x89PNG")
