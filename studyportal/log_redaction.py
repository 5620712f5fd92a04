"""Keep participants' link tokens and contact details out of the logs.

A questionnaire link is the participant's key, so a path such as /q/<token>/ in a
log line (Django logs the path of every 4xx response, the server every request)
would hand that key to anyone who reads the logs. Query strings carry what staff
typed into a search (names, emails, phone numbers), and message backends see the
address they send to. Every log line of every process passes through ``redact``.
"""

from __future__ import annotations

import logging
import re

REDACTED = "[redacted]"
# /q/<token>/... and /q/stop/<signed>/, wherever they appear in a message.
LINK_PATH = re.compile(r"/q/(stop/)?[^/\s?#\"']+")
# The value of every query parameter: ?q=Jane+Doe&status=active.
QUERY_VALUE = re.compile(r"([?&][^=&\s#\"']*=)[^&\s#\"']*")
EMAIL = re.compile(r"[\w.!#$%&'*+/=?^`{|}~-]+@[\w-]+(?:\.[\w-]+)+", re.UNICODE)
# A phone number as people write it (+44 7700 900223, 07700-900223, (0113) 496
# 0000) or as stored (447700900223): a leading + or 0 and nine or more digits, or
# ten or more digits in a row. Dates, times and durations never match.
PHONE = re.compile(
    r"(?<![\w+.])(?:(?:\+|\(?0)\d(?:[ ().-]{0,2}\d){8,14}|\d{10,15})(?![\w])"
)


def redact(text: str) -> str:
    """The text without link tokens, query values, email addresses or phone numbers."""
    text = LINK_PATH.sub(lambda match: f"/q/{match.group(1) or ''}{REDACTED}", text)
    text = QUERY_VALUE.sub(lambda match: f"{match.group(1)}{REDACTED}", text)
    text = EMAIL.sub(REDACTED, text)
    return PHONE.sub(REDACTED, text)


class RedactPersonalData(logging.Filter):
    """Rewrite the record's message in place, so every handler (and anything that
    reads the record later) sees the redacted text.

    The message is formatted with its arguments first: a number or an object
    passed as an argument may print as a phone number or an address.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            message = f"{record.msg} {record.args!r}"
        record.msg = redact(message)
        record.args = ()
        if record.exc_info and not record.exc_text:
            # A traceback's text is formatted once and cached on the record.
            record.exc_text = redact(
                logging.Formatter().formatException(record.exc_info)
            )
            record.exc_info = None
        return True
