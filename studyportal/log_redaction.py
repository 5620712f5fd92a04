"""Keep participants' link tokens out of the logs.

A questionnaire link is the participant's key, so a path such as /q/<token>/ in a
log line (Django logs the path of every 4xx response, the server every request)
would hand that key to anyone who reads the logs.
"""

from __future__ import annotations

import logging
import re

REDACTED = "[redacted]"
# /q/<token>/... and /q/stop/<signed>/, wherever they appear in a message.
LINK_PATH = re.compile(r"/q/(stop/)?[^/\s?#\"']+")


def redact_links(text: str) -> str:
    return LINK_PATH.sub(lambda match: f"/q/{match.group(1) or ''}{REDACTED}", text)


def _redact(value):
    return redact_links(value) if isinstance(value, str) else value


class RedactLinkTokens(logging.Filter):
    """Rewrite the record's message and arguments in place, so every handler
    (and anything that reads the record later) sees the redacted text."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact_links(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(_redact(arg) for arg in record.args)
        elif isinstance(record.args, dict):
            record.args = {key: _redact(arg) for key, arg in record.args.items()}
        return True
