import os

from celery import Celery
from celery.signals import setup_logging

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "studyportal.settings")

app = Celery("studyportal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@setup_logging.connect
def use_the_projects_logging(**kwargs) -> None:
    """The worker and beat log through LOGGING, whose handlers redact tokens and
    contact details, instead of Celery's own handlers, which would not."""
    import logging.config

    from django.conf import settings

    logging.config.dictConfig(settings.LOGGING)
