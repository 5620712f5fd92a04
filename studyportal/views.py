import sys

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import (
    RequestDataTooBig,
    TooManyFieldsSent,
    TooManyFilesSent,
)
from django.db import InterfaceError, OperationalError
from django.http import HttpResponse, JsonResponse
from django.shortcuts import render
from django.template import loader
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from studyportal import access, health


@login_required
def home(request):
    user = request.user
    roles = access.roles_of(user)
    studies = access.studies_for(user).prefetch_related("sites", "timepoints")
    context = {
        "roles": roles,
        # The page introduces each of the user's roles in turn (is_coordinator, ...).
        **{f"is_{role}": role in roles for role in access.ALL_ROLES},
        "studies": studies,
        "clinic_sites": access.sites_for(user, "screen_and_enrol"),
        "all_sites": access.sites_for(user).select_related("study"),
    }
    return render(request, "studyportal/home.html", context)


@never_cache
@require_GET
def healthz(request):
    results = health.run_checks()
    healthy = all(state == "ok" for state in results.values())
    return JsonResponse(results, status=200 if healthy else 503)


# Seconds a browser or proxy is told to wait before trying again.
DATABASE_RETRY_AFTER = 30


def server_error(request):
    """The 500 page, or 503 when the database cannot be reached (a restart) or
    gave up on a transaction (a deadlock): trying again shortly will work.

    Rendered without the request: its context processors would ask the database,
    which may be what failed. The exception is still in flight here.
    """
    if isinstance(sys.exc_info()[1], OperationalError | InterfaceError):
        response = HttpResponse(loader.render_to_string("503.html"), status=503)
        response["Retry-After"] = str(DATABASE_RETRY_AFTER)
        return response
    return HttpResponse(loader.render_to_string("500.html"), status=500)


def bad_request(request, exception):
    """Requests Django refused to read: too large a body (413), too many fields or
    files (400), or otherwise malformed (400). Django refuses when the data are
    first read, before any form is validated, so nothing sent was saved; the
    page says so.
    """
    if isinstance(exception, RequestDataTooBig):
        return too_large(request, limit=settings.DATA_UPLOAD_MAX_MEMORY_SIZE)
    context = {
        "too_many_fields": isinstance(exception, TooManyFieldsSent),
        "too_many_files": isinstance(exception, TooManyFilesSent),
        "field_limit": settings.DATA_UPLOAD_MAX_NUMBER_FIELDS,
        "file_limit": settings.DATA_UPLOAD_MAX_NUMBER_FILES,
    }
    return render(request, "400.html", context, status=400)


def too_large(request, *, limit: int):
    """The 413 page, naming the limit (in bytes) that the request went over."""
    context = {"limit_mb": f"{limit / (1024 * 1024):g}"}
    return render(request, "413.html", context, status=413)
