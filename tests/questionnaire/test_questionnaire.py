"""Pages, saving, resuming and submitting a visit's questionnaire."""

import datetime as dt

import pytest
from django.utils import timezone

from instruments import questionnaire
from instruments.models import Response
from participants.models import ParticipantStatus, Visit, VisitStatus
from studyportal.errors import DomainError
from tests.questionnaire.conftest import PAIN, complete_answers


def save_all(visit, answers_by_page, *, now=None):
    pages = questionnaire.pages_for(visit)
    for number, answers in answers_by_page.items():
        questionnaire.save_page(
            visit, pages[number - 1], answers, mode="web", device="phone", now=now
        )


def test_pages_are_patient_instruments_in_order_with_long_ones_split(baseline):
    pages = questionnaire.pages_for(baseline)
    assert [p.instrument.slug for p in pages] == [
        "pain_severity",
        "partnership",
        "partnership",
        "self_management",
        "anxiety_depression",
    ]
    assert pages[1].sections == (0,) and pages[2].sections == (1,)
    assert "baseline_characteristics" not in {p.instrument.slug for p in pages}


def test_resume_starts_at_the_first_unanswered_page(baseline):
    pages = questionnaire.pages_for(baseline)
    assert questionnaire.first_unanswered(baseline, pages) == 1
    save_all(baseline, {1: PAIN})
    assert questionnaire.first_unanswered(baseline, pages) == 2
    save_all(baseline, complete_answers())
    assert questionnaire.first_unanswered(baseline, pages) == len(pages) + 1


def test_saving_a_page_keeps_the_other_pages_answers(baseline):
    answers = complete_answers()
    save_all(baseline, {2: answers[2], 3: answers[3]})
    save_all(baseline, {2: {"partner_01": "1"}})
    stored = Response.objects.get(instrument__slug="partnership").answers
    assert stored["partner_01"] == "1"
    assert "partner_02" not in stored  # cleared on the page that was saved again
    assert stored["partner_09"] == "4"  # the other page is untouched


def test_submit_stores_scores_from_the_engine_and_completes_the_visit(baseline):
    save_all(baseline, complete_answers())
    assert questionnaire.submit(baseline, mode="web", device="phone") is True
    baseline.refresh_from_db()
    assert baseline.status == VisitStatus.COMPLETED
    pain = Response.objects.get(instrument__slug="pain_severity")
    assert pain.status == "submitted"
    assert pain.scores["pain_severity"]["value"] == 5.0  # (8 + 2 + 5 + 5) / 4
    selfmgmt = Response.objects.get(instrument__slug="self_management")
    assert selfmgmt.scores["selfmgmt_total"]["value"] == 72.0  # 12 items x 6
    assert pain.paradata["device"] == "phone"
    assert pain.paradata["pages"][0]["page"] == 1


def test_submitting_twice_submits_once(baseline):
    save_all(baseline, complete_answers())
    assert questionnaire.submit(baseline, mode="web", device="phone") is True
    first = Response.objects.get(instrument__slug="pain_severity").submitted_at
    assert questionnaire.submit(baseline, mode="web", device="phone") is False
    assert Response.objects.get(instrument__slug="pain_severity").submitted_at == first


def test_answers_are_read_only_after_submission(baseline):
    save_all(baseline, complete_answers())
    questionnaire.submit(baseline, mode="web", device="phone")
    page = questionnaire.pages_for(baseline)[0]
    with pytest.raises(DomainError, match="completed"):
        questionnaire.save_page(
            baseline, page, {"pain_now": "0"}, mode="web", device="phone"
        )
    pain = Response.objects.get(instrument__slug="pain_severity")
    assert pain.answers["pain_now"] == "5"


def test_submit_refuses_while_required_answers_are_missing(baseline):
    # The four pain ratings are required; the other instruments can be skipped.
    save_all(baseline, {1: {"pain_worst": "8"}})
    with pytest.raises(DomainError, match="required questions"):
        questionnaire.submit(baseline, mode="web", device="phone")
    baseline.refresh_from_db()
    assert baseline.status == VisitStatus.OPEN


def test_a_closed_or_withdrawn_visit_cannot_be_answered(baseline):
    page = questionnaire.pages_for(baseline)[0]
    baseline.participant.status = ParticipantStatus.WITHDRAWN
    baseline.participant.save()
    with pytest.raises(DomainError, match="closed"):
        questionnaire.save_page(baseline, page, PAIN, mode="web", device="phone")


def test_a_visit_is_answered_and_submitted_at_a_past_moment_its_window_held(
    baseline,
):
    today = timezone.localdate()
    Visit.objects.filter(pk=baseline.pk).update(
        opens_on=today - dt.timedelta(days=20), closes_on=today - dt.timedelta(days=6)
    )
    baseline.refresh_from_db()
    page = questionnaire.pages_for(baseline)[0]
    with pytest.raises(DomainError, match="closed"):
        questionnaire.save_page(baseline, page, PAIN, mode="web", device="phone")
    then = timezone.make_aware(
        dt.datetime.combine(today - dt.timedelta(days=10), dt.time(11, 30))
    )
    save_all(baseline, complete_answers(), now=then)
    submitted = then + dt.timedelta(minutes=12)
    assert questionnaire.submit(baseline, mode="web", device="phone", now=submitted)
    baseline.refresh_from_db()
    assert baseline.completed_at == submitted
    pain = Response.objects.get(instrument__slug="pain_severity")
    assert pain.submitted_at == submitted
    assert pain.paradata["pages"][0]["saved_at"] == then.isoformat()


def test_device_class_from_the_browser():
    iphone = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile/15E148"
    ipad = "Mozilla/5.0 (iPad; CPU OS 17_0 like Mac OS X) Safari/604.1"
    desktop = "Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0 Safari/537.36"
    assert questionnaire.device_class(iphone) == "phone"
    assert questionnaire.device_class(ipad) == "tablet"
    assert questionnaire.device_class(desktop) == "desktop"
