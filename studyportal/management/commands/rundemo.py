import os
import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = (
        "Run the web server, a Celery worker and Celery beat together; "
        "Ctrl-C stops all three."
    )

    def add_arguments(self, parser):
        parser.add_argument("addrport", nargs="?", default="127.0.0.1:8000")

    def handle(self, *args, addrport: str, **options):
        env = os.environ.copy()
        if not (env.get("PUBLIC_BASE_URL") or "").strip():
            # Links in messages and letters must reach the server just started.
            env["PUBLIC_BASE_URL"] = public_base_url(addrport)
        self.stdout.write(f"Links to participants start with {env['PUBLIC_BASE_URL']}")
        celery = [sys.executable, "-m", "celery", "-A", "studyportal"]
        commands = {
            "web": [sys.executable, "manage.py", "runserver", "--noreload", addrport],
            "worker": [*celery, "worker", "--loglevel", "info", "--concurrency", "2"],
            "beat": [
                *celery,
                "beat",
                "--loglevel",
                "info",
                "--schedule",
                settings.CELERY_BEAT_SCHEDULE_FILENAME,
            ],
        }
        processes = {
            name: subprocess.Popen(command, cwd=settings.BASE_DIR, env=env)
            for name, command in commands.items()
        }
        stopping = False

        def stop(signum, frame):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        exited = None
        while not stopping and exited is None:
            time.sleep(0.5)
            if not stopping:
                exited = next(
                    (name for name, p in processes.items() if p.poll() is not None),
                    None,
                )
        if exited:
            self.stderr.write(f"The {exited} process stopped; stopping the others.")
        for process in processes.values():
            if process.poll() is None:
                process.terminate()
        deadline = time.monotonic() + 15
        for process in processes.values():
            try:
                process.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                process.kill()
        if exited and not stopping:
            sys.exit(1)


def public_base_url(addrport: str) -> str:
    """The address a browser on this machine reaches ``runserver ADDR:PORT`` at."""
    host, _, port = addrport.rpartition(":")
    if not port.isascii() or not port.isdigit():
        host, port = addrport, "8000"
    host = host.strip("[]")
    if host in ("", "0.0.0.0", "::"):
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"
