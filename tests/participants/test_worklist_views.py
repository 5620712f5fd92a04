"""The work list pages: who may use them and what each action does."""

import datetime as dt
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from instruments.models import Response
from participants.models import (
    Channel,
    ContactAttempt,
    LostReason,
    ParticipantStatus,
    Visit,
    VisitStatus,
)
from tests.participants import journeys
from tests.participants.journeys import today
from tests.participants.test_paper_entry import answers_for
from tests.questionnaire.conftest import complete_answers

WORKLIST = reverse("worklist:list")


@pytest.fixture
def at_a(site_a, staff_a):
    return journeys.enrol(
        site_a, staff_a, details=journeys.contact("Ann Allen", email="ann@example.com")
    )


@pytest.fixture
def at_b(site_b, staff_b):
    return journeys.enrol(
        site_b, staff_b, details=journeys.contact("Bob Brown", email="bob@example.com")
    )


def baseline_of(participant):
    return participant.visits.get(timepoint__code="baseline")


def attempt_url(participant):
    return reverse(
        "worklist:attempt", args=[participant.pk, baseline_of(participant).pk]
    )


def attempt_post(participant, **values):
    prefix = f"attempt-{baseline_of(participant).pk}"
    data = {"channel": "phone", "outcome": "no_answer", "note": "", "back": ""}
    return {f"{prefix}-{name}": value for name, value in (data | values).items()}


def lost_url(participant):
    return reverse("worklist:lost", args=[participant.pk])


def phone_url(participant):
    return reverse("worklist:phone", args=[participant.pk, baseline_of(participant).pk])


def phone_entry_url(participant, slug="pain_severity"):
    visit = baseline_of(participant)
    return reverse("worklist:phone_entry", args=[participant.pk, visit.pk, slug])


def all_urls(participant):
    return [
        WORKLIST,
        attempt_url(participant),
        lost_url(participant),
        phone_url(participant),
        phone_entry_url(participant),
    ]


# ---------------------------------------------------------------------------
# Who may do what


def test_anonymous_visitors_are_sent_to_log_in(client, at_a):
    for url in all_urls(at_a):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response.url.startswith(reverse("login")), url


def test_investigators_are_refused_everywhere(client, at_a, investigator_user):
    client.force_login(investigator_user)
    for url in all_urls(at_a):
        assert client.get(url).status_code == 403, url
    assert client.post(attempt_url(at_a), attempt_post(at_a)).status_code == 403
    assert not ContactAttempt.objects.exists()


def test_clinic_staff_see_only_their_own_sites_visits(client, at_a, at_b, staff_a):
    client.force_login(staff_a)
    page = client.get(WORKLIST).content.decode()
    assert at_a.code in page
    assert at_b.code not in page


def test_clinic_staff_cannot_act_on_other_sites_participants(
    client, at_a, at_b, staff_a
):
    client.force_login(staff_a)
    assert client.post(attempt_url(at_b), attempt_post(at_b)).status_code == 404
    assert client.get(phone_url(at_b)).status_code == 404
    assert client.get(phone_entry_url(at_b)).status_code == 404
    assert not ContactAttempt.objects.exists()


def test_clinic_staff_may_not_mark_anyone_lost(client, at_a, staff_a):
    client.force_login(staff_a)
    assert client.get(lost_url(at_a)).status_code == 403
    response = client.post(lost_url(at_a), {"reason": "No reply"})
    assert response.status_code == 403
    at_a.refresh_from_db()
    assert at_a.status == ParticipantStatus.ACTIVE
    assert "Mark lost" not in client.get(WORKLIST).content.decode()


def test_coordinators_see_every_sites_visits(client, at_a, at_b, coordinator_user):
    client.force_login(coordinator_user)
    page = client.get(WORKLIST).content.decode()
    assert at_a.code in page and at_b.code in page
    assert "Mark lost" in page


# ---------------------------------------------------------------------------
# The list


def test_the_list_shows_no_contact_details_only_a_link_to_them(
    client, at_a, coordinator_user
):
    client.force_login(coordinator_user)
    page = client.get(WORKLIST).content.decode()
    assert "Ann Allen" not in page and "ann@example.com" not in page
    assert reverse("participants:contact_edit", args=[at_a.pk]) in page
    assert not at_a.contact_views.exists()


def test_the_list_is_filtered_by_site_and_overdue(
    client, site_a, staff_a, at_b, coordinator_user
):
    late = journeys.enrol(site_a, staff_a, on=today() - dt.timedelta(days=3))
    client.force_login(coordinator_user)
    page = client.get(WORKLIST, {"overdue": "on"}).content.decode()
    assert late.code in page and at_b.code not in page
    page = client.get(WORKLIST, {"site": at_b.site.pk}).content.decode()
    assert at_b.code in page and late.code not in page


