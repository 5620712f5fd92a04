from django.apps import AppConfig


class StudyPortalConfig(AppConfig):
    name = "studyportal"
    verbose_name = "StudyPortal"
