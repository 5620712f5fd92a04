"""Access to the real services some tests need.

A test that needs a service skips when the service is not configured (a laptop
without Redis), and fails when it is configured but unreachable. CI sets
STUDYPORTAL_REQUIRE_SERVICES=1, which turns every skip into a failure.
"""

from __future__ import annotations

import os
import socket
import urllib.parse

import pytest


def services_required() -> bool:
    return os.environ.get("STUDYPORTAL_REQUIRE_SERVICES", "") == "1"


def require_env_url(name: str) -> str:
    url = os.environ.get(name, "").strip()
    if not url:
        pytest.skip(f"{name} is not set; this test needs the real service")
    parsed = urllib.parse.urlparse(url)
    host, port = parsed.hostname or "127.0.0.1", parsed.port
    if port is not None:
        try:
            socket.create_connection((host, port), timeout=3).close()
        except OSError as exc:
            pytest.fail(f"{name} points at {host}:{port}, which is unreachable: {exc}")
    return url


def redis_url() -> str:
    return require_env_url("REDIS_URL")


def chromium_path() -> str:
    path = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
    if not os.path.exists(path):
        pytest.skip(f"Chromium not found at {path}; install Debian's chromium package")
    return path
