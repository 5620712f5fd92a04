"""The demo cohort with its interviews seeded, once per test module."""

import pytest


@pytest.fixture(scope="module")
def coded_cohort(django_db_setup, django_db_blocker):
    """The pk of the demo study with its cohort, interviews and coding.

    As ``demo_cohort``, rolled back after the module's last test.
    """
    from django.db import transaction
    from django.utils import timezone

    from studyportal import demo

    with django_db_blocker.unblock(), transaction.atomic():
        study = demo.seed_reference_study()
        demo.seed_demo_users(study)
        today = timezone.localdate()
        demo.seed_demo_participants(study, today=today)
        demo.seed_demo_interviews(study, today=today)
        yield study.pk
        transaction.set_rollback(True)


@pytest.fixture
def coded_study(coded_cohort, db):
    from participants.models import Study

    return Study.objects.get(pk=coded_cohort)
