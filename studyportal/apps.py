from django.apps import AppConfig


class StudyPortalConfig(AppConfig):
    name = "studyportal"
    verbose_name = "StudyPortal"

    def ready(self) -> None:
        from studyportal import logins  # noqa: F401  (connects the login audit)
