"""Checks made around every view: request size, two-step sign-in for every page
(the Django admin included), and no copies of pages kept by browsers or proxies."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.urls import reverse
from django.utils.cache import add_never_cache_headers

from studyportal import two_factor

# Open while a code is owed: the way through, the way out, the questionnaire links
# (participants never sign in) and the health check the containers poll.
OPEN_VIEWS = frozenset(
    {"login", "logout", "healthz", "two_factor_verify", "admin:logout"}
)
OPEN_NAMESPACES = frozenset({"questionnaire"})
# Open as well to a user who must set up an authenticator before anything else.
SET_UP_VIEWS = frozenset({"two_factor_set_up"})

STEP_VIEWS = {
    two_factor.Step.VERIFY: "two_factor_verify",
    two_factor.Step.SET_UP: "two_factor_set_up",
}


class TwoStepSignInMiddleware:
    """Send a signed-in user who owes a code, or a device, to that step first.

    Must come after django-otp's OTPMiddleware, which tells whether this session
    has given a code. The page asked for travels along as ``next``.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        if _always_open(request):
            return None
        step = two_factor.pending_step(
            request.user, required=settings.STAFF_TWO_FACTOR_REQUIRED
        )
        if step is None:
            return None
        if step == two_factor.Step.SET_UP and _view_name(request) in SET_UP_VIEWS:
            return None
        return redirect_to_login(
            request.get_full_path(), login_url=reverse(STEP_VIEWS[step])
        )


def _view_name(request) -> str:
    return request.resolver_match.view_name


def _always_open(request) -> bool:
    # process_view runs only for a resolved URL: static files are served before.
    match = request.resolver_match
    open_namespace = bool(set(match.namespaces) & OPEN_NAMESPACES)
    return match.view_name in OPEN_VIEWS or open_namespace


class RequestSizeLimitMiddleware:
    """Refuse a request whose declared body is over MAX_REQUEST_BYTES, unread.

    Django's own limits leave uploaded files out, so without this a large upload
    is written to disk in full before any form can refuse it.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0  # Django itself refuses a malformed length
        if length > settings.MAX_REQUEST_BYTES:
            from studyportal.views import too_large

            return too_large(request, limit=settings.MAX_REQUEST_BYTES)
        return self.get_response(request)


class NoStoreMiddleware:
    """Pages are never stored by a browser, a proxy or a shared clinic computer.

    Nearly every page holds personal data (a participant's details, answers, a
    questionnaire link) and the rest cost nothing to fetch again. Static files
    never reach this: WhiteNoise serves them, cacheable, before it. A view that
    states its own ``Cache-Control`` keeps it.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if not response.has_header("Cache-Control"):
            add_never_cache_headers(response)
        return response
