"""Who may open which participant and screening pages, role by role."""

import pytest
from django.urls import reverse

from participants.models import ParticipantStatus
from tests.factories import StudyFactory, clinic_staff, coordinator
from tests.participants import journeys
from tests.participants.journeys import contact

# Pages about one participant, and those only coordinators (and admins) may open.
PARTICIPANT_PAGES = [
    "detail",
    "handover",
    "letter",
    "contact_edit",
    "characteristics_edit",
    "reconsent",
    "withdraw",
    "reactivate",
    "history",
]
COORDINATOR_ONLY = {"reactivate", "history"}
ENROLLING_ONLY = {"characteristics_edit", "reconsent"}

NAME, EMAIL, MOBILE = "Zebedee Quartermaine", "zebedee@example.org", "+447700900123"


@pytest.fixture
def ours(site_a, staff_a):
    details = contact(NAME, email=EMAIL, mobile=MOBILE)
    return journeys.enrol(site_a, staff_a, details=details)


@pytest.fixture
def theirs(site_b, staff_b):
    details = contact("Bea Other", email="bea@example.org", mobile="+447700900456")
    return journeys.enrol(site_b, staff_b, details=details)


def url(name, participant):
    return reverse(f"participants:{name}", args=[participant.pk])


def open_page(client, page, participant):
    """Open a page as a person would; a letter is made by a POST."""
    if page == "letter":
        return client.post(url(page, participant))
    return client.get(url(page, participant))


def participant_urls(participant):
    return [url(name, participant) for name in PARTICIPANT_PAGES]


def screening_urls(record):
    return [
        reverse("participants:screening_list"),
        reverse("participants:screening_new"),
        reverse("participants:consent", args=[record.pk]),
        reverse("participants:enrol", args=[record.pk]),
    ]


# ---------------------------------------------------------------------------
# Clinic staff


@pytest.mark.parametrize("page", sorted(set(PARTICIPANT_PAGES) - COORDINATOR_ONLY))
def test_clinic_staff_open_every_page_of_their_own_participant(
    client, staff_a, ours, page
):
    client.force_login(staff_a)
    assert open_page(client, page, ours).status_code == 200


@pytest.mark.parametrize("page", sorted(set(PARTICIPANT_PAGES) - COORDINATOR_ONLY))
def test_staff_of_another_site_get_404_for_a_participant(client, staff_a, theirs, page):
    client.force_login(staff_a)
    assert open_page(client, page, theirs).status_code == 404
    assert client.post(url(page, theirs), {}).status_code in (404, 405)


@pytest.mark.parametrize("page", sorted(COORDINATOR_ONLY))
def test_clinic_staff_cannot_reactivate_or_read_history_at_any_site(
    client, staff_a, ours, theirs, page
):
    client.force_login(staff_a)
    assert open_page(client, page, ours).status_code == 403
    assert open_page(client, page, theirs).status_code == 403


def test_clinic_staff_cannot_reactivate_their_own_withdrawn_participant(
    client, staff_a, ours
):
    ours.status = ParticipantStatus.WITHDRAWN
    ours.save()
    client.force_login(staff_a)
    response = client.post(url("reactivate", ours), {"reason": "Changed mind"})
    assert response.status_code == 403
    ours.refresh_from_db()
    assert ours.status == ParticipantStatus.WITHDRAWN


def test_staff_of_another_site_get_404_for_its_screening(client, staff_a, site_b):
    other_staff = clinic_staff(site_b)
    consenting = journeys.screen(site_b, other_staff)
    consented = journeys.consented(site_b, other_staff)
    client.force_login(staff_a)
    for record in (consenting, consented):
        for name in ("consent", "enrol"):
            target = reverse(f"participants:{name}", args=[record.pk])
            assert client.get(target).status_code == 404
            assert client.post(target, journeys.enrol_post()).status_code == 404


def test_the_participant_list_shows_only_the_own_site(client, staff_a, ours, theirs):
    client.force_login(staff_a)
    response = client.get(reverse("participants:list"))
    assert list(response.context["page"].object_list) == [ours]
    assert NAME in response.content.decode()
    assert "Bea Other" not in response.content.decode()
    assert theirs.code not in response.content.decode()


