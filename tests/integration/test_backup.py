"""`make backup` and `make restore`: a dump restored into a fresh database holds
every response, answer for answer.

Runs the management commands as the Makefile does, in child processes against
two throwaway PostgreSQL databases that are dropped afterwards.
"""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.parse
import uuid
from pathlib import Path

import psycopg2
import pytest

from tests.services import require_env_url

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.integration


def with_database(url: str, name: str) -> str:
    return urllib.parse.urlparse(url)._replace(path=f"/{name}").geturl()


def connect(url: str):
    parsed = urllib.parse.urlparse(url)
    return psycopg2.connect(
        host=parsed.hostname or "127.0.0.1",
        port=parsed.port or 5432,
        user=urllib.parse.unquote(parsed.username or ""),
        password=urllib.parse.unquote(parsed.password or ""),
        dbname=urllib.parse.unquote(parsed.path.lstrip("/")),
        connect_timeout=10,
    )


def run_manage(url: str, *args: str) -> str:
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, f"manage.py {args[0]}:\n{result.stderr}"
    return result.stdout


def responses(url: str) -> list[tuple]:
    with connect(url) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT id, visit_id, instrument_version_id, status, answers, scores,"
            " submitted_at FROM instruments_response ORDER BY id"
        )
        rows = cur.fetchall()
    conn.close()
    return rows


@pytest.fixture
def throwaway_databases():
    url = require_env_url("DATABASE_URL")
    if urllib.parse.urlparse(url).scheme not in {"postgres", "postgresql", "pgsql"}:
        pytest.skip("backups are made with pg_dump; DATABASE_URL is not PostgreSQL")
    stem = f"studyportal_backup_{uuid.uuid4().hex[:10]}"
    names = [f"{stem}_source", f"{stem}_restored"]
    # The maintenance database: the one DATABASE_URL names may not exist yet.
    admin = connect(with_database(url, "postgres"))
    admin.autocommit = True
    try:
        with admin.cursor() as cur:
            for name in names:
                cur.execute(f'CREATE DATABASE "{name}"')
        yield [with_database(url, name) for name in names]
    finally:
        with admin.cursor() as cur:
            for name in names:
                cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def test_a_restored_backup_holds_every_response(throwaway_databases, tmp_path):
    source, restored = throwaway_databases
    run_manage(source, "migrate", "--noinput", "-v0")
    run_manage(source, "seed_demo")
    before = responses(source)
    submitted = [row for row in before if row[3] == "submitted"]
    assert len(submitted) >= 3, "the demo should have submitted responses to back up"

    dump = tmp_path / "studyportal.dump"
    run_manage(source, "backup", "--output", str(dump))
    assert dump.stat().st_size > 0
    assert not list(tmp_path.glob("*.partial"))
    run_manage(restored, "restore", str(dump), "--noinput")
    assert responses(restored) == before

    # Restoring again over a database that holds the data replaces it: no
    # duplicates and no leftovers.
    run_manage(restored, "restore", str(dump), "--noinput")
    assert responses(restored) == before
