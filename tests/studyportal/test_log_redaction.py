"""Questionnaire link tokens are taken out of log lines."""

import datetime as dt
import logging
from types import SimpleNamespace

from gunicorn.config import Config

from studyportal.gunicorn_logging import RedactingLogger
from studyportal.log_redaction import RedactLinkTokens, redact_links


def test_it_redacts_the_token_in_questionnaire_and_opt_out_paths():
    assert redact_links("Not Found: /q/abc123/2/") == "Not Found: /q/[redacted]/2/"
    assert redact_links("GET /q/stop/1:xyz:sig/ HTTP/1.1") == (
        "GET /q/stop/[redacted]/ HTTP/1.1"
    )
    assert redact_links("https://portal.example.org/q/abc") == (
        "https://portal.example.org/q/[redacted]"
    )
    assert redact_links("GET /participants/12/ HTTP/1.1") == (
        "GET /participants/12/ HTTP/1.1"
    )


def test_the_filter_rewrites_message_and_arguments():
    record = logging.LogRecord(
        "django.request", logging.WARNING, "", 0, "%s: %s", ("Gone", "/q/t0k/"), None
    )
    assert RedactLinkTokens().filter(record)
    assert record.getMessage() == "Gone: /q/[redacted]/"


def test_gunicorns_access_log_leaves_out_the_token_in_path_and_referrer():
    environ = {
        "REQUEST_METHOD": "GET",
        "RAW_URI": "/q/t0k/2/",
        "PATH_INFO": "/q/t0k/2/",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_REFERER": "https://portal.example.org/q/t0k/1/",
    }
    response = SimpleNamespace(status="200 OK", headers=[], sent=10)
    atoms = RedactingLogger(Config()).atoms(
        response, SimpleNamespace(headers=[]), environ, dt.timedelta(seconds=1)
    )
    assert atoms["r"] == "GET /q/[redacted]/2/ HTTP/1.1"
    assert atoms["U"] == "/q/[redacted]/2/"
    assert atoms["f"] == "https://portal.example.org/q/[redacted]/1/"
