"""Simulated patients completing the baseline questionnaire against gunicorn.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/studyportal_bench \
        REDIS_URL=redis://127.0.0.1:6379/0 \
        .venv/bin/python bench/load_patients.py [--patients 200] [--workers 4]

An equivalent of a locust run with no extra dependency: on a throwaway PostgreSQL
database it enrols ``--patients`` participants in the reference study, issues each
a questionnaire link, starts gunicorn (gthread, production settings with DEBUG off)
on a free port, warms each worker, and runs one asyncio task per patient. Each
patient opens the welcome page, gets and posts every page in order, reviews and
submits, pausing 1 to 3 seconds between pages. Prints throughput, median and 95th
percentile latency per kind of request as the patients saw it and as gunicorn
spent it, and the error rate, then checks in the database that every patient who
finished has a submitted visit. Exits non-zero on any error or lost submission.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import os
import random
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode, urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))

from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402
from support import throwaway_database  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
KINDS = ("welcome", "page GET", "page POST", "review", "submit", "done")
# The questionnaire pages the issue's 300 ms target is about.
QUESTIONNAIRE_KINDS = ("page GET", "page POST", "review", "submit")
ACCESS_LOG = "access.log"
CSRF_FIELD = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


@dataclass
class Sample:
    kind: str
    status: int
    ms: float
    error: str = ""


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    text: str


@dataclass
class Patient:
    """One person's browser: a cookie jar and plain HTTP/1.1 requests.

    Requests are made with asyncio streams, so the 200 browsers cost the machine
    one thread: the client takes as little CPU as it can from the server it
    measures, which shares the same cores.
    """

    port: int
    token: str
    samples: list[Sample] = field(default_factory=list)
    cookies: dict[str, str] = field(default_factory=dict)
    finished: bool = False

    async def request(
        self, kind: str, method: str, path: str, form: dict | None = None
    ) -> Reply:
        body = urlencode(form).encode() if form is not None else b""
        lines = [
            f"{method} {path} HTTP/1.1",
            f"Host: 127.0.0.1:{self.port}",
            "User-Agent: load_patients",
            # A new connection per request: gunicorn's keep-alive (2 s) is shorter
            # than the pause between pages, as it would be for a person.
            "Connection: close",
        ]
        if self.cookies:
            cookies = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
            lines.append(f"Cookie: {cookies}")
        if form is not None:
            lines.append("Content-Type: application/x-www-form-urlencoded")
            lines.append(f"Content-Length: {len(body)}")
        start = time.perf_counter()
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection("127.0.0.1", self.port), timeout=60
            )
            writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
            raw = await asyncio.wait_for(reader.read(), timeout=60)
            writer.close()
            reply = self._parse(raw)
        except (OSError, TimeoutError, ValueError) as exc:
            ms = (time.perf_counter() - start) * 1000
            self.samples.append(Sample(kind, 0, ms, f"{type(exc).__name__}: {exc}"))
            raise
        ms = (time.perf_counter() - start) * 1000
        self.samples.append(Sample(kind, reply.status, ms))
        return reply

    def _parse(self, raw: bytes) -> Reply:
        head, _, body = raw.partition(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        headers = {}
        for line in header_lines:
            name, _, value = line.partition(":")
            name, value = name.strip().lower(), value.strip()
            if name == "set-cookie":
                key, _, val = value.split(";", 1)[0].partition("=")
                self.cookies[key.strip()] = val.strip()
            headers[name] = value
        return Reply(int(status_line.split()[1]), headers, body.decode())

    def expect(self, kind: str, reply: Reply, wanted: int) -> None:
        if reply.status != wanted:
            self.samples[-1].error = f"{kind}: HTTP {reply.status}, expected {wanted}"
            raise RuntimeError(self.samples[-1].error)


async def pause() -> None:
    await asyncio.sleep(random.uniform(1.0, 3.0))


def csrf_form(reply: Reply) -> dict[str, str]:
    found = CSRF_FIELD.search(reply.text)
    return {"csrfmiddlewaretoken": found.group(1) if found else ""}


async def journey(patient: Patient, answers: dict[int, dict], delay: float) -> None:
    await asyncio.sleep(delay)
    base = f"/q/{patient.token}/"
    try:
        reply = await patient.request("welcome", "GET", base)
        patient.expect("welcome", reply, 200)
        number = 1
        while True:
            await pause()
            path = f"{base}{number}/"
            reply = await patient.request("page GET", "GET", path)
            patient.expect("page GET", reply, 200)
            form = {**answers[number], "go": "next", **csrf_form(reply)}
            await pause()
            reply = await patient.request("page POST", "POST", path, form)
            patient.expect("page POST", reply, 302)
            if urlsplit(reply.headers["location"]).path == f"{base}review/":
                break
            number += 1
        await pause()
        reply = await patient.request("review", "GET", f"{base}review/")
        patient.expect("review", reply, 200)
        form = csrf_form(reply)
        await pause()
        reply = await patient.request("submit", "POST", f"{base}review/", form)
        patient.expect("submit", reply, 302)
        reply = await patient.request("done", "GET", f"{base}done/")
        patient.expect("done", reply, 200)
        patient.finished = True
    except Exception as exc:  # recorded as a sample; the patient stops, as one would
        if not patient.samples or not patient.samples[-1].error:
            patient.samples.append(Sample("journey", 0, 0.0, repr(exc)))


async def warm_up(port: int, token: str, rounds: int) -> None:
    """Every worker thread imports, connects and fills its caches before timing.

    A deployment is warm when patients arrive; the first request of each new
    worker would otherwise be timed as a patient's.
    """
    browser = Patient(port, token)
    base = f"/q/{token}/"
    paths = [base, f"{base}1/", f"{base}2/", f"{base}review/"]
    for _ in range(rounds):
        await asyncio.gather(*(browser.request("warm-up", "GET", p) for p in paths))


async def run_patients(
    patients: list[Patient], answers: dict[int, dict], ramp: float
) -> None:
    await asyncio.gather(
        *(journey(p, answers, random.uniform(0, ramp)) for p in patients)
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def database_url() -> str:
    database = connection.settings_dict
    return (
        f"postgres://{database['USER']}@{database['HOST'] or '127.0.0.1'}:"
        f"{database['PORT'] or 5432}/{database['NAME']}"
    )


def start_gunicorn(port: int, workers: int, threads: int, scratch: Path):
    log = scratch / "gunicorn.log"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "studyportal.settings",
        "DATABASE_URL": database_url(),
        "DEBUG": "0",
        "SECRET_KEY": "load-benchmark-secret-key-not-for-any-deployment-0123456",
        # The data were written in this process, so the server needs its keys.
        "CONTACT_ENCRYPTION_KEYS": ",".join(settings.CONTACT_ENCRYPTION_KEYS),
        "CONTACT_HASH_KEY": settings.CONTACT_HASH_KEY,
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "0",
        # The benchmark sends nothing: messages go to the (redacted) log.
        "EMAIL_URL": "consolemail://",
        "SMS_BACKEND": "participants.sms.ConsoleBackend",
        "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
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
        # Server time per request, to tell it from time queued in the client.
        f"--access-logfile={scratch / ACCESS_LOG}",
        "--access-logformat=%(m)s %(U)s %(s)s %(M)s",
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


def kind_of(method: str, path: str, token: str) -> str | None:
    rest = path.removeprefix(f"/q/{token}/")
    if rest == path:
        return None
    if rest == "":
        return "welcome"
    if rest == "review/":
        return "submit" if method == "POST" else "review"
    if rest == "done/":
        return "done"
    return f"page {method}"


def report_server_time(access_log: str, patients: list[Patient]) -> None:
    """Percentiles of the time gunicorn spent on each request (its access log)."""
    tokens = {p.token for p in patients}
    times: dict[str, list[float]] = {}
    for line in access_log.splitlines():
        method, path, _status, ms = line.split()
        token = path.split("/")[2] if path.startswith("/q/") else ""
        kind = kind_of(method, path, token) if token in tokens else None
        if kind is not None:
            times.setdefault(kind, []).append(float(ms))
            if kind in QUESTIONNAIRE_KINDS:
                times.setdefault("questionnaire pages", []).append(float(ms))
    print("time in the server (gunicorn access log):")
    print(f"{'':19} {'median ms':>10} {'p95 ms':>8} {'max ms':>8}")
    for kind in (*KINDS, "questionnaire pages"):
        if times.get(kind):
            ms = times[kind]
            print(
                f"{kind:19} {statistics.median(ms):10.1f} "
                f"{percentile(ms, 0.95):8.1f} {max(ms):8.1f}"
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
        warm_token, *tokens = seed(options.patients + 1)
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
                asyncio.run(warm_up(port, warm_token, 4 * options.workers))
                patients = [Patient(port, token) for token in tokens]
                print(
                    f"{len(patients)} patients against gunicorn "
                    f"({options.workers} workers x {options.threads} threads, "
                    f"{os.cpu_count()} cores), arriving over {options.ramp:.0f} s"
                )
                started = time.perf_counter()
                asyncio.run(run_patients(patients, complete_answers(), options.ramp))
                seconds = time.perf_counter() - started
            finally:
                server.terminate()
                server.wait(timeout=30)
                server_log = log.read_text()
                access_log = (Path(scratch) / ACCESS_LOG).read_text()
        errors, p95 = report(patients, seconds)
        report_server_time(access_log, patients)
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
