"""Text messages through a pluggable backend, like Django's email backends.

``SMS_BACKEND`` names a class with ``send(to, body) -> provider_id``. The console
backend prints messages (development); the memory backend keeps them for tests.
A production backend wraps the study's SMS provider.
"""

from __future__ import annotations

import sys
import uuid

from django.conf import settings
from django.utils.module_loading import import_string

outbox: list[dict] = []


class ConsoleBackend:
    def send(self, to: str, body: str) -> str:
        sys.stdout.write(f"SMS to {to}:\n{body}\n{'-' * 40}\n")
        return f"console-{uuid.uuid4().hex[:12]}"


class MemoryBackend:
    def send(self, to: str, body: str) -> str:
        provider_id = f"memory-{len(outbox) + 1}"
        outbox.append({"to": to, "body": body, "provider_id": provider_id})
        return provider_id


def send_sms(to: str, body: str) -> str:
    backend = import_string(settings.SMS_BACKEND)()
    return backend.send(to, body)
