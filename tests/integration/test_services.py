"""The suite really talks to the services it was pointed at."""

import os

from django.db import connection

from tests.services import require_env_url


def test_database_is_the_configured_postgresql(db):
    url = require_env_url("DATABASE_URL")
    if url.startswith("postgres"):
        assert connection.vendor == "postgresql"
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_setting('server_version_num')::int")
            assert cursor.fetchone()[0] >= 130000
    else:
        assert connection.vendor == "sqlite"


def test_broker_is_the_configured_redis():
    from studyportal.celery import app
    from studyportal.health import check_broker

    url = require_env_url("REDIS_URL")
    assert app.conf.broker_url == url == os.environ["REDIS_URL"]
    check_broker()
