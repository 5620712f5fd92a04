"""After enrolment: the questionnaire on the tablet, by message, or by letter."""

import re

import pytest
from django.contrib.auth import SESSION_KEY
from django.urls import reverse

from participants import links, tablet
from participants.models import Channel, MessageKind, MessageStatus, OutboundMessage
from tests.participants import journeys
from tests.participants.journeys import contact


@pytest.fixture
def participant(site_a, staff_a):
    return journeys.enrol(
        site_a, staff_a, details=contact(preferred_channel=Channel.EMAIL)
    )


@pytest.fixture
def baseline(participant):
    return participant.visits.get(timepoint__code="baseline")


@pytest.fixture
def staff(client, staff_a):
    client.force_login(staff_a)
    return staff_a


def handover_url(participant):
    return reverse("participants:handover", args=[participant.pk])


def test_send_queues_an_invitation_without_touching_the_broker(
    client, staff, participant, baseline, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post(handover_url(participant), {"action": "send"})
    assert response.url == participant.get_absolute_url()
    message = OutboundMessage.objects.get()
    assert (message.visit, message.kind, message.channel, message.status) == (
        baseline,
        MessageKind.INVITE,
        "email",
        MessageStatus.PENDING,
    )
    assert len(callbacks) == 1


def test_send_says_how_the_link_goes(
    client, staff, participant, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False):
        response = client.post(
            handover_url(participant), {"action": "send"}, follow=True
        )
    assert "The link is on its way by email." in response.content.decode()


def test_send_is_not_offered_to_someone_who_wants_no_messages(
    client, staff, site_a, staff_a
):
    quiet = journeys.enrol(
        site_a, staff_a, details=contact(preferred_channel=Channel.NONE)
    )
    response = client.post(handover_url(quiet), {"action": "send"})
    assert response.status_code == 200
    assert "chose not to get messages" in response.content.decode()
    assert not OutboundMessage.objects.exists()


def test_tablet_logs_the_staff_out_and_opens_the_questionnaire(
    client, staff, participant, baseline
):
    response = client.post(handover_url(participant), {"action": "tablet"})
    match = re.fullmatch(r"/q/(?P<token>[^/]+)/", response.url)
    assert match
    assert links.visit_for_token(match["token"]) == baseline
    assert SESSION_KEY not in client.session
    assert client.session[tablet.SESSION_KEY] == baseline.pk
    after = client.get(participant.get_absolute_url())
    assert after.status_code == 302
    assert after.url.startswith(reverse("login"))


def test_letter_prints_a_qr_code_of_a_fresh_link(client, staff, participant, baseline):
    letter_url = reverse("participants:letter", args=[participant.pk])
    # Opening the address only leads back to the choices; a POST makes a letter.
    assert client.get(letter_url).url == handover_url(participant)
    letter = client.post(letter_url)
    text = letter.content.decode()
    assert "<svg" in text
    assert "Alex Example" in text
    token = re.search(r"/q/(?P<token>[^/\s<]+)/", text)["token"]
    assert links.visit_for_token(token) == baseline


def test_no_open_visit_means_nothing_to_hand_over(client, staff, participant):
    participant.visits.update(status="completed")
    response = client.get(handover_url(participant))
    assert "No visit is open" in response.content.decode()
    letter = client.post(reverse("participants:letter", args=[participant.pk]))
    assert letter.url == participant.get_absolute_url()
