"""Gunicorn's access log without participants' link tokens.

The access log writes every request line and referrer, and the questionnaire pages
carry the participant's token in their path; run gunicorn with
``--logger-class studyportal.gunicorn_logging.RedactingLogger``.
"""

from __future__ import annotations

from gunicorn.glogging import Logger

from studyportal.log_redaction import redact_links


class RedactingLogger(Logger):
    def atoms(self, resp, req, environ, request_time) -> dict:
        return {
            key: redact_links(value) if isinstance(value, str) else value
            for key, value in super().atoms(resp, req, environ, request_time).items()
        }
