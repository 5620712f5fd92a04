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


@pytest.fixture
def reference_study(db):
    """The reference study and its protocol, with nobody in it yet."""
    from studyportal import demo

    study = demo.seed_reference_study()
    return study


@pytest.fixture(scope="module")
def demo_cohort(django_db_setup, django_db_blocker):
    """The pk of the demo study with its whole cohort, seeded once per module.

    Each test rolls back its own changes; the seeding itself is rolled back
    after the module's last test.
    """
    from django.db import transaction
    from django.utils import timezone

    from studyportal import demo

    with django_db_blocker.unblock(), transaction.atomic():
        study = demo.seed_reference_study()
        demo.seed_demo_users(study)
        demo.seed_demo_participants(study, today=timezone.localdate())
        yield study.pk
        transaction.set_rollback(True)


@pytest.fixture
def demo_study(demo_cohort, db):
    """The demo study of ``demo_cohort``, for a test that may change it."""
    from participants.models import Study

    return Study.objects.get(pk=demo_cohort)
