"""Tokens and contact details never reach the logs, whatever a patient does."""

import logging
import re

import pytest
from django.core import mail
from django.urls import reverse

from participants.models import (
    Channel,
    OutboundMessage,
    Participant,
    ScreeningRecord,
)
from participants.tasks import send_message
from tests.participants.journeys import (
    consent_post,
    enrol_post,
    screening_post,
)

NAME = "Rosalind Quartermaine"
EMAIL = "rosalind.q@example.org"
MOBILE = "07911 123456"
MOBILE_E164 = "+447911123456"
LOGGERS = ("", "django", "django.request", "django.server", "celery")


@pytest.fixture
def all_logs(caplog):
    for name in LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name)
    # Loggers that do not propagate would escape caplog's handler on the root.
    quiet = [
        logger for logger in map(logging.getLogger, LOGGERS[1:]) if not logger.propagate
    ]
    for logger in quiet:
        logger.propagate = True
    yield caplog
    for logger in quiet:
        logger.propagate = False


def logged_text(caplog) -> str:
    parts = []
    for record in caplog.records:
        parts.append(record.getMessage())
        parts.append(repr(record.args))
    return "\n".join(parts)


def test_enrol_invite_and_answer_leave_no_token_or_contact_in_the_logs(
    client, site_a, staff_a, sms_outbox, all_logs
):
    client.force_login(staff_a)
    client.post(reverse("participants:screening_new"), screening_post(site_a))
    record = ScreeningRecord.objects.get()
    client.post(
        reverse("participants:consent", args=[record.pk]),
        consent_post(typed_name=NAME),
    )
    client.post(
        reverse("participants:enrol", args=[record.pk]),
        enrol_post(
            **{
                "contact-full_name": NAME,
                "contact-email": EMAIL,
                "contact-mobile": MOBILE,
                "contact-preferred_channel": Channel.BOTH,
            }
        ),
    )
    participant = Participant.objects.get()
    client.get(participant.get_absolute_url())
    client.post(
        reverse("participants:handover", args=[participant.pk]), {"action": "send"}
    )
    for message in OutboundMessage.objects.all():
        assert send_message.apply(args=[message.pk]).get() == "sent"

    link = re.search(r"https?://\S+/q/(\S+?)/", mail.outbox[0].body)
    token = link.group(1)
    opt_out = re.search(r"/q/stop/(\S+?)/", mail.outbox[0].body).group(1)
    client.logout()
    client.get(f"/q/{token}/")
    client.post(f"/q/{token}/1/", {"pain_worst": "99", "go": "next"})
    client.get(f"/q/{token}x/")  # a mistyped link: Django logs a 404's path
    client.get(f"/q/{token}/review/")
    client.get(f"/q/stop/{opt_out}x/")

    text = logged_text(all_logs)
    assert all_logs.records, "nothing was logged; the scan would prove nothing"
    for secret in (token, opt_out, NAME, "Rosalind", EMAIL, MOBILE, MOBILE_E164):
        assert secret not in text, f"{secret!r} appears in the logs"
    assert "Not Found: /q/[redacted]/" in text
