"""Security headers on every response, and pages that need no inline code."""

import re
from pathlib import Path

import pytest
from django.urls import reverse

from studyportal import config
from tests.factories import coordinator
from tests.studyportal.test_settings_env import PRODUCTION_ENV, run_manage

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
# Messages to participants are e-mail, which mail clients style only inline; no
# browser loads them from the site, so the site's policy does not apply.
EMAIL_TEMPLATES = TEMPLATES / "participants" / "messages"
INLINE_CODE = re.compile(
    r"<script(?![^>]*\bsrc=)[^>]*>"  # a script element with no src
    r"|\son[a-z]+\s*="  # an event handler attribute
    r"|\sstyle\s*="  # a style attribute
    r"|javascript:",
    re.IGNORECASE,
)
# The standalone HTML codebook carries its style inline, allowed by hash.
INLINE_STYLE_ALLOWED = {TEMPLATES / "analysis" / "codebook.html"}


@pytest.fixture
def staff_client(client, study):
    client.force_login(coordinator(study))
    return client


def assert_secure_headers(response) -> None:
    policy = response["Content-Security-Policy"]
    assert "default-src 'self'" in policy
    assert "script-src 'self'" in policy
    assert "style-src 'self'" in policy
    assert "object-src 'none'" in policy
    assert "frame-ancestors 'none'" in policy
    assert "unsafe-inline" not in policy
    assert "unsafe-eval" not in policy
    assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize(
    "path", ["/accounts/login/", "/healthz", "/q/no-such-link/", "/no-such-page/"]
)
def test_it_sends_the_headers_to_anonymous_visitors(client, db, path):
    assert_secure_headers(client.get(path))


@pytest.mark.parametrize("name", ["home", "participants:list", "retention:dashboard"])
def test_it_sends_the_headers_on_staff_pages(staff_client, name):
    response = staff_client.get(reverse(name))
    assert response.status_code == 200
    assert_secure_headers(response)


def test_the_session_and_csrf_cookies_are_httponly(client, db):
    client.get("/accounts/login/")
    assert client.cookies["csrftoken"]["httponly"]
    from django.conf import settings

    assert settings.SESSION_COOKIE_HTTPONLY


def test_no_template_holds_inline_script_handlers_or_styles():
    offenders = []
    for path in sorted(TEMPLATES.rglob("*.html")):
        if EMAIL_TEMPLATES in path.parents:
            continue
        text = path.read_text(encoding="utf-8")
        for match in INLINE_CODE.finditer(text):
            offenders.append(f"{path.relative_to(TEMPLATES)}: {match.group(0)}")
        if "<style" in text and path not in INLINE_STYLE_ALLOWED:
            offenders.append(f"{path.relative_to(TEMPLATES)}: <style>")
    assert not offenders, "\n".join(offenders)


def last_line(result) -> str:
    # The shell first says how many models it imported.
    return result.stdout.strip().splitlines()[-1]


def test_check_deploy_is_clean_with_production_environment():
    result = run_manage(
        "check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION_ENV
    )
    assert result.returncode == 0, result.stderr + result.stdout


def test_production_settings_make_cookies_secure_and_send_hsts():
    code = (
        "from django.conf import settings as s; "
        "print(s.SECURE_HSTS_SECONDS, s.SECURE_HSTS_INCLUDE_SUBDOMAINS, "
        "s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SECURE_SSL_REDIRECT, "
        "s.SECURE_PROXY_SSL_HEADER)"
    )
    result = run_manage("shell", "-c", code, env=PRODUCTION_ENV)
    assert result.returncode == 0, result.stderr
    assert last_line(result) == (
        "31536000 True True True True ('HTTP_X_FORWARDED_PROTO', 'https')"
    )


def test_hsts_and_ssl_redirect_come_from_the_environment():
    env = {
        **PRODUCTION_ENV,
        "SECURE_HSTS_SECONDS": "600",
        "SECURE_SSL_REDIRECT": "0",
        "SECURE_PROXY_SSL_HEADER": "X-Forwarded-Scheme: https",
    }
    code = (
        "from django.conf import settings as s; "
        "print(s.SECURE_HSTS_SECONDS, s.SECURE_SSL_REDIRECT, s.SECURE_PROXY_SSL_HEADER)"
    )
    result = run_manage("shell", "-c", code, env=env)
    assert result.returncode == 0, result.stderr
    assert last_line(result) == "600 False ('HTTP_X_FORWARDED_SCHEME', 'https')"


def test_development_sends_no_hsts():
    code = "from django.conf import settings as s; print(s.SECURE_HSTS_SECONDS)"
    result = run_manage("shell", "-c", code, env={"DEBUG": "1"})
    assert result.returncode == 0, result.stderr
    assert last_line(result) == "0"


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("X-Forwarded-Proto: https", ("HTTP_X_FORWARDED_PROTO", "https")),
        ("", None),
    ],
)
def test_the_proxy_header_is_read_from_the_environment(raw, expected):
    assert config.read_proxy_ssl_header({"SECURE_PROXY_SSL_HEADER": raw}) == expected


def test_a_malformed_proxy_header_stops_start_up():
    from django.core.exceptions import ImproperlyConfigured

    with pytest.raises(ImproperlyConfigured, match="Header-Name: value"):
        config.read_proxy_ssl_header({"SECURE_PROXY_SSL_HEADER": "https"})
