"""Gunicorn's access log without participants' link tokens or search terms.

The access log writes every request line and referrer: the questionnaire pages
carry the participant's token in their path, and searches what staff typed in
their query string. Run gunicorn with
``--logger-class studyportal.gunicorn_logging.RedactingLogger``.
"""

from __future__ import annotations

from gunicorn.glogging import Logger

from studyportal.log_redaction import redact


class RedactingLogger(Logger):
    def atoms(self, resp, req, environ, request_time) -> dict:
        return {
            key: _redact_atom(key, value) if isinstance(value, str) else value
            for key, value in super().atoms(resp, req, environ, request_time).items()
        }


def _redact_atom(key: str, value: str) -> str:
    # A bare query string (%(q)s, {query_string}e) has no "?" to say what it is.
    if key == "q" or "query_string" in key.lower():
        return redact(f"?{value}")[1:]
    return redact(value)
