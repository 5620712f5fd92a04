"""Link tokens, search terms and contact details are taken out of log lines."""

import datetime as dt
import logging
from types import SimpleNamespace

from gunicorn.config import Config

from studyportal.gunicorn_logging import RedactingLogger
from studyportal.log_redaction import RedactPersonalData, redact


def test_it_redacts_the_token_in_questionnaire_and_opt_out_paths():
    assert redact("Not Found: /q/abc123/2/") == "Not Found: /q/[redacted]/2/"
    assert redact("GET /q/stop/1:xyz:sig/ HTTP/1.1") == (
        "GET /q/stop/[redacted]/ HTTP/1.1"
    )
    assert redact("https://portal.example.org/q/abc") == (
        "https://portal.example.org/q/[redacted]"
    )
    assert redact("GET /participants/12/ HTTP/1.1") == (
        "GET /participants/12/ HTTP/1.1"
    )


def test_the_filter_rewrites_message_and_arguments():
    record = logging.LogRecord(
        "django.request", logging.WARNING, "", 0, "%s: %s", ("Gone", "/q/t0k/"), None
    )
    assert RedactPersonalData().filter(record)
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


def test_l6_search_terms_in_a_query_string_are_redacted():
    line = "GET /participants/?q=Rosalind+Quartermaine&status=active HTTP/1.1"
    assert redact(line) == (
        "GET /participants/?q=[redacted]&status=[redacted] HTTP/1.1"
    )


def test_l6_gunicorns_access_log_leaves_out_search_terms():
    environ = {
        "REQUEST_METHOD": "GET",
        "RAW_URI": "/participants/?q=rosalind.q%40example.org",
        "PATH_INFO": "/participants/",
        "QUERY_STRING": "q=rosalind.q%40example.org",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_REFERER": "https://portal.example.org/participants/?q=07911123456",
    }
    response = SimpleNamespace(status="200 OK", headers=[], sent=10)
    atoms = RedactingLogger(Config()).atoms(
        response, SimpleNamespace(headers=[]), environ, dt.timedelta(seconds=1)
    )
    logged = " ".join(str(value) for value in atoms.values())
    assert "rosalind" not in logged
    assert "07911123456" not in logged
    assert atoms["r"] == "GET /participants/?q=[redacted] HTTP/1.1"


def test_h1_email_addresses_and_phone_numbers_are_redacted():
    text = (
        "Text message printed, not sent: to +447700900223: LDS: your link "
        "https://portal.example.org/q/abc/ - or ring 07700 900223, "
        "write to jo.bloggs+study@example.co.uk"
    )
    redacted = redact(text)
    for secret in ("447700900223", "07700 900223", "jo.bloggs", "/q/abc"):
        assert secret not in redacted
    assert redacted.count("[redacted]") == 4


def test_h1_dates_times_and_counts_are_not_taken_for_phone_numbers():
    line = "2026-12-05 19:00:00,123 INFO celery Task done in 0.0123s: 1234567 rows"
    assert redact(line) == line


def test_h1_the_filter_redacts_what_arguments_format_into():
    record = logging.LogRecord(
        "participants.sms",
        logging.INFO,
        "",
        0,
        "to %s (%s)",
        (
            "+447700900223",
            447700900223,
        ),
        None,
    )
    assert RedactPersonalData().filter(record)
    assert "447700900223" not in record.getMessage()
