"""Settings come from the environment, and a bad value stops start-up."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from studyportal import config

ROOT = Path(__file__).resolve().parents[2]
INHERITED = {"PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "VIRTUAL_ENV"}
PRODUCTION_ENV = {
    "DEBUG": "0",
    "SECRET_KEY": "k3y-" + "x7Qp9zL2" * 7,
    "CONTACT_ENCRYPTION_KEYS": "ZGVwbG95LWNoZWNrLWNvbnRhY3Qta2V5LW5vdC1zZWM=",
    "CONTACT_HASH_KEY": "deploy-check-contact-hash-key-" + "h4Sh" * 4,
    "ALLOWED_HOSTS": "studyportal.example.org",
    "DATABASE_URL": "sqlite:////tmp/studyportal-deploy-check.sqlite3",
    "REDIS_URL": "redis://127.0.0.1:6379/0",
    "EMAIL_URL": "smtp://mail.example.org:587",
    "SMS_BACKEND": "participants.sms.HttpBackend",
    "PUBLIC_BASE_URL": "https://studyportal.example.org",
}


def run_manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    # Only what a process needs to run: no setting leaks in from the test run.
    clean = {k: v for k, v in os.environ.items() if k in INHERITED}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_it_refuses_to_start_without_secret_key_when_debug_is_off():
    env = {**PRODUCTION_ENV, "SECRET_KEY": ""}
    result = run_manage("check", env=env)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "SECRET_KEY must be set" in result.stderr


def test_manage_py_runs_in_development_mode_with_nothing_set():
    # The checks run before every commit need no configuration at all.
    result = run_manage("makemigrations", "--check", "--dry-run", env={})
    assert result.returncode == 0, result.stderr
    assert "No changes detected" in result.stdout


def test_wsgi_application_stays_strict_with_nothing_set():
    clean = {k: v for k, v in os.environ.items() if k in INHERITED}
    result = subprocess.run(
        [sys.executable, "-c", "import studyportal.wsgi"],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_it_uses_a_development_key_only_with_debug():
    assert config.read_secret_key({}, debug=True) == config.DEV_SECRET_KEY
    with pytest.raises(ImproperlyConfigured):
        config.read_secret_key({}, debug=False)
    assert config.read_secret_key({"SECRET_KEY": "abc"}, debug=False) == "abc"


def test_check_deploy_is_clean_with_production_settings():
    result = run_manage(
        "check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION_ENV
    )
    assert result.returncode == 0, result.stderr + result.stdout
    assert "no issues" in result.stdout


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("DEBUG", "maybe", "not a yes/no value"),
        ("DATABASE_URL", "mysql://root@localhost/db", "must start with postgres"),
        ("DATABASE_URL", "nonsense", "DATABASE_URL"),
        ("REDIS_URL", "amqp://guest@localhost//", "must start with redis"),
        ("TIME_ZONE", "Mars/Olympus", "not an IANA time zone"),
        ("EMAIL_URL", "pigeon://coop", "EMAIL_URL"),
        ("CONN_MAX_AGE", "ten", "not a whole number"),
    ],
)
def test_bad_environment_values_raise_at_start_up(name, value, message):
    result = run_manage("check", env={**PRODUCTION_ENV, name: value})
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert message in result.stderr


def test_database_url_defaults_to_sqlite_under_var(tmp_path):
    database = config.read_database({}, default_sqlite=tmp_path / "db.sqlite3")
    assert database["ENGINE"] == "django.db.backends.sqlite3"
    assert database["NAME"] == str(tmp_path / "db.sqlite3")


def test_database_url_reads_postgres():
    database = config.read_database(
        {"DATABASE_URL": "postgres://postgres@127.0.0.1:5432/cohort"},
        default_sqlite=Path("unused"),
    )
    assert database["ENGINE"] == "django.db.backends.postgresql"
    assert database["NAME"] == "cohort"
    assert database["HOST"] == "127.0.0.1"


def test_broker_is_embedded_without_redis_url():
    assert config.read_broker_url({}) == "filesystem://"
    assert (
        config.read_broker_url({"REDIS_URL": "redis://h:6379/1"}) == "redis://h:6379/1"
    )


@pytest.mark.parametrize("word", ["1", "true", "Yes", "ON"])
def test_true_words(word):
    assert config.read_bool({"X": word}, "X", default=False) is True


@pytest.mark.parametrize("word", ["0", "false", "No", "off", ""])
def test_false_words(word):
    assert config.read_bool({"X": word}, "X", default=True) is False


def test_time_zone_defaults_to_london():
    assert config.read_time_zone({}) == "Europe/London"
    assert (
        config.read_time_zone({"TIME_ZONE": "Australia/Sydney"}) == "Australia/Sydney"
    )


def test_allowed_hosts_are_a_comma_separated_list():
    hosts = config.read_list({"H": "a.example, b.example ,"}, "H", default=[])
    assert hosts == ["a.example", "b.example"]


@pytest.mark.parametrize("name", ["SMS_BACKEND", "EMAIL_URL", "PUBLIC_BASE_URL"])
@pytest.mark.parametrize("how", ["unset", "empty"])
def test_h1_with_debug_off_messages_need_a_transport_and_an_address(name, how):
    env = {key: value for key, value in PRODUCTION_ENV.items() if key != name}
    if how == "empty":
        env[name] = ""
    result = run_manage("check", env=env)
    assert result.returncode != 0
    assert f"{name} must be set when DEBUG is off" in result.stderr


def test_h1_the_demo_keeps_console_backends_that_log_and_send_nothing():
    assert config.read_sms_backend({}, debug=True) == config.CONSOLE_SMS_BACKEND
    email = config.read_email({}, debug=True)
    assert email["EMAIL_BACKEND"] == config.CONSOLE_EMAIL_BACKEND
    # Asked for by name, the console mail scheme logs redacted, as in the demo.
    named = config.read_email({"EMAIL_URL": "consolemail://"}, debug=False)
    assert named["EMAIL_BACKEND"] == config.CONSOLE_EMAIL_BACKEND


def test_i2_public_base_url_must_be_a_web_address():
    with pytest.raises(ImproperlyConfigured, match="PUBLIC_BASE_URL"):
        config.read_public_base_url({"PUBLIC_BASE_URL": "portal.org"}, debug=True)
    assert (
        config.read_public_base_url({"PUBLIC_BASE_URL": "https://a.org/"}, debug=False)
        == "https://a.org"
    )
