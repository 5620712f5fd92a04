"""Retention figures on a handful of participants whose every visit is known."""

import datetime as dt

import pytest
from django.utils import timezone

from participants import retention
from participants.models import (
    ContactAttempt,
    LostReason,
    MessageStatus,
    OutboundMessage,
    Participant,
    ParticipantStatus,
    Visit,
    VisitStatus,
)
from tests.participants import journeys


def long_ago():
    return timezone.localdate() - dt.timedelta(days=100)


def at(day: dt.date, hour: int = 12) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time(hour)))


def set_visit(participant, code, status, completed_on=None):
    Visit.objects.filter(participant=participant, timepoint__code=code).update(
        status=status, completed_at=at(completed_on) if completed_on else None
    )
    return Visit.objects.get(participant=participant, timepoint__code=code)


@pytest.fixture
def cohort(protocol, site_a, site_b, staff_a, staff_b):
    """Three at clinic A enrolled 100 days ago, one at clinic B today."""
    done = journeys.enrol(site_a, staff_a, on=long_ago())
    set_visit(done, "baseline", VisitStatus.COMPLETED, long_ago())
    set_visit(
        done,
        "followup",
        VisitStatus.COMPLETED,
        timezone.localdate() - dt.timedelta(days=5),
    )
    waiting = journeys.enrol(site_a, staff_a, on=long_ago())
    set_visit(waiting, "baseline", VisitStatus.COMPLETED, long_ago())
    set_visit(waiting, "followup", VisitStatus.OPEN)
    lost = journeys.enrol(site_a, staff_a, on=long_ago())
    set_visit(lost, "baseline", VisitStatus.MISSED)
    set_visit(lost, "followup", VisitStatus.OPEN)
    Participant.objects.filter(pk=lost.pk).update(
        status=ParticipantStatus.LOST,
        lost_on=timezone.localdate(),
        lost_reason=LostReason.MOVED,
    )
    new = journeys.enrol(site_b, staff_b, on=timezone.localdate())
    return {"done": done, "waiting": waiting, "lost": lost, "new": new}


def scope_of(study, *sites, **dates):
    return retention.Scope(study=study, sites=tuple(sites), **dates)


def timepoints(study):
    return list(study.timepoints.order_by("order"))


def test_it_counts_visits_by_site_and_timepoint(protocol, site_a, site_b, cohort):
    rows = retention.visit_counts(
        scope_of(protocol, site_a, site_b),
        timepoints=timepoints(protocol),
        today=timezone.localdate(),
    )
    table = {
        (row.site.code if row.site else "all", row.timepoint.code): (
            row.not_yet_due,
            row.open,
            row.overdue,
            row.completed,
            row.missed,
            row.withdrawn,
            row.lost,
        )
        for row in rows
    }
    # The lost participant's visits count as lost only, not also as missed or
    # open; the waiting participant's follow-up is open and past its due date.
    assert table[("LDS", "baseline")] == (0, 0, 0, 2, 0, 0, 1)
    assert table[("LDS", "followup")] == (0, 1, 1, 1, 0, 0, 1)
    assert table[("SHF", "baseline")] == (0, 1, 0, 0, 0, 0, 0)
    assert table[("SHF", "followup")] == (1, 0, 0, 0, 0, 0, 0)
    assert table[("all", "baseline")] == (0, 1, 0, 2, 0, 0, 1)
    # Each row adds up to the participants enrolled there.
    assert [row.total for row in rows] == [3, 1, 4, 3, 1, 4]


def test_it_counts_participants_by_status(protocol, site_a, site_b, cohort):
    rows = retention.participant_status_counts(scope_of(protocol, site_a, site_b))
    total = rows[-1]
    assert (total.enrolled, total.active, total.lost) == (4, 3, 1)
    assert [row.enrolled for row in rows[:-1]] == [3, 1]


def test_retention_is_followup_over_baseline_by_enrolment_month(
    protocol, site_a, site_b, cohort
):
    months, total = retention.retention_by_month(
        scope_of(protocol, site_a, site_b), timepoints=timepoints(protocol)
    )
    assert months[0].month == long_ago().replace(day=1)
    assert months[-1].month == timezone.localdate().replace(day=1)
    assert (months[0].enrolled, months[0].baseline_completed) == (3, 2)
    assert (months[0].followup_completed, months[0].followup_to_come) == (1, 1)
    assert months[0].rate == 0.5
    assert months[0].rate_of_ended == 1.0
    assert months[0].rate_text == "50%"
    assert sum(row.enrolled for row in months) == total.enrolled == 4
    assert months[-1].rate is None  # nobody has completed baseline yet


def test_months_without_enrolment_are_shown_as_zero(protocol, site_a, cohort):
    months, _ = retention.retention_by_month(
        scope_of(protocol, site_a, site_a.study.sites.get(code="SHF")),
        timepoints=timepoints(protocol),
    )
    first, last = months[0].month, months[-1].month
    expected = (last.year - first.year) * 12 + last.month - first.month + 1
    assert len(months) == expected


