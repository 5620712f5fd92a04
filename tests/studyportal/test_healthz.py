"""GET /healthz reports the database and the broker."""

from django.db import OperationalError

from studyportal import health


def test_it_reports_ok_when_everything_is_up(client, db, monkeypatch):
    monkeypatch.setitem(health.CHECKS, "broker", lambda: None)
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"database": "ok", "broker": "ok"}


def test_it_needs_no_login_and_is_never_cached(client, db, monkeypatch):
    monkeypatch.setitem(health.CHECKS, "broker", lambda: None)
    response = client.get("/healthz")
    assert "no-store" in response["Cache-Control"]


def test_it_names_the_database_when_it_is_down(client, db, monkeypatch):
    def broken():
        raise OperationalError("connection refused")

    monkeypatch.setitem(health.CHECKS, "database", broken)
    monkeypatch.setitem(health.CHECKS, "broker", lambda: None)
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["database"].startswith("down")
    assert body["broker"] == "ok"


def test_it_names_the_broker_when_it_is_down(client, db, settings):
    from studyportal.celery import app

    previous = app.conf.broker_url
    app.conf.broker_url = "redis://127.0.0.1:1/0"
    try:
        response = client.get("/healthz")
    finally:
        app.conf.broker_url = previous
    assert response.status_code == 503
    assert response.json() == {"database": "ok", "broker": "down: OperationalError"}


def test_the_real_database_check_passes(db):
    health.check_database()


def test_post_is_not_allowed(client, db):
    assert client.post("/healthz").status_code == 405
