"""Text messages through a pluggable backend, like Django's email backends.

``SMS_BACKEND`` names a class with ``send(to, body) -> provider_id``. The console
backend writes messages to the log, redacted, and sends nothing (development); the
memory backend keeps them for tests; the HTTP backend talks to a provider's JSON
API. A backend whose ``delivers`` is false leaves its messages marked printed,
not sent.
"""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
import uuid

from django.conf import settings
from django.utils.module_loading import import_string

from studyportal.mail import backend_delivers

logger = logging.getLogger("participants.sms")
outbox: list[dict] = []


class ConsoleBackend:
    delivers = False

    def send(self, to: str, body: str) -> str:
        logger.info("Text message printed, not sent: to %s: %s", to, body)
        return f"console-{uuid.uuid4().hex[:12]}"


class MemoryBackend:
    def send(self, to: str, body: str) -> str:
        provider_id = f"memory-{len(outbox) + 1}"
        outbox.append({"to": to, "body": body, "provider_id": provider_id})
        return provider_id


def send_sms(to: str, body: str) -> str:
    backend = import_string(settings.SMS_BACKEND)()
    return backend.send(to, body)


def sms_delivers() -> bool:
    return backend_delivers(settings.SMS_BACKEND)


class HttpBackend:
    """A JSON-over-HTTPS SMS provider, configured by the environment.

    POSTs ``{"to", "from", "body"}`` to SMS_HTTP_URL with a bearer token
    (SMS_HTTP_TOKEN) and reads the message id from the ``id`` field of the reply.
    Network failures raise OSError, which the sending task retries.
    """

    timeout_seconds = 10

    def send(self, to: str, body: str) -> str:
        url = settings.SMS_HTTP_URL
        if not url:
            raise ValueError("SMS_HTTP_URL is not set")
        payload = json.dumps({"to": to, "from": settings.SMS_FROM, "body": body})
        request = urllib.request.Request(
            url,
            data=payload.encode(),
            method="POST",
            headers={
                "Content-Type": "application/json",
                "Authorization": f"Bearer {settings.SMS_HTTP_TOKEN}",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_seconds) as reply:
                answer = json.load(reply)
        except urllib.error.HTTPError as exc:
            # Rate limits and timeouts pass like a provider's own errors.
            if exc.code >= 500 or exc.code in (408, 429):
                raise OSError(f"SMS provider answered {exc.code}") from exc
            raise ValueError(f"SMS provider refused the message: {exc.code}") from exc
        return str(answer.get("id", ""))
