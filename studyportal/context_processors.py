from django.conf import settings

from participants.models import Study
from studyportal import access


def portal(request) -> dict:
    """What the user may do (``{% if can.analyse %}``), and the study the footer
    names."""
    user = getattr(request, "user", None)
    study = None
    if user is not None and user.is_authenticated:
        study = access.studies_for(user).first()
    if study is None:
        study = Study.objects.order_by("id").first()
    return {
        "can": access.TemplateCapabilities(user),
        "current_study": study,
        "debug": settings.DEBUG,
    }
