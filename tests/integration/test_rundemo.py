"""`make demo`'s last step: web, worker and beat start together and stop together."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_health(url: str, process: subprocess.Popen, seconds: float) -> dict:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"rundemo exited early with {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return json.load(response)
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"{url} did not answer within {seconds} seconds")


@pytest.mark.integration
def test_demo_serves_pages_and_ctrl_c_stops_everything(tmp_path):
    env = {
        key: value
        for key, value in os.environ.items()
        if key
        not in {
            "DATABASE_URL",
            "REDIS_URL",
            "DJANGO_SETTINGS_MODULE",
            # As a fresh shell has them: the demo's own defaults.
            "EMAIL_URL",
            "SMS_BACKEND",
            "PUBLIC_BASE_URL",
        }
    }
    env.update(DEBUG="1", STUDYPORTAL_VAR_DIR=str(tmp_path))
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    subprocess.run([*manage, "seed_demo"], cwd=ROOT, env=env, check=True)
    port = free_port()
    demo = subprocess.Popen(
        [*manage, "rundemo", f"127.0.0.1:{port}"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        health = wait_for_health(f"http://127.0.0.1:{port}/healthz", demo, 60)
        assert health == {"database": "ok", "broker": "ok"}
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/accounts/login/") as page:
            assert b"Log in" in page.read()
        children = subprocess.run(
            ["pgrep", "-P", str(demo.pid)], capture_output=True, text=True
        ).stdout.split()
        assert len(children) == 3
        demo.send_signal(signal.SIGINT)
        demo.wait(timeout=30)
    finally:
        if demo.poll() is None:
            demo.kill()
    output = demo.stdout.read()
    assert demo.returncode == 0, output
    # I-2: links in messages reach the server just started, on its own port.
    assert f"Links to participants start with http://127.0.0.1:{port}\n" in output
    for pid in children:
        assert not Path(f"/proc/{pid}").exists() or _is_zombie(pid), output


def _is_zombie(pid: str) -> bool:
    try:
        return " Z " in Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
