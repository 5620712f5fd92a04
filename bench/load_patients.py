"""Simulated patients completing the baseline questionnaire against gunicorn.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/studyportal_bench \
        REDIS_URL=redis://127.0.0.1:6379/0 \
        .venv/bin/python bench/load_patients.py [--patients 200] [--workers 4]

An equivalent of a locust run with no extra dependency: on a throwaway PostgreSQL
database it enrols ``--patients`` participants in the reference study, issues each
a questionnaire link, starts gunicorn (gthread, production settings with DEBUG off)
on a free port and runs one thread per patient. Each patient opens the welcome
page, gets and posts every page in order, reviews and submits, pausing 1 to 3
seconds between pages. Prints throughput, median and 95th percentile latency per
kind of request and the error rate, then checks in the database that every
patient who finished has a submitted visit. Exits non-zero on any error or lost
submission.
"""

from __future__ import annotations

import argparse
import http.client
import os
import random
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode, urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))

from django.db import connection  # noqa: E402
from support import throwaway_database  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
KINDS = ("welcome", "page GET", "page POST", "review", "submit", "done")
# The questionnaire pages the issue's 300 ms target is about.
QUESTIONNAIRE_KINDS = ("page GET", "page POST", "review", "submit")
CSRF_FIELD = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


@dataclass
class Sample:
    kind: str
    status: int
    ms: float
    error: str = ""


@dataclass
class Patient:
    """One person's browser: a cookie jar and plain HTTP/1.1 requests."""

    port: int
    token: str
    samples: list[Sample] = field(default_factory=list)
    cookies: dict[str, str] = field(default_factory=dict)
    finished: bool = False

    def request(
        self, kind: str, method: str, path: str, form: dict | None = None
    ) -> tuple[int, dict[str, str], str]:
        headers = {"Host": f"127.0.0.1:{self.port}", "User-Agent": "load_patients"}
        body = None
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if form is not None:
            body = urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        # A new connection per request: gunicorn's keep-alive (2 s) is shorter
        # than the pause between pages, as it would be for a person.
        start = time.perf_counter()
        try:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            text = response.read().decode()
            status = response.status
            reply = {k.lower(): v for k, v in response.getheaders()}
            for name, value in response.getheaders():
                if name.lower() == "set-cookie":
                    pair = value.split(";", 1)[0]
                    key, _, val = pair.partition("=")
                    self.cookies[key.strip()] = val.strip()
            conn.close()
        except (OSError, http.client.HTTPException) as exc:
            ms = (time.perf_counter() - start) * 1000
            self.samples.append(Sample(kind, 0, ms, f"{type(exc).__name__}: {exc}"))
            raise
        ms = (time.perf_counter() - start) * 1000
        self.samples.append(Sample(kind, status, ms))
        return status, reply, text

    def expect(self, kind, status, wanted, reply, text) -> None:
        if status != wanted:
            self.samples[-1].error = f"{kind}: HTTP {status}, expected {wanted}"
            raise RuntimeError(self.samples[-1].error)


def pause() -> None:
    time.sleep(random.uniform(1.0, 3.0))


def journey(patient: Patient, answers: dict[int, dict], delay: float) -> None:
    time.sleep(delay)
    base = f"/q/{patient.token}/"
    try:
        status, reply, text = patient.request("welcome", "GET", base)
        patient.expect("welcome", status, 200, reply, text)
        number = 1
        while True:
            pause()
            path = f"{base}{number}/"
            status, reply, text = patient.request("page GET", "GET", path)
            patient.expect("page GET", status, 200, reply, text)
            csrf = CSRF_FIELD.search(text)
            pause()
            form = {
                **answers[number],
                "go": "next",
                "csrfmiddlewaretoken": csrf.group(1) if csrf else "",
            }
            status, reply, text = patient.request("page POST", "POST", path, form)
            patient.expect("page POST", status, 302, reply, text)
            after = urlsplit(reply["location"]).path
            if after == f"{base}review/":
                break
            number += 1
        pause()
        status, reply, text = patient.request("review", "GET", f"{base}review/")
        patient.expect("review", status, 200, reply, text)
        csrf = CSRF_FIELD.search(text)
        pause()
        form = {"csrfmiddlewaretoken": csrf.group(1) if csrf else ""}
        status, reply, text = patient.request("submit", "POST", f"{base}review/", form)
        patient.expect("submit", status, 302, reply, text)
        status, reply, text = patient.request("done", "GET", f"{base}done/")
        patient.expect("done", status, 200, reply, text)
        patient.finished = True
    except Exception as exc:  # recorded as a sample; the patient stops, as one would
        if not patient.samples or not patient.samples[-1].error:
            patient.samples.append(Sample("journey", 0, 0.0, repr(exc)))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def database_url() -> str:
    settings = connection.settings_dict
    return (
        f"postgres://{settings['USER']}@{settings['HOST'] or '127.0.0.1'}:"
        f"{settings['PORT'] or 5432}/{settings['NAME']}"
    )


def start_gunicorn(port: int, workers: int, threads: int, scratch: Path):
    log = scratch / "gunicorn.log"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "studyportal.settings",
        "DATABASE_URL": database_url(),
        "DEBUG": "0",
        "SECRET_KEY": "load-benchmark-secret-key-not-for-any-deployment-0123456",
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "0",
        "LOG_LEVEL": "WARNING",
        # Static files collected into the scratch directory, as the image does.
        "STUDYPORTAL_VAR_DIR": str(scratch),
    }
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"],
        cwd=ROOT,
        env=env,
        check=True,
    )
    command = [
        str(Path(sys.executable).with_name("gunicorn")),
        "studyportal.wsgi:application",
        f"--bind=127.0.0.1:{port}",
        f"--workers={workers}",
        f"--threads={threads}",
        "--worker-class=gthread",
        "--log-level=warning",
    ]
    handle = log.open("w")
    server = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"gunicorn exited:\n{log.read_text()}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/healthz", headers={"Host": f"127.0.0.1:{port}"})
            if conn.getresponse().status < 500:
                return server
        except OSError:
            time.sleep(0.2)
    server.terminate()
    raise SystemExit(f"gunicorn did not answer in 30 s:\n{log.read_text()}")


