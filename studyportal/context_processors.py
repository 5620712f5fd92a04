from django.conf import settings

from participants.models import Study
from studyportal import access, current_study


def portal(request) -> dict:
    """What the user may do (``{% if can.analyse %}``), the study they work on
    (named in the header and footer), and the others they may switch to."""
    user = getattr(request, "user", None)
    study, others = None, []
    if user is not None and user.is_authenticated:
        study = current_study.working_study(request)
        others = [s for s in current_study.studies_of(request) if s != study]
    if study is None:
        study = Study.objects.order_by("id").first()
    return {
        "can": access.TemplateCapabilities(user),
        "current_study": study,
        "other_studies": others,
        "debug": settings.DEBUG,
    }