def test_the_navigation_marks_the_work_list_as_current(client, at_a, coordinator_user):
    client.force_login(coordinator_user)
    page = client.get(WORKLIST).content.decode()
    assert 'aria-current="page" href="/worklist/">Work list</a>' in page


def test_resend_is_offered_only_to_participants_with_a_channel(
    client, site_a, staff_a, at_a, coordinator_user
):
    silent = journeys.enrol(
        site_a,
        staff_a,
        details=journeys.contact(email="", mobile="", preferred_channel=Channel.NONE),
    )
    client.force_login(coordinator_user)
    page = client.get(WORKLIST).content.decode()
    handover = reverse("participants:handover", args=[at_a.pk])
    assert f'action="{handover}"' in page
    handover = reverse("participants:handover", args=[silent.pk])
    assert f'action="{handover}"' not in page


def test_the_page_takes_the_same_queries_for_3_or_25_participants(
    client, site_a, staff_a, coordinator_user
):
    def enrol_with_attempt():
        participant = journeys.enrol(site_a, staff_a)
        ContactAttempt.objects.create(
            visit=baseline_of(participant),
            channel="phone",
            outcome="no_answer",
            made_by=staff_a,
        )

    client.force_login(coordinator_user)
    counts = []
    for count in (3, 22):
        for _ in range(count):
            enrol_with_attempt()
        with CaptureQueriesContext(connection) as queries:
            assert client.get(WORKLIST).status_code == 200
        counts.append(len(queries))
    assert counts[0] == counts[1]


# ---------------------------------------------------------------------------
# Contact attempts


def test_an_attempt_is_recorded_and_the_list_shown_again(
    client, at_a, coordinator_user
):
    client.force_login(coordinator_user)
    data = attempt_post(
        at_a, outcome="will_complete", note="Tonight", back="overdue=on&x=https://x"
    )
    response = client.post(attempt_url(at_a), data, follow=True)
    assert response.redirect_chain == [(f"{WORKLIST}?overdue=on", 302)]
    assert f"{at_a.code}: phone call, will complete, recorded." in (
        response.content.decode()
    )
    attempt = ContactAttempt.objects.get()
    assert (attempt.outcome, attempt.note, attempt.made_by) == (
        "will_complete",
        "Tonight",
        coordinator_user,
    )


def test_a_missing_outcome_is_explained_next_to_the_field(
    client, at_a, coordinator_user
):
    client.force_login(coordinator_user)
    response = client.post(attempt_url(at_a), attempt_post(at_a, outcome=""))
    assert response.status_code == 200
    page = response.content.decode()
    field_id = f"id_attempt-{baseline_of(at_a).pk}-outcome"
    assert f'<div class="invalid-feedback" id="{field_id}_error">' in page
    assert "This field is required." in page
    assert "was not recorded" in page
    assert not ContactAttempt.objects.exists()


def test_an_attempt_on_a_closed_visit_is_refused_with_a_message(
    client, at_a, coordinator_user
):
    Visit.objects.filter(participant=at_a).update(status=VisitStatus.MISSED)
    client.force_login(coordinator_user)
    response = client.post(attempt_url(at_a), attempt_post(at_a), follow=True)
    assert response.redirect_chain == [(WORKLIST, 302)]
    assert "contact attempts are recorded for open visits only" in (
        response.content.decode()
    )
    assert not ContactAttempt.objects.exists()


def test_attempts_are_shown_on_the_participant_page(client, at_a, coordinator_user):
    client.force_login(coordinator_user)
    client.post(attempt_url(at_a), attempt_post(at_a, note="Rang twice"))
    page = client.get(at_a.get_absolute_url()).content.decode()
    assert "Contact attempts (1)" in page
    assert "phone call: no answer" in page and "Rang twice" in page


# ---------------------------------------------------------------------------
# Loss to follow-up


def test_a_coordinator_marks_a_participant_lost(client, at_a, coordinator_user):
    client.force_login(coordinator_user)
    detail = client.get(at_a.get_absolute_url()).content.decode()
    assert lost_url(at_a) in detail
    assert client.get(lost_url(at_a)).status_code == 200
    response = client.post(
        lost_url(at_a), {"reason": "no_contact", "detail": "No reply to five calls"}
    )
    assert response.status_code == 302 and response.url == at_a.get_absolute_url()
    at_a.refresh_from_db()
    assert (at_a.status, at_a.lost_reason, at_a.lost_detail) == (
        "lost",
        "no_contact",
        "No reply to five calls",
    )
    detail = client.get(at_a.get_absolute_url()).content.decode()
    assert "Lost to follow-up on" in detail
    assert "No contact possible (No reply to five calls)" in detail
    assert at_a.code not in client.get(WORKLIST).content.decode()


