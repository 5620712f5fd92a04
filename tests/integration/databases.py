"""PostgreSQL for the integration tests: URLs, connections, manage.py in a child
process, and a private server that a test may restart."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.parse
from pathlib import Path

import psycopg2
import pytest

from tests.services import services_required

ROOT = Path(__file__).resolve().parents[2]


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


def server_binaries() -> Path:
    """The newest installed PostgreSQL's bin directory (Debian keeps them apart)."""
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"),
        key=lambda path: int(path.parent.parent.name),
    )
    if found:
        return found[-1].parent
    on_path = shutil.which("pg_ctl")
    if on_path:
        return Path(on_path).parent
    message = "PostgreSQL's server programs (pg_ctl, initdb) are not installed"
    if services_required():
        pytest.fail(message)
    pytest.skip(message)


class PrivatePostgreSQL:
    """A PostgreSQL server of its own on a free port, which a test may restart.

    The shared server serves the rest of the suite, so it is never the one
    restarted. Run as the ``postgres`` user when the tests run as root, since
    PostgreSQL refuses to run as root.
    """

    def __init__(self, port: int):
        self.port = port
        self.bin = server_binaries()
        self.folder = Path(tempfile.mkdtemp(prefix="studyportal-pg-"))
        self.data = self.folder / "data"
        self.log = self.folder / "server.log"
        self.as_postgres = os.geteuid() == 0
        if self.as_postgres:
            shutil.chown(self.folder, "postgres", "postgres")
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust")

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/studyportal"

    def _run(self, program: str, *args: str) -> None:
        command = [str(self.bin / program), *args]
        if self.as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=120)

    def _ctl(self, action: str, *args: str) -> None:
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1"
            f" -c unix_socket_directories={self.folder}"
        )
        self._run(
            "pg_ctl", action, "-D", str(self.data), "-l", str(self.log),
            "-o", options, "-w", "-t", "60", *args,
        )  # fmt: skip

    def start(self) -> None:
        self._ctl("start")

    def restart(self) -> None:
        """Stop (ending every session, as a crash or upgrade would) and start."""
        self._ctl("restart", "-m", "fast")

    def stop(self) -> None:
        self._ctl("stop", "-m", "immediate")

    def create_database(self) -> None:
        admin = connect(with_database(self.url, "postgres"))
        admin.autocommit = True
        with admin.cursor() as cursor:
            cursor.execute("CREATE DATABASE studyportal")
        admin.close()

    def remove(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):  # already stopped
            self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)
