from django.contrib.auth.decorators import login_required
from django.http import JsonResponse
from django.shortcuts import render
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
