import sys

from django.contrib.auth.decorators import login_required
from django.db import InterfaceError, OperationalError
from django.http import HttpResponse, JsonResponse
from django.shortcuts import render
from django.template import loader
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from participants.models import Role
from studyportal import access, health


@login_required
def home(request):
    user = request.user
    roles = access.roles_of(user)
    studies = access.studies_for(user).prefetch_related("sites", "timepoints")
    context = {
        "roles": roles,
        "is_clinic_staff": Role.CLINIC_STAFF in roles,
        "is_coordinator": Role.COORDINATOR in roles,
        "is_investigator": Role.INVESTIGATOR in roles,
        "is_qualitative": Role.QUALITATIVE in roles,
        "is_admin": access.ADMIN in roles,
        "studies": studies,
        "clinic_sites": access.sites_for(user, roles=(Role.CLINIC_STAFF,)),
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
