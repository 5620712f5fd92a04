"""The link in every message that stops messages, and what the messages carry."""

import datetime as dt
import re
import time
from unittest import mock
from urllib.parse import urlsplit

import pytest
from django.core import mail, signing
from django.utils import timezone

from participants import links, messaging, reminders
from participants.models import Channel, MessageStatus, OutboundMessage
from tests.participants import journeys

QUESTIONNAIRE_LINK = re.compile(r"https?://[^\s\"<>]+/q/(?!stop/)(?P<token>[^/\s]+)/")
CONTACT_EMAIL = "backpain.study@example.invalid"


@pytest.fixture
def participant(site_a, staff_a):
    return journeys.enrol(
        site_a, staff_a, details=journeys.contact(preferred_channel=Channel.BOTH)
    )


@pytest.fixture
def baseline(participant):
    return participant.visits.get(timepoint__code="baseline")


def plan_invitations() -> None:
    # A day ahead, so that an enrolment in the evening's quiet hours is due too.
    reminders.plan_due(timezone.now() + dt.timedelta(days=1))


def opt_out_path(participant) -> str:
    return urlsplit(messaging.opt_out_url(participant)).path


def tampered(path: str) -> str:
    signed = path.rstrip("/").rsplit("/", 1)[1]
    last = "A" if signed[-1] != "A" else "B"
    return path.replace(signed, signed[:-1] + last)


# ---------------------------------------------------------------------------
# The opt-out page


def test_the_link_opens_a_page_without_logging_in(client, participant):
    url = messaging.opt_out_url(participant)
    assert url.startswith("http://127.0.0.1:8000/q/stop/")
    response = client.get(opt_out_path(participant))
    assert response.status_code == 200
    assert "Stop messages about Back Pain Partnership?" in response.content.decode()
    participant.contact.refresh_from_db()
    assert participant.contact.preferred_channel == Channel.BOTH


def test_stopping_messages_cancels_pending_ones_and_keeps_sent_ones(
    client, participant, baseline
):
    plan_invitations()
    email, sms = baseline.messages.order_by("channel")
    assert messaging.send(email.pk) == "sent"

    response = client.post(opt_out_path(participant))

    assert response.status_code == 200
    assert "You will not get any more messages" in response.content.decode()
    participant.contact.refresh_from_db()
    assert participant.contact.preferred_channel == Channel.NONE
    assert participant.contact.history.first().history_change_reason == (
        "Participant opted out of messages"
    )
    email.refresh_from_db()
    sms.refresh_from_db()
    assert email.status == MessageStatus.SENT
    assert (sms.status, sms.error) == (MessageStatus.CANCELLED, "participant opted out")


def test_after_opting_out_nothing_more_is_planned_or_sent(
    client, participant, baseline
):
    client.post(opt_out_path(participant))
    reminders.plan_due(timezone.now() + dt.timedelta(days=30))
    assert not OutboundMessage.objects.exists()
    assert baseline.messages.count() == 0


def test_opting_out_twice_is_harmless(client, participant):
    assert client.post(opt_out_path(participant)).status_code == 200
    assert client.post(opt_out_path(participant)).status_code == 200
    participant.contact.refresh_from_db()
    assert participant.contact.preferred_channel == Channel.NONE


@pytest.mark.parametrize("method", ["get", "post"])
def test_a_tampered_link_gets_the_friendly_not_found_page(client, participant, method):
    response = getattr(client, method)(tampered(opt_out_path(participant)))
    assert response.status_code == 404
    assert "This link does not work" in response.content.decode()
    participant.contact.refresh_from_db()
    assert participant.contact.preferred_channel == Channel.BOTH


def test_a_value_signed_for_something_else_is_not_an_opt_out_link(client, participant):
    unsalted = signing.dumps(participant.pk)
    response = client.post(f"/q/stop/{unsalted}/")
    assert response.status_code == 404
    participant.contact.refresh_from_db()
    assert participant.contact.preferred_channel == Channel.BOTH


def test_the_link_outlives_new_questionnaire_links(participant, baseline):
    before = messaging.opt_out_url(participant)
    links.issue_token(baseline)
    link = messaging.opt_out_link(before.rstrip("/").rsplit("/", 1)[1])
    assert link.participant == participant
    assert not link.expired


