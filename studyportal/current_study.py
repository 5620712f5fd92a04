"""The study a person is working on, for people who work on several.

The choice is kept in the session and shown in the header; the middleware
makes it the working study of every request (``access.WORKING_STUDY``), which
scopes what ``access`` gives every page. Someone who works on one study never
has to choose.
"""

from __future__ import annotations

from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from participants.models import Study
from studyportal import access
from studyportal.ids import parse_id
from studyportal.redirects import own_path

SESSION_KEY = "working_study"


def choices(user):
    return access.studies_for(user, every_study=True).order_by("name")


def studies_of(request) -> list[Study]:
    """The studies the user works on, read once per request."""
    if not hasattr(request, "_studies"):
        request._studies = list(choices(request.user))
    return request._studies


def working_study(request) -> Study | None:
    """The study chosen in this session, else the first the user works on."""
    studies = studies_of(request)
    chosen = parse_id(str(request.session.get(SESSION_KEY, "")))
    return next((s for s in studies if s.pk == chosen), studies[0] if studies else None)


class WorkingStudyMiddleware:
    """Every request of a signed-in user works on one study."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return self.get_response(request)
        study = working_study(request)
        token = access.WORKING_STUDY.set(study.pk if study else None)
        try:
            return self.get_response(request)
        finally:
            access.WORKING_STUDY.reset(token)


@require_POST
def choose(request):
    """Work on another of one's studies, and go back to the page one was on."""
    if not request.user.is_authenticated:
        return redirect("login")
    study = choices(request.user).filter(pk=parse_id(request.POST.get("study"))).first()
    if study is not None:
        request.session[SESSION_KEY] = study.pk
    return redirect(own_path(request, request.POST.get("next", "")) or "home")
