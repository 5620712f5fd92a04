"""Faults in the services: Redis stopped and restarted, PostgreSQL connections killed.

The shared Redis and PostgreSQL serve the rest of the suite, so the outage is of a
private ``redis-server`` this module starts on a free port, and of this process's
own database connections.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import redis
from django.db import connection, connections
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone

from analysis.models import AnalysisRun, RunStatus
from analysis.tasks import tidy_waiting_work
from instruments.models import Response
from participants import links
from participants.messaging import FINISHED
from participants.models import (
    MessageKind,
    MessageStatus,
    OutboundMessage,
    Participant,
    VisitStatus,
)
from participants.tasks import plan_and_send
from studyportal import demo
from studyportal.celery import app as celery_app
from studyportal.wsgi import application
from tests.factories import clinic_staff, investigator
from tests.integration.mail_and_worker import (
    Mailbox,
    free_port,
    require_shared_postgresql,
    smtp_server,
    wait_until,
    worker,
    worker_env,
    worker_services,
)
from tests.participants import journeys
from tests.participants.journeys import enrol_post
from tests.questionnaire.conftest import (
    answer_everything,
    enrol_participant,
    questionnaire_url,
)
from tests.services import redis_url

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


class PrivateRedis:
    """A ``redis-server`` child process that can be stopped and started on one port."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        command = [
            shutil.which("redis-server") or "redis-server",
            "--port", str(self.port), "--bind", "127.0.0.1",
            "--save", "", "--appendonly", "no", "--daemonize", "no",
        ]  # fmt: skip
        self.process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        client = redis.Redis.from_url(self.url, socket_connect_timeout=0.2)
        wait_until(
            lambda: self._answers(client),
            timeout=10,
            message=lambda: f"redis-server on port {self.port} did not start",
        )

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    @staticmethod
    def _answers(client: redis.Redis) -> bool:
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False


@contextmanager
def broker_at(url: str) -> Iterator[None]:
    """Point this process's Celery producer at ``url``, then back."""
    saved = celery_app.conf.broker_url

    def forget_connections() -> None:
        # The producer pool keeps connections to the broker it first met.
        celery_app._pool = None
        celery_app.amqp._producer_pool = None

    celery_app.conf.broker_url = url
    forget_connections()
    try:
        yield
    finally:
        celery_app.conf.broker_url = saved
        forget_connections()


@pytest.fixture
def private_redis(settings) -> Iterator[PrivateRedis]:
    """Cache and broker on a private Redis, which the test may stop and restart."""
    redis_url()  # this module belongs with the tests that need Redis
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    server = PrivateRedis()
    server.start()
    settings.CACHES = {
        "default": {
            **settings.CACHES["default"],
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": server.url,
        }
    }
    try:
        with broker_at(server.url):
            yield server
    finally:
        server.kill()


def hand_over_by_message(client, participant) -> None:
    response = client.post(
        reverse("participants:handover", args=[participant.pk]), {"action": "send"}
    )
    assert response.status_code == 302, response.content.decode()[:2000]


# Redis stopped ---------------------------------------------------------------


