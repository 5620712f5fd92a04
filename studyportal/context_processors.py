from django.conf import settings

from participants.models import Study
from studyportal import access


def portal(request) -> dict:
    """Navigation needs the user's roles and the study the footer names."""
    user = getattr(request, "user", None)
    roles = access.roles_of(user) if user is not None else frozenset()
    study = None
    if user is not None and user.is_authenticated:
        study = access.studies_for(user).first()
    if study is None:
        study = Study.objects.order_by("id").first()
    return {"user_roles": roles, "current_study": study, "debug": settings.DEBUG}