def test_the_screening_log_shows_only_the_own_site(client, staff_a, ours, theirs):
    client.force_login(staff_a)
    response = client.get(reverse("participants:screening_list"))
    assert list(response.context["page"].object_list) == [ours.screening]


def test_the_participant_list_finds_by_a_word_of_the_name(
    client, staff_a, ours, site_a
):
    journeys.enrol(site_a, staff_a, details=contact("Somebody Else"))
    client.force_login(staff_a)
    response = client.get(reverse("participants:list"), {"q": "quartermaine"})
    assert list(response.context["page"].object_list) == [ours]


# ---------------------------------------------------------------------------
# Coordinators


def test_coordinators_see_participants_of_every_site(
    client, coordinator_user, ours, theirs
):
    client.force_login(coordinator_user)
    response = client.get(reverse("participants:list"))
    assert set(response.context["page"].object_list) == {ours, theirs}


@pytest.mark.parametrize("page", sorted(set(PARTICIPANT_PAGES) - ENROLLING_ONLY))
def test_coordinators_open_the_follow_up_pages_of_any_site(
    client, coordinator_user, ours, theirs, page
):
    client.force_login(coordinator_user)
    assert open_page(client, page, ours).status_code == 200
    assert open_page(client, page, theirs).status_code == 200


@pytest.mark.parametrize("page", sorted(ENROLLING_ONLY))
def test_coordinators_do_not_hand_over_or_enter_data(
    client, coordinator_user, ours, page
):
    client.force_login(coordinator_user)
    assert open_page(client, page, ours).status_code == 403


def test_coordinators_of_another_study_get_404(client, ours):
    client.force_login(coordinator(StudyFactory()))
    assert client.get(url("detail", ours)).status_code == 404
    assert client.get(url("history", ours)).status_code == 404


def test_a_coordinator_reactivates_a_withdrawn_participant(
    client, coordinator_user, theirs
):
    client.force_login(coordinator_user)
    withdrawn = client.post(
        url("withdraw", theirs),
        {
            "withdrawn_on": journeys.today().isoformat(),
            "reason": "no_longer_wishes",
            "keep_data": "yes",
        },
    )
    assert withdrawn.status_code == 302
    response = client.post(url("reactivate", theirs), {"reason": "Changed mind"})
    assert response.status_code == 302
    theirs.refresh_from_db()
    assert theirs.status == ParticipantStatus.ACTIVE
    history = client.get(url("history", theirs))
    assert history.status_code == 200
    assert "Re-activated: Changed mind" in history.content.decode()


def test_coordinators_cannot_screen_or_enrol(client, coordinator_user, site_a):
    record = journeys.consented(site_a, clinic_staff(site_a))
    client.force_login(coordinator_user)
    for target in screening_urls(record):
        assert client.get(target).status_code == 403


# ---------------------------------------------------------------------------
# Investigators and anonymous visitors


def test_investigators_get_403_on_every_participant_and_screening_page(
    client, investigator_user, ours
):
    client.force_login(investigator_user)
    targets = [
        reverse("participants:list"),
        *participant_urls(ours),
        *screening_urls(ours.screening),
    ]
    for target in targets:
        assert client.get(target).status_code == 403, target
        assert client.post(target, {}).status_code in (403, 405), target


def test_investigators_pages_never_show_identifying_details(
    client, investigator_user, ours
):
    client.force_login(investigator_user)
    pages = [
        reverse("home"),
        reverse("instruments:list"),
        reverse("instruments:detail", args=["baseline_characteristics"]),
        reverse("instruments:preview", args=["baseline_characteristics", 1]),
    ]
    for page in pages:
        response = client.get(page)
        assert response.status_code == 200, page
        text = response.content.decode()
        for secret in (NAME, "Zebedee", EMAIL, MOBILE, "7700 900123"):
            assert secret not in text, (page, secret)


def test_anonymous_visitors_are_sent_to_login(client, ours):
    login = reverse("login")
    targets = [
        reverse("participants:list"),
        *participant_urls(ours),
        *screening_urls(ours.screening),
    ]
    for target in targets:
        response = client.get(target)
        assert response.status_code == 302, target
        assert response["Location"].startswith(f"{login}?next="), target