def test_i3_the_link_carries_nothing_about_the_participant(participant):
    signed = opt_out_path(participant).rstrip("/").rsplit("/", 1)[1]
    value = signed.split(":")[0]
    assert value == participant.opt_out_key
    assert str(participant.pk) not in value
    other = journeys.enrol(participant.site, participant.enrolled_by)
    # One participant's key says nothing about the next one's.
    assert messaging.opt_out_url(other).rsplit("/", 2)[1].split(":")[0] != value
    # The old form, the participant's id signed, is no link at all.
    legacy = signing.dumps(participant.pk, salt=messaging.OPT_OUT_SALT)
    assert messaging.opt_out_link(legacy) is None


def test_i3_the_link_expires_and_then_says_how_else_to_stop(
    client, participant, settings
):
    path = opt_out_path(participant)
    later = time.time() + (messaging.OPT_OUT_LINK_DAYS + 1) * 86400
    with mock.patch("django.core.signing.time.time", return_value=later):
        shown = client.get(path)
        posted = client.post(path)
    assert shown.status_code == posted.status_code == 410
    text = shown.content.decode()
    assert "This link has expired" in text
    assert participant.study.contact_email in text
    participant.contact.refresh_from_db()
    assert participant.contact.preferred_channel == Channel.BOTH


# ---------------------------------------------------------------------------
# What a message carries


@pytest.fixture
def sent_email(participant, baseline, sms_outbox):
    plan_invitations()
    message = baseline.messages.get(channel="email")
    assert messaging.send(message.pk) == "sent"
    (email,) = mail.outbox
    return email


def test_an_email_has_a_text_and_an_html_part(sent_email):
    assert sent_email.subject == "Back Pain Partnership: your questionnaire is ready"
    assert sent_email.to == ["alex@example.com"]
    (html,) = sent_email.alternatives
    assert html.mimetype == "text/html"
    assert "Dear Alex," in sent_email.body
    assert "<p>Dear Alex,</p>" in html.content


def test_both_parts_carry_the_personal_link(sent_email, baseline):
    (html,) = sent_email.alternatives
    text_token = QUESTIONNAIRE_LINK.search(sent_email.body).group("token")
    html_token = QUESTIONNAIRE_LINK.search(html.content).group("token")
    assert text_token == html_token
    assert links.visit_for_token(text_token) == baseline


def test_an_email_gives_the_studys_contact_email(sent_email):
    (html,) = sent_email.alternatives
    assert CONTACT_EMAIL in sent_email.body
    assert f'href="mailto:{CONTACT_EMAIL}"' in html.content
    assert sent_email.reply_to == [CONTACT_EMAIL]


OPT_OUT_LINK = re.compile(r"https?://[^\s\"<>]+/q/stop/(?P<signed>[^/\s]+)/")


def sent_opt_out_url(text: str, participant) -> str:
    """The opt-out link in ``text``, checked to be ``participant``'s.

    Its signature is dated, so it is read from the message rather than made
    again (a second later it would differ).
    """
    found = OPT_OUT_LINK.search(text)
    assert found, text
    assert messaging.opt_out_link(found["signed"]).participant == participant
    return found[0]


def test_an_email_carries_the_opt_out_link_in_body_and_header(
    client, sent_email, participant
):
    url = sent_opt_out_url(sent_email.body, participant)
    (html,) = sent_email.alternatives
    assert f"To stop receiving these messages: {url}" in sent_email.body
    assert f'href="{url}"' in html.content
    assert sent_email.extra_headers["List-Unsubscribe"] == f"<{url}>"
    assert sent_email.message()["List-Unsubscribe"] == f"<{url}>"
    assert client.get(urlsplit(url).path).status_code == 200


def test_a_text_message_carries_the_opt_out_link(participant, baseline, sms_outbox):
    plan_invitations()
    message = baseline.messages.get(channel="sms")
    assert messaging.send(message.pk) == "sent"
    (sms,) = sms_outbox
    url = sent_opt_out_url(sms["body"], participant)
    assert sms["body"].endswith(f"Stop messages: {url}")


def test_mail_clients_can_unsubscribe_with_one_click(participant):
    """RFC 8058: a POST to the link, with no CSRF token, stops messages."""
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    response = strict.post(opt_out_path(participant), {"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200
    participant.contact.refresh_from_db()
    assert participant.contact.preferred_channel == Channel.NONE
