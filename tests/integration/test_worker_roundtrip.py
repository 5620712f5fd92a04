"""A task goes through a real broker to a real worker process and back."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.services import redis_url

ROOT = Path(__file__).resolve().parents[2]


@contextmanager
def celery_worker(env: dict[str, str], queue: str) -> Iterator[subprocess.Popen]:
    command = [
        sys.executable, "-m", "celery", "-A", "studyportal", "worker",
        "--pool", "solo", "--queues", queue, "--loglevel", "info",
        "--without-gossip", "--without-mingle", "--without-heartbeat",
    ]  # fmt: skip
    worker = subprocess.Popen(
        command,
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        yield worker
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()


def worker_env(**overrides: str) -> dict[str, str]:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", **overrides}
    return {key: value for key, value in env.items() if value != ""}


def round_trip(app, queue: str, worker: subprocess.Popen) -> str:
    token = uuid.uuid4().hex
    result = app.send_task("studyportal.tasks.ping", args=[token], queue=queue)
    try:
        answer = result.get(timeout=60)
    except Exception:
        worker.terminate()
        output = worker.communicate(timeout=20)[0]
        pytest.fail(f"no answer from the worker; its output was:\n{output}")
    assert answer == token
    return answer


@pytest.mark.integration
def test_ping_round_trip_through_redis():
    from studyportal.celery import app

    url = redis_url()
    queue = f"test-{uuid.uuid4().hex[:8]}"
    with celery_worker(worker_env(REDIS_URL=url), queue) as worker:
        round_trip(app, queue, worker)


@pytest.mark.integration
def test_ping_round_trip_through_the_embedded_transport(tmp_path):
    """The demo's broker: kombu's filesystem transport, with no server at all."""
    from celery import Celery

    var_dir = tmp_path / "var"
    env = worker_env(STUDYPORTAL_VAR_DIR=str(var_dir), REDIS_URL="")
    env.pop("REDIS_URL", None)
    queue = "embedded"
    client = Celery("embedded-client")
    client.conf.update(
        broker_url="filesystem://",
        broker_transport_options={
            "data_folder_in": str(var_dir / "celery" / "queue"),
            "data_folder_out": str(var_dir / "celery" / "queue"),
            "control_folder": str(var_dir / "celery" / "control"),
        },
        result_backend=f"file://{var_dir / 'celery' / 'results'}",
        task_serializer="json",
        accept_content=["json"],
    )
    for folder in ("queue", "control", "results"):
        (var_dir / "celery" / folder).mkdir(parents=True, exist_ok=True)
    with celery_worker(env, queue) as worker:
        round_trip(client, queue, worker)
