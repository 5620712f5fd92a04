"""`make backup` and `make restore`: a dump restored into a fresh database holds
every response, answer for answer.

Runs the management commands as the Makefile does, in child processes against
two throwaway PostgreSQL databases that are dropped afterwards.
"""

from __future__ import annotations

import urllib.parse
import uuid

import pytest

from tests.integration.databases import connect, run_manage, with_database
from tests.services import require_env_url

pytestmark = pytest.mark.integration


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