def test_it_lets_patients_submit_and_staff_enrol_with_redis_down(
    client, private_redis, reference_study, caplog
):
    patient = enrol_participant(reference_study, name="Robin Example")
    baseline = patient.visits.get(timepoint__code="baseline")
    token = links.issue_token(baseline)
    private_redis.kill()
    caplog.set_level(logging.WARNING)

    # The patient: the rate limit cannot be read or counted, and fails open.
    assert client.get(questionnaire_url("start", "made-up-token")).status_code == 404
    assert client.get(questionnaire_url("start", token)).status_code == 200
    answer_everything(client, token)
    assert client.get(questionnaire_url("review", token)).status_code == 200
    done = client.post(questionnaire_url("review", token))
    assert done["Location"] == questionnaire_url("done", token)
    baseline.refresh_from_db()
    assert baseline.status == VisitStatus.COMPLETED
    assert Response.objects.filter(visit=baseline, status="submitted").count() == 5
    assert "Link rate limit unavailable" in caplog.text

    # The staff: enrolment through the page, then the link sent by email, which
    # the broker cannot take; the message waits as a pending row.
    site = reference_study.sites.get(code="LDS")
    staff = clinic_staff(site)
    client.force_login(staff)
    record = journeys.consented(site, staff)
    response = client.post(
        reverse("participants:enrol", args=[record.pk]), enrol_post()
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    enrolled = Participant.objects.get(screening=record)
    hand_over_by_message(client, enrolled)
    invitation = OutboundMessage.objects.get(
        visit__participant=enrolled, kind=MessageKind.INVITE
    )
    assert invitation.status == MessageStatus.PENDING
    assert "waits for the planner" in caplog.text


def test_it_sends_what_was_planned_during_the_outage_once_redis_is_back(
    client, private_redis, reference_study, tmp_path
):
    services = worker_services(private_redis.url)
    people = [
        enrol_participant(
            reference_study, name=f"Pat{n} Example", email=f"pat{n}@example.invalid"
        )
        for n in range(3)
    ]
    client.force_login(clinic_staff(reference_study.sites.get(code="LDS")))
    private_redis.kill()
    for person in people:
        hand_over_by_message(client, person)
    waiting = OutboundMessage.objects.filter(status=MessageStatus.PENDING)
    assert waiting.count() == 3

    private_redis.start()
    mailbox = Mailbox()
    with (
        smtp_server(mailbox) as email_url,
        worker(
            worker_env(**services, EMAIL_URL=email_url), "celery", tmp_path / "w.log"
        ) as running,
    ):
        # The beat planner's run after the outage queues every row still due.
        assert plan_and_send.apply().get()["queued"] == 3
        wait_until(
            lambda: not OutboundMessage.objects.exclude(status__in=FINISHED).exists(),
            timeout=25,
            message=lambda: f"unsent; worker output:\n{running.output()[-4000:]}",
        )
        # A second run finds nothing left to send.
        assert plan_and_send.apply().get()["queued"] == 0

    sent = OutboundMessage.objects.filter(status=MessageStatus.SENT)
    assert sent.count() == 3
    received = Counter(item.recipients for item in mailbox.messages())
    assert received == Counter((p.contact.email,) for p in people)
    assert {item.message_id for item in mailbox.messages()} == {
        message.provider_id for message in sent
    }


def test_an_analysis_requested_during_the_outage_runs_once_redis_is_back(
    client, private_redis, reference_study, tmp_path, caplog
):
    services = worker_services(private_redis.url)
    demo.seed_demo_users(reference_study)
    demo.seed_demo_participants(reference_study, today=timezone.localdate())
    client.force_login(investigator(reference_study))
    private_redis.kill()
    caplog.set_level(logging.WARNING)

    response = client.post(
        reverse("analysis:run_list"),
        {"study": reference_study.pk, "preset": "reference"},
    )
    assert response.status_code == 302
    run = AnalysisRun.objects.get()
    assert run.status == RunStatus.QUEUED
    assert "starts by itself" in client.get(run.get_absolute_url()).content.decode()
    assert f"analysis run {run.pk} waits for the planner" in caplog.text

    private_redis.start()
    with worker(worker_env(**services), "celery", tmp_path / "w.log") as running:
        assert tidy_waiting_work.apply().get()["runs_queued"] == 1
        wait_until(
            lambda: AnalysisRun.objects.filter(
                pk=run.pk, status__in=[RunStatus.DONE, RunStatus.FAILED]
            ).exists(),
            timeout=90,
            message=lambda: f"not run; worker output:\n{running.output()[-4000:]}",
        )
    run.refresh_from_db()
    assert run.status == RunStatus.DONE, run.error
    assert run.results


# PostgreSQL connections killed -----------------------------------------------


def serve(path: str) -> tuple[int, bytes]:
    """One GET through the WSGI application, as a server makes it.

    The test client skips the connection checks at the start and end of each
    request, which are the behaviour under test here.
    """
    environ = RequestFactory().get(path).environ
    status: list[str] = []
    response = application(
        environ, lambda line, headers, exc_info=None: status.append(line)
    )
    try:
        body = b"".join(response)
    finally:
        response.close()
    return int(status[0].split()[0]), body


def terminate_app_connections() -> int:
    """Kill every other session on the test database, from a connection of its own."""
    admin = connections.create_connection("default")
    try:
        with admin.cursor() as cursor:
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            return len(cursor.fetchall())
    finally:
        admin.close()


def backend_pid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def test_it_recovers_from_killed_database_connections_without_a_restart(
    reference_study, caplog
):
    require_shared_postgresql("terminating backends needs PostgreSQL")
    assert connection.settings_dict["CONN_HEALTH_CHECKS"] is True
    token = links.issue_token(
        enrol_participant(reference_study).visits.get(timepoint__code="baseline")
    )
    start = questionnaire_url("start", token)
    assert serve(start)[0] == 200
    before = backend_pid()

    # Killed between requests: the health check at the next request reconnects.
    assert terminate_app_connections() >= 1
    assert serve(start)[0] == 200
    assert backend_pid() != before

    # Killed in the middle of a request: that request fails cleanly, the next one
    # is served on a new connection.
    queries = 0

    def kill_before_the_second_query(execute, sql, params, many, context):
        nonlocal queries
        queries += 1
        if queries == 2:
            terminate_app_connections()
        return execute(sql, params, many, context)

    caplog.set_level(logging.ERROR, logger="django.request")
    began = time.monotonic()
    with connection.execute_wrapper(kill_before_the_second_query):
        status, body = serve(start)
    assert status == 503
    assert b"briefly unavailable" in body
    assert time.monotonic() - began < 10
    assert "OperationalError" in caplog.text
    assert serve(start)[0] == 200
