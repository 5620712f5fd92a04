"""Email for development: messages are written to the log, redacted, never sent.

Django's console backend prints whole messages (address, name, personal link) to
standard output, which a worker's log keeps. This one logs what a developer needs
to see that a message went out, through the same redaction as every other line.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.mail.backends.base import BaseEmailBackend
from django.utils.module_loading import import_string

logger = logging.getLogger("studyportal.mail")

# Backends that accept a message without handing it to anyone.
NOT_DELIVERING = frozenset(
    {
        "django.core.mail.backends.console.EmailBackend",
        "django.core.mail.backends.dummy.EmailBackend",
        "django.core.mail.backends.filebased.EmailBackend",
    }
)


class ConsoleEmailBackend(BaseEmailBackend):
    delivers = False

    def send_messages(self, email_messages) -> int:
        for message in email_messages:
            logger.info(
                "Email printed, not sent: to %s, subject %r, %d characters",
                ", ".join(message.recipients()),
                message.subject,
                len(message.body),
            )
        return len(email_messages)


def backend_delivers(path: str) -> bool:
    """Whether the backend named by ``path`` hands messages to a real transport."""
    if path in NOT_DELIVERING:
        return False
    return getattr(import_string(path), "delivers", True)


def email_delivers() -> bool:
    return backend_delivers(settings.EMAIL_BACKEND)