def test_recruitment_is_cumulative_against_the_target(protocol, site_a, site_b, cohort):
    months, _ = retention.retention_by_month(
        scope_of(protocol, site_a, site_b), timepoints=timepoints(protocol)
    )
    data = retention.recruitment(months, target=147)
    assert data.months[0].cumulative == 3
    assert data.enrolled == data.months[-1].cumulative == 4
    assert data.share_of_target == pytest.approx(4 / 147)
    assert data.months_to_target > 0


def test_the_last_prompt_before_completion_is_credited(
    protocol, site_a, site_b, cohort, coordinator_user
):
    followup = cohort["done"].visits.get(timepoint__code="followup")
    completed = followup.completed_at
    for kind, days_before in (("invite", 5), ("reminder_1", 1), ("reminder_2", -1)):
        OutboundMessage.objects.create(
            visit=followup,
            kind=kind,
            channel="email",
            due_at=completed - dt.timedelta(days=days_before),
            sent_at=completed - dt.timedelta(days=days_before),
            status=MessageStatus.SENT,
        )
    waiting = cohort["waiting"].visits.get(timepoint__code="followup")
    ContactAttempt.objects.create(
        visit=waiting, channel="phone", outcome="no_answer", made_by=coordinator_user
    )
    effect = retention.reminder_effect(scope_of(protocol, site_a, site_b))
    rows = {row.prompt: row for row in effect.rows}
    assert rows["reminder_1"].last_before_completion == 1
    assert rows["invite"].last_before_completion == 0
    assert rows["none"].last_before_completion == 2  # both baselines
    assert (rows["invite"].visits_prompted, rows["invite"].completed_after) == (1, 1)
    assert (rows["reminder_2"].visits_prompted, rows["reminder_2"].completed_after) == (
        1,
        0,
    )
    assert (rows["contact"].visits_prompted, rows["contact"].completed_after) == (1, 0)
    assert effect.completed_visits == 3
    assert effect.median_days_invitation_to_completion == 5
    assert effect.completed_after_invitation == 1


def test_a_call_after_the_last_message_counts_as_the_prompt(
    protocol, site_a, cohort, coordinator_user
):
    visit = cohort["waiting"].visits.get(timepoint__code="followup")
    sent = timezone.now() - dt.timedelta(days=3)
    OutboundMessage.objects.create(
        visit=visit,
        kind="invite",
        channel="sms",
        due_at=sent,
        sent_at=sent,
        status=MessageStatus.SENT,
    )
    ContactAttempt.objects.create(
        visit=visit, channel="phone", outcome="will_complete", made_by=coordinator_user
    )
    Visit.objects.filter(pk=visit.pk).update(
        status=VisitStatus.COMPLETED,
        completed_at=timezone.now() + dt.timedelta(hours=1),
    )
    effect = retention.reminder_effect(scope_of(protocol, site_a))
    rows = {row.prompt: row for row in effect.rows}
    assert rows["contact"].last_before_completion == 1
    assert rows["contact"].completed_after == 1


def test_attrition_compares_completers_with_those_who_did_not(
    protocol, site_a, site_b, cohort
):
    data = retention.attrition(
        scope_of(protocol, site_a, site_b), timepoints=timepoints(protocol)
    )
    # The participant still waiting, and the new one, are left out.
    assert (data.completers, data.non_completers) == (1, 1)
    age = next(row for row in data.rows if row.label.startswith("Age"))
    assert (age.completers.n, age.completers.mean) == (1, 52)
    assert age.completers.sd is None
    assert data.sex == [("Female", 1, 1)]


def test_attrition_standard_deviation(protocol, site_a, staff_a):
    for age in (40, 50, 60):
        participant = journeys.enrol(
            site_a,
            staff_a,
            on=long_ago(),
            characteristics=journeys.CHARACTERISTICS | {"age_years": age},
        )
        set_visit(participant, "followup", VisitStatus.COMPLETED, timezone.localdate())
    data = retention.attrition(
        scope_of(protocol, site_a), timepoints=timepoints(protocol)
    )
    age = next(row for row in data.rows if row.label.startswith("Age"))
    assert age.completers.mean == 50
    assert age.completers.sd == pytest.approx(10)


def test_scope_limits_sites_and_enrolment_dates(protocol, site_a, site_b, cohort):
    only_b = scope_of(protocol, site_b)
    assert list(only_b.participants()) == [cohort["new"]]
    recent = scope_of(
        protocol,
        site_a,
        site_b,
        enrolled_from=timezone.localdate() - dt.timedelta(days=7),
    )
    assert list(recent.participants()) == [cohort["new"]]
    old = scope_of(protocol, site_a, site_b, enrolled_to=long_ago())
    assert old.participants().count() == 3


def test_charts_are_accessible_svg_without_inline_styles(
    protocol, site_a, site_b, cohort
):
    months, _ = retention.retention_by_month(
        scope_of(protocol, site_a, site_b), timepoints=timepoints(protocol)
    )
    for svg in (
        retention.retention_chart(months),
        retention.recruitment_chart(retention.recruitment(months, target=147)),
    ):
        assert svg.startswith("<svg")
        assert 'role="img"' in svg and "<title id=" in svg and "<desc id=" in svg
        assert "style=" not in svg and "<style" not in svg
