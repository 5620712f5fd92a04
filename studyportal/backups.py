"""Backups of the PostgreSQL database with pg_dump and pg_restore.

The connection comes from the Django settings (DATABASE_URL), parsed once by
``config.read_database``; the password goes to the tools in PGPASSWORD, never on
a command line where other users of the machine could read it.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
from pathlib import Path

from django.utils import timezone

POSTGRESQL = "django.db.backends.postgresql"


class BackupError(Exception):
    pass


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise BackupError(
            f"{name} was not found; install the PostgreSQL client tools "
            "(Debian: apt-get install postgresql-client) matching the server version."
        )
    return found


def _connection(database: dict) -> tuple[list[str], dict[str, str]]:
    """Command-line options and environment that reach ``database``."""
    if database.get("ENGINE") != POSTGRESQL:
        raise BackupError(
            "Backups need PostgreSQL; DATABASE_URL points at "
            f"{database.get('ENGINE')!r}. Copy the SQLite file instead."
        )
    options = ["--dbname", database["NAME"]]
    if database.get("HOST"):
        options += ["--host", str(database["HOST"])]
    if database.get("PORT"):
        options += ["--port", str(database["PORT"])]
    if database.get("USER"):
        options += ["--username", str(database["USER"])]
    env = {**os.environ, "PGCONNECT_TIMEOUT": "10"}
    if database.get("PASSWORD"):
        env["PGPASSWORD"] = str(database["PASSWORD"])
    return options, env


def _run(command: list[str], env: dict[str, str]) -> None:
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise BackupError(
            f"{Path(command[0]).name} failed ({result.returncode}): "
            f"{result.stderr.strip()}"
        )


def default_backup_path(folder: Path, *, now: dt.datetime | None = None) -> Path:
    stamp = (now or timezone.now()).strftime("%Y%m%dT%H%M%SZ")
    return folder / f"{stamp}.dump"


def backup_database(*, database: dict, path: Path) -> Path:
    """Dump ``database`` in pg_dump's custom format to ``path``; return the path."""
    options, env = _connection(database)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Written beside the target and renamed, so a failed dump leaves no half file
    # that looks like a backup.
    partial = path.with_name(path.name + ".partial")
    try:
        _run(
            [_tool("pg_dump"), "--format=custom", "--file", str(partial), *options],
            env,
        )
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)
    return path


def restore_database(*, database: dict, path: Path) -> None:
    """Replace the contents of ``database`` with the dump at ``path``."""
    if not path.is_file():
        raise BackupError(f"No backup at {path}.")
    options, env = _connection(database)
    _run(
        [
            _tool("pg_restore"),
            "--clean",
            "--if-exists",
            "--no-owner",
            "--no-privileges",
            "--exit-on-error",
            "--single-transaction",
            *options,
            str(path),
        ],
        env,
    )
