"""The README's configuration table, the settings and docker-compose.yml agree.

H-1: a compose deployment could not switch SMS_BACKEND or PUBLIC_BASE_URL
because compose passed an explicit list of variables without them. Here every
variable the settings read must be in the README's table, and every variable
in the table must reach the web server, the worker and beat as the user set it
in `.env` (or be one compose fixes on purpose).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
APP_SERVICES = ("web", "worker", "beat")
# What compose sets itself, whatever .env says.
FIXED_BY_COMPOSE = {
    "DEBUG": "0",
    "DATABASE_URL": "postgres://studyportal:value-of-POSTGRES_PASSWORD@postgres:5432/studyportal",
    "REDIS_URL": "redis://redis:6379/0",
    "STUDYPORTAL_VAR_DIR": "/srv/var",
}
# Read by the settings, but not configuration a deployment chooses.
NOT_CONFIGURATION = {"DJANGO_SETTINGS_MODULE"}


def readme_variables() -> set[str]:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    names = set()
    for line in section.splitlines():
        if line.startswith("| `"):
            first_cell = line.split("|")[1]
            names.update(re.findall(r"`([A-Z][A-Z0-9_]+)`", first_cell))
    return names


# Records the variables that StudyPortal's own code reads (libraries such as
# Celery read many of their own, which are not StudyPortal's configuration).
RECORD_READS = """
import json, os, sys

def ours():
    frame = sys._getframe(2)
    if frame.f_globals.get("__name__") == "os":  # os.getenv
        frame = frame.f_back
    return frame.f_globals.get("__name__", "").startswith("studyportal")

class Recording(dict):
    seen = set()
    def __getitem__(self, key):
        if ours():
            self.seen.add(key)
        return super().__getitem__(key)
    def get(self, key, default=None):
        if ours():
            self.seen.add(key)
        return super().get(key, default)
    def __contains__(self, key):
        if ours():
            self.seen.add(key)
        return super().__contains__(key)

os.environ = Recording(os.environ)
import studyportal.settings  # noqa
import studyportal.celery  # noqa
print(json.dumps(sorted(os.environ.seen)))
"""


def variables_the_settings_read() -> set[str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key in {"PATH", "HOME", "LANG", "VIRTUAL_ENV"}
    }
    result = subprocess.run(
        [sys.executable, "-c", RECORD_READS],
        cwd=ROOT,
        env={**env, "DEBUG": "1"},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return set(json.loads(result.stdout.strip().splitlines()[-1]))


_REFERENCE = re.compile(r"\$\$|\$\{([A-Z0-9_]+)(?:(:?[-?])([^}]*))?\}")


def interpolate(value: str, dot_env: dict[str, str]) -> str:
    """Compose's ${NAME}, ${NAME:-default}, ${NAME-default} and ${NAME:?error}."""

    def one(match: re.Match) -> str:
        if match.group(0) == "$$":
            return "$"
        name, how, word = match.groups()
        given = dot_env.get(name)
        if how in (":-", ":?") and not given or how in ("-", "?") and given is None:
            assert not how.endswith("?"), f"compose would stop: {word}"
            return word
        return given or ""

    return _REFERENCE.sub(one, value)


def container_environment(service: dict, dot_env: dict[str, str]) -> dict[str, str]:
    """What a container of ``service`` gets: the env_file, then ``environment``."""
    files = service.get("env_file", [])
    files = [files] if isinstance(files, str) else files
    assert ".env" in files, "the service does not read .env"
    merged = dict(dot_env)
    for name, value in (service.get("environment") or {}).items():
        merged[name] = interpolate(str(value), dot_env)
    return merged


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_every_variable_the_settings_read_is_in_the_readme():
    missing = variables_the_settings_read() - readme_variables() - NOT_CONFIGURATION
    assert not missing, f"read by the settings, not in README's table: {missing}"


def test_h1_every_documented_variable_reaches_web_worker_and_beat():
    documented = readme_variables() | {"POSTGRES_PASSWORD"}
    dot_env = {name: f"value-of-{name}" for name in documented}
    services = compose()["services"]
    for name in APP_SERVICES:
        got = container_environment(services[name], dot_env)
        for variable in readme_variables():
            expected = FIXED_BY_COMPOSE.get(variable, f"value-of-{variable}")
            assert got.get(variable) == expected, f"{variable} in {name}"


def test_h1_compose_stops_without_the_variables_production_needs():
    dot_env = {name: f"value-of-{name}" for name in readme_variables()}
    dot_env["POSTGRES_PASSWORD"] = "secret"
    web = compose()["services"]["web"]
    for required in ("SMS_BACKEND", "EMAIL_URL", "PUBLIC_BASE_URL", "SECRET_KEY"):
        without = {k: v for k, v in dot_env.items() if k != required}
        try:
            container_environment(web, without)
        except AssertionError as stop:
            assert required in str(stop)
        else:
            raise AssertionError(f"compose would start without {required}")


def test_m4_the_app_port_is_published_on_this_machine_only():
    ports = compose()["services"]["web"]["ports"]
    assert [interpolate(port, {}) for port in ports] == ["127.0.0.1:8000:8000"]
    for name, service in compose()["services"].items():
        if name != "web":
            assert "ports" not in service, name


def test_the_image_builds_its_static_files_with_the_build_only_settings():
    dockerfile = (ROOT / "Dockerfile").read_text()
    step = dockerfile.split("RUN pip install .", 1)[1].split("collectstatic", 1)[0]
    env = dict(re.findall(r"([A-Z_]+)=(\S+)", step))
    assert env["DEBUG"] == "0"
    keep = {k: v for k, v in os.environ.items() if k in {"PATH", "HOME", "LANG"}}
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env={**keep, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr


def test_the_image_holds_every_folder_the_application_reads():
    dockerfile = (ROOT / "Dockerfile").read_text()
    copied = set(re.findall(r"^COPY (\S+) ", dockerfile, re.MULTILINE))
    needed = {"studyportal", "participants", "instruments", "analysis"}
    # Read at run time: templates, static files, and the shipped study protocols.
    needed |= {"templates", "static", "studies", "manage.py"}
    assert needed <= copied, needed - copied
