import os
import uuid

import pytest

from analysis import tasks
from tests.integration.mail_and_worker import Worker, forget_queue, worker_services
from tests.services import chromium_path

PHONE_USER_AGENT = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/126.0 Mobile Safari/537.36"
)
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
]


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    executable = chromium_path()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable, args=CHROMIUM_FLAGS
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(
        base_url=live_server.url, viewport={"width": 1280, "height": 900}
    )
    page = context.new_page()
    page.set_default_timeout(30000)
    yield page
    context.close()


@pytest.fixture
def phone(browser, live_server):
    context = browser.new_context(
        base_url=live_server.url,
        viewport={"width": 390, "height": 844},
        user_agent=PHONE_USER_AGENT,
        is_mobile=True,
        has_touch=True,
    )
    page = context.new_page()
    page.set_default_timeout(30000)
    yield page
    context.close()


def assert_accessible(page) -> None:
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    violations = results.response["violations"]
    assert not violations, results.generate_report()


def log_in(page, username: str, password: str) -> None:
    """Log in through the login form, as a member of staff does."""
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("heading", name=f"Welcome, {username}").wait_for()


@pytest.fixture
def analysis_worker(transactional_db, monkeypatch, tmp_path):
    """A worker process on a queue of this test's own, sharing the test database.

    Analysis runs and data files queued during the test go to it.
    """
    services = worker_services()
    queue = f"test-analysis-{uuid.uuid4().hex[:8]}"
    for task in (tasks.perform_run, tasks.build_download):
        monkeypatch.setattr(
            task,
            "delay",
            lambda pk, task=task: task.apply_async(args=[pk], queue=queue),
        )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        **services,
    }
    worker = Worker(env, queue, tmp_path / "worker.log")
    try:
        yield worker
    finally:
        worker.stop()
        forget_queue(services["REDIS_URL"], queue)


@pytest.fixture
def demo_users(transactional_db):
    """The reference study with the demo users, in a database a live server can see."""
    from studyportal import demo

    study = demo.seed_reference_study()
    demo.seed_demo_users(study)
    return study


@pytest.fixture
def demo_data(transactional_db):
    """The demo study, users and cohort, in a database a live server can see."""
    from django.utils import timezone

    from studyportal import demo

    study = demo.seed_reference_study()
    demo.seed_demo_users(study)
    demo.seed_demo_participants(study, today=timezone.localdate())
    return study
