"""Staff type in paper questionnaires through the same forms patients use."""

from django.urls import reverse

from instruments.models import Response
from participants.models import VisitStatus
from tests.participants import journeys
from tests.questionnaire.conftest import complete_answers

PAPER_PAGES = {  # instrument slug -> the answers of its pages
    "pain_severity": [1],
    "partnership": [2, 3],
    "self_management": [4],
    "anxiety_depression": [5],
}


def entry_url(participant, visit, slug):
    return reverse("participants:paper_entry", args=[participant.pk, visit.pk, slug])


def answers_for(slug):
    pages = complete_answers()
    merged = {}
    for number in PAPER_PAGES[slug]:
        merged.update(pages[number])
    return merged


def test_staff_enter_paper_answers_and_the_visit_completes(client, site_a, staff_a):
    participant = journeys.enrol(site_a, staff_a)
    baseline = participant.visits.get(timepoint__code="baseline")
    client.force_login(staff_a)
    for slug in PAPER_PAGES:
        response = client.post(
            entry_url(participant, baseline, slug), answers_for(slug)
        )
        assert response.status_code == 302, response.content.decode()[:500]
    pain = Response.objects.get(visit=baseline, instrument__slug="pain_severity")
    assert (pain.mode, pain.entered_by, pain.status) == ("paper", staff_a, "submitted")
    assert pain.scores["pain_severity"]["value"] == 5.0
    baseline.refresh_from_db()
    assert baseline.status == VisitStatus.COMPLETED


def test_invalid_paper_answers_are_explained_and_not_saved(client, site_a, staff_a):
    participant = journeys.enrol(site_a, staff_a)
    baseline = participant.visits.get(timepoint__code="baseline")
    client.force_login(staff_a)
    response = client.post(
        entry_url(participant, baseline, "pain_severity"), {"pain_worst": "11"}
    )
    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    assert not Response.objects.filter(instrument__slug="pain_severity").exists()


def test_a_patients_own_submission_cannot_be_overwritten(client, site_a, staff_a):
    from instruments import questionnaire

    participant = journeys.enrol(site_a, staff_a)
    baseline = participant.visits.get(timepoint__code="baseline")
    pages = questionnaire.pages_for(baseline)
    for number, answers in complete_answers().items():
        questionnaire.save_page(
            baseline, pages[number - 1], answers, mode="web", device="phone"
        )
    questionnaire.submit(baseline, mode="web", device="phone")
    client.force_login(staff_a)
    url = entry_url(participant, baseline, "pain_severity")
    response = client.post(url, {**answers_for("pain_severity"), "pain_now": "0"})
    assert response.status_code == 302
    pain = Response.objects.get(visit=baseline, instrument__slug="pain_severity")
    assert pain.mode == "web" and pain.answers["pain_now"] == "5"


def test_other_sites_and_coordinators_cannot_enter_paper(
    client, site_a, staff_a, staff_b, coordinator_user
):
    participant = journeys.enrol(site_a, staff_a)
    baseline = participant.visits.get(timepoint__code="baseline")
    url = entry_url(participant, baseline, "pain_severity")
    client.force_login(staff_b)
    assert client.get(url).status_code == 404
    client.force_login(coordinator_user)
    assert client.get(url).status_code == 403