def seed(count: int) -> list[str]:
    from participants import links
    from studyportal import demo
    from tests.questionnaire.conftest import enrol_participant

    study = demo.seed_reference_study()
    demo.seed_reference_protocol(study)
    tokens = []
    for i in range(count):
        participant = enrol_participant(
            study, name=f"Load Patient{i}", email=f"load{i}@example.invalid"
        )
        tokens.append(
            links.issue_token(participant.visits.get(timepoint__code="baseline"))
        )
    return tokens


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[int(share * (len(ordered) - 1))]


def report(patients: list[Patient], seconds: float) -> tuple[int, float]:
    samples = [s for p in patients for s in p.samples]
    errors = [s for s in samples if s.error]
    print(f"\n{len(samples)} requests in {seconds:.1f} s: "
          f"{len(samples) / seconds:.1f} requests/s")  # fmt: skip
    print(f"{'':19} {'requests':>9} {'median ms':>10} {'p95 ms':>8} "
          f"{'max ms':>8} {'errors':>7}")  # fmt: skip
    for kind in (*KINDS, "questionnaire pages"):
        kinds = QUESTIONNAIRE_KINDS if kind == "questionnaire pages" else (kind,)
        chosen = [s for s in samples if s.kind in kinds and s.status]
        if not chosen:
            continue
        ms = [s.ms for s in chosen]
        failed = sum(1 for s in samples if s.kind in kinds and s.error)
        print(
            f"{kind:19} {len(chosen):9} {statistics.median(ms):10.1f} "
            f"{percentile(ms, 0.95):8.1f} {max(ms):8.1f} {failed:7}"
        )
    rate = len(errors) / max(len(samples), 1)
    print(f"error rate: {len(errors)}/{len(samples)} = {rate:.2%}")
    for error in errors[:10]:
        print(f"  {error.kind}: {error.error}")
    return len(errors), percentile(  # nan when nothing was answered
        [s.ms for s in samples if s.kind in QUESTIONNAIRE_KINDS and s.status], 0.95
    )


def lost_submissions(patients: list[Patient]) -> int:
    from instruments import questionnaire
    from instruments.models import ResponseStatus
    from participants import links
    from participants.models import VisitStatus

    finished = [p for p in patients if p.finished]
    lost = 0
    for patient in finished:
        visit = links.visit_for_token(patient.token)
        instruments = {page.instrument.pk for page in questionnaire.pages_for(visit)}
        submitted = set(
            visit.responses.filter(
                status=ResponseStatus.SUBMITTED, instrument__in=instruments
            ).values_list("instrument", flat=True)
        )
        if visit.status != VisitStatus.COMPLETED or submitted != instruments:
            lost += 1
    from participants.models import Visit

    completed = Visit.objects.filter(
        timepoint__code="baseline", status=VisitStatus.COMPLETED
    ).count()
    print(
        f"finished patients: {len(finished)}/{len(patients)}; completed baseline "
        f"visits in the database: {completed}; lost submissions: {lost}"
    )
    return lost + abs(completed - len(finished))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--patients", type=int, default=200)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument(
        "--ramp", type=float, default=10.0, help="seconds over which patients arrive"
    )
    parser.add_argument("--seed", type=int, default=1)
    options = parser.parse_args()
    random.seed(options.seed)

    with throwaway_database():
        from tests.questionnaire.conftest import complete_answers

        started = time.perf_counter()
        tokens = seed(options.patients)
        print(f"seeded {len(tokens)} participants in "
              f"{time.perf_counter() - started:.1f} s")  # fmt: skip
        connection.close()
        port = free_port()
        with tempfile.TemporaryDirectory() as scratch:
            log = Path(scratch) / "gunicorn.log"
            server = start_gunicorn(
                port, options.workers, options.threads, Path(scratch)
            )
            try:
                patients = [Patient(port, token) for token in tokens]
                answers = complete_answers()
                threads = [
                    threading.Thread(
                        target=journey,
                        args=(p, answers, random.uniform(0, options.ramp)),
                    )
                    for p in patients
                ]
                print(
                    f"{len(patients)} patients against gunicorn "
                    f"({options.workers} workers x {options.threads} threads, "
                    f"{os.cpu_count()} cores), arriving over {options.ramp:.0f} s"
                )
                started = time.perf_counter()
                for thread in threads:
                    thread.start()
                for thread in threads:
                    thread.join()
                seconds = time.perf_counter() - started
            finally:
                server.terminate()
                server.wait(timeout=30)
                server_log = log.read_text()
        errors, p95 = report(patients, seconds)
        if server_log.strip():
            print("gunicorn log (last lines):")
            print("\n".join(server_log.strip().splitlines()[-15:]))
        lost = lost_submissions(patients)
        connection.close()
    print(
        f"target (0 errors, 0 lost, questionnaire p95 < 300 ms): "
        f"{'met' if not errors and not lost and p95 < 300 else 'NOT met'}"
    )
    sys.exit(1 if errors or lost else 0)


if __name__ == "__main__":
    main()
