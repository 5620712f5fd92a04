"""A real SMTP server on loopback and a real Celery worker process, for tests."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes
from email.policy import default as default_policy
from pathlib import Path

import pytest
import redis
from aiosmtpd.controller import Controller
from django.db import connection

from tests.services import redis_url, require_env_url

ROOT = Path(__file__).resolve().parents[2]
WORKER_SETTINGS = "tests.integration.smtp_worker_settings"


@dataclass(frozen=True)
class Received:
    recipients: tuple[str, ...]
    message_id: str
    subject: str
    at: float


@dataclass
class Mailbox:
    """An aiosmtpd handler keeping every message it accepted.

    ``hold_at`` makes it stall on that message (1-based) before answering DATA,
    which is where a sender waits for the server to take the message on: the
    test can stop the sender there, and the message was never accepted.
    """

    hold_at: int | None = None
    received: list[Received] = field(default_factory=list)
    held: list[Received] = field(default_factory=list)
    holding: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _seen: int = 0

    async def handle_DATA(self, server, session, envelope) -> str:
        parsed = message_from_bytes(envelope.original_content, policy=default_policy)
        item = Received(
            recipients=tuple(envelope.rcpt_tos),
            message_id=str(parsed["Message-ID"]),
            subject=str(parsed["Subject"]),
            at=time.time(),
        )
        with self._lock:
            self._seen += 1
            hold = self._seen == self.hold_at
        if hold:
            with self._lock:
                self.held.append(item)
            self.holding.set()
            # The sender is usually gone by the time this returns; the message
            # was never accepted, so it is not delivered.
            await asyncio.get_running_loop().run_in_executor(
                None, self.release.wait, 30
            )
            return "451 Requested action aborted: local error in processing"
        with self._lock:
            self.received.append(item)
        return "250 Message accepted for delivery"

    def count(self) -> int:
        with self._lock:
            return len(self.received)

    def messages(self) -> list[Received]:
        with self._lock:
            return list(self.received)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def smtp_server(mailbox: Mailbox) -> Iterator[str]:
    """Serve SMTP on loopback; yields the EMAIL_URL that reaches it."""
    port = free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield f"smtp://127.0.0.1:{port}"
    finally:
        mailbox.release.set()
        controller.stop()


def database_url(settings_dict: dict) -> str:
    """A postgres:// URL for the database this process is using (the test one)."""
    user = urllib.parse.quote(settings_dict.get("USER") or "", safe="")
    password = urllib.parse.quote(settings_dict.get("PASSWORD") or "", safe="")
    auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    host = settings_dict.get("HOST") or "127.0.0.1"
    port = f":{settings_dict['PORT']}" if settings_dict.get("PORT") else ""
    name = urllib.parse.quote(settings_dict["NAME"], safe="")
    return f"postgres://{auth}{host}{port}/{name}"


def require_shared_postgresql(reason: str) -> str:
    """The test database's URL, for another process; skips unless it is PostgreSQL."""
    require_env_url("DATABASE_URL")
    if connection.vendor != "postgresql":
        pytest.skip(reason)
    return database_url(connection.settings_dict)


def worker_services(redis_at: str | None = None) -> dict[str, str]:
    """REDIS_URL and DATABASE_URL for a worker sharing the test database.

    ``redis_at`` defaults to the shared Redis of REDIS_URL.
    """
    database = require_shared_postgresql(
        "the worker shares the test database, which needs PostgreSQL"
    )
    return {"REDIS_URL": redis_at or redis_url(), "DATABASE_URL": database}


class Worker:
    """``celery worker`` as a child process, logging to a file."""

    def __init__(self, env: dict[str, str], queue: str, log: Path) -> None:
        self.log = log
        command = [
            sys.executable, "-m", "celery", "-A", "studyportal", "worker",
            "--pool", "solo", "--queues", queue, "--loglevel", "info",
            "--without-gossip", "--without-mingle", "--without-heartbeat",
        ]  # fmt: skip
        self._log_file = log.open("a")
        self.process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=self._log_file, stderr=subprocess.STDOUT
        )

    def kill(self) -> None:
        """SIGKILL: no clean-up, no acknowledgement, as when a machine dies."""
        self.process.kill()
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log_file.close()

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def worker_env(**values: str) -> dict[str, str]:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": WORKER_SETTINGS, **values}
    return {key: value for key, value in env.items() if value != ""}


@contextmanager
def worker(env: dict[str, str], queue: str, log: Path) -> Iterator[Worker]:
    started = Worker(env, queue, log)
    try:
        yield started
    finally:
        started.stop()


def wait_until(
    condition: Callable[[], bool], *, timeout: float, message: Callable[[], str]
) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(message())
        time.sleep(0.05)


def forget_queue(url: str, queue: str) -> None:
    """Remove a test queue from Redis, with what a killed worker left unacknowledged.

    Kombu would otherwise hand those back, an hour later, to a queue nobody reads.
    """
    client = redis.Redis.from_url(url)
    client.delete(queue, f"_kombu.binding.{queue}", f"_kombu.binding_permanent.{queue}")
    for tag, payload in client.hscan_iter("unacked"):
        try:
            routing_key = json.loads(payload)[2]
        except (ValueError, IndexError, TypeError):
            continue
        if routing_key == queue:
            client.hdel("unacked", tag)
            client.zrem("unacked_index", tag)
