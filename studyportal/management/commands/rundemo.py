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
            name: subprocess.Popen(command, cwd=settings.BASE_DIR)
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
