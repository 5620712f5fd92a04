import os

import pytest

from tests.services import services_required

# Playwright's sync API runs an event loop in the test thread; Django refuses ORM
# calls from such a thread unless told it is safe, which it is in a test.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.skipped and services_required() and call.excinfo is not None:
        report.outcome = "failed"
        report.longrepr = (
            f"skipped while STUDYPORTAL_REQUIRE_SERVICES=1: {call.excinfo.value}"
        )


@pytest.fixture
def study(db):
    from tests.factories import StudyFactory

    return StudyFactory()
