import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "studyportal.settings")

app = Celery("studyportal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