def test_marking_lost_from_the_work_list_returns_there(client, at_a, coordinator_user):
    client.force_login(coordinator_user)
    form = client.get(lost_url(at_a), {"back": "worklist"}).content.decode()
    assert 'name="back" value="worklist"' in form
    response = client.post(lost_url(at_a), {"reason": "moved", "back": "worklist"})
    assert response.url == WORKLIST


def test_the_lost_form_asks_for_a_category_and_optional_details(
    client, at_a, coordinator_user
):
    client.force_login(coordinator_user)
    form = client.get(lost_url(at_a)).content.decode()
    radios = re.findall(r'<input type="radio"[^>]*name="reason"', form)
    assert len(radios) == len(LostReason.values)
    assert "No contact possible" in form
    assert '<textarea name="detail"' in form


@pytest.mark.parametrize("reason", ["", "No reply to five calls"])
def test_marking_lost_needs_a_reason_category(client, at_a, coordinator_user, reason):
    client.force_login(coordinator_user)
    response = client.post(lost_url(at_a), {"reason": reason, "detail": "Tried"})
    assert response.status_code == 200
    page = response.content.decode()
    assert "This field is required." in page or "Select a valid choice" in page
    at_a.refresh_from_db()
    assert at_a.status == ParticipantStatus.ACTIVE


def test_the_detail_page_offers_marking_lost_only_to_coordinators(
    client, at_a, staff_a
):
    client.force_login(staff_a)
    assert lost_url(at_a) not in client.get(at_a.get_absolute_url()).content.decode()


# ---------------------------------------------------------------------------
# Phone interviews


def test_the_phone_page_lists_the_patients_questionnaires(
    client, at_a, coordinator_user
):
    client.force_login(coordinator_user)
    page = client.get(phone_url(at_a)).content.decode()
    for slug in ("pain_severity", "partnership", "self_management"):
        assert phone_entry_url(at_a, slug) in page
    # Staff-completed characteristics are not read out by phone.
    assert "baseline_characteristics" not in page
    assert client.get(
        phone_entry_url(at_a, "baseline_characteristics")
    ).status_code == (404)


@pytest.mark.parametrize("who", ["coordinator_user", "staff_a"])
def test_a_phone_interview_is_stored_as_phone_answers_by_the_interviewer(
    client, at_a, who, request
):
    user = request.getfixturevalue(who)
    client.force_login(user)
    url = phone_entry_url(at_a)
    assert client.get(url).status_code == 200
    response = client.post(url, answers_for("pain_severity"))
    assert response.status_code == 302, response.content.decode()[:500]
    stored = Response.objects.get(
        visit=baseline_of(at_a), instrument__slug="pain_severity"
    )
    assert (stored.mode, stored.entered_by, stored.status) == (
        "phone",
        user,
        "submitted",
    )


def test_a_phone_interview_does_not_overwrite_the_patients_own_answers(
    client, at_a, coordinator_user
):
    from instruments import questionnaire

    visit = baseline_of(at_a)
    pages = questionnaire.pages_for(visit)
    for number, answers in complete_answers().items():
        questionnaire.save_page(
            visit, pages[number - 1], answers, mode="web", device="phone"
        )
    questionnaire.submit(visit, mode="web", device="phone")
    # The visit completed, so it reopens only to prove the rule.
    Visit.objects.filter(pk=visit.pk).update(status=VisitStatus.OPEN)
    client.force_login(coordinator_user)
    assert "Answered by the participant" in client.get(phone_url(at_a)).content.decode()
    response = client.post(
        phone_entry_url(at_a), {**answers_for("pain_severity"), "pain_now": "0"}
    )
    assert response.status_code == 302
    pain = Response.objects.get(visit=visit, instrument__slug="pain_severity")
    assert pain.mode == "web" and pain.answers["pain_now"] == "5"


def test_no_phone_interview_for_a_closed_visit(client, at_a, coordinator_user):
    Visit.objects.filter(participant=at_a).update(status=VisitStatus.MISSED)
    client.force_login(coordinator_user)
    response = client.get(phone_url(at_a))
    assert response.status_code == 302 and response.url == at_a.get_absolute_url()
    response = client.post(phone_entry_url(at_a), answers_for("pain_severity"))
    assert response.status_code == 302
    assert not Response.objects.filter(instrument__slug="pain_severity").exists()
