"""The patient's questionnaire pages, reached only through a personal link."""

from __future__ import annotations

import logging

from axes.helpers import get_client_ip_address
from django.core.cache import cache
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from instruments import questionnaire
from instruments.forms import InstrumentForm
from instruments.wording import as_text
from participants import links, messaging, tablet
from studyportal.errors import DomainError

FAILED_LOOKUP_LIMIT = 20
FAILED_LOOKUP_WINDOW_SECONDS = 10 * 60

logger = logging.getLogger(__name__)


def _failures_key(request) -> str:
    # The address as the login lockout reads it: behind the TLS proxy, the
    # patient's, not the proxy's that every patient shares.
    return f"link-failures:{get_client_ip_address(request) or 'unknown'}"


def _too_many_failures(request) -> bool:
    key = _failures_key(request)
    try:
        return cache.get(key, 0) >= FAILED_LOOKUP_LIMIT
    except Exception:
        # Fail open: with the cache (Redis) down, patients must still reach their
        # questionnaire; guessing a token stays hopeless without the limit.
        logger.warning("Link rate limit unavailable: the cache is unreachable")
        return False


def _count_failure(request) -> None:
    key = _failures_key(request)
    try:
        cache.add(key, 0, FAILED_LOOKUP_WINDOW_SECONDS)
        try:
            cache.incr(key)
        except ValueError:
            cache.set(key, 1, FAILED_LOOKUP_WINDOW_SECONDS)
    except Exception:
        logger.warning("Link failure not counted: the cache is unreachable")


def _problem(request, kind: str, status: int):
    return render(request, f"questionnaire/link_{kind}.html", status=status)


def with_visit(view):
    """Resolve the token to an open visit, or answer with a page that says why."""

    @never_cache
    def wrapped(request, token, *args, **kwargs):
        # The token first: a participant's own link always opens, even from an
        # address (a clinic, a phone network) that others have guessed from.
        visit = links.visit_for_token(token)
        if visit is None:
            if _too_many_failures(request):
                return _problem(request, "limited", 429)
            _count_failure(request)
            return _problem(request, "invalid", 404)
        try:
            questionnaire.check_open(visit)
        except DomainError as error:
            if str(error) == "completed" and view.__name__ != "done":
                return redirect("questionnaire:done", token=token)
            if str(error) != "completed":
                return _problem(request, "expired", 410)
        pages = questionnaire.pages_for(visit)
        return view(request, token, visit, pages, *args, **kwargs)

    wrapped.__name__ = view.__name__
    return wrapped


def _context(request, token, visit, pages, **extra):
    return {
        "token": token,
        "visit": visit,
        "study": visit.participant.study,
        "pages": pages,
        "total": len(pages),
        "tablet": tablet.is_tablet(request, visit),
        **extra,
    }


def _mode_and_device(request, visit) -> tuple[str, str]:
    is_tablet = tablet.is_tablet(request, visit)
    device = questionnaire.device_class(request.META.get("HTTP_USER_AGENT", ""))
    return questionnaire.response_mode(is_tablet), "tablet" if is_tablet else device


@require_http_methods(["GET"])
@with_visit
def start(request, token, visit, pages):
    resume = questionnaire.first_unanswered(visit, pages)
    started = visit.responses.filter(instrument__respondent="patient").exists()
    minutes = sum(
        (version.parsed.minutes or 5)
        for _, version in questionnaire.versions_for(visit)
    )
    context = _context(
        request, token, visit, pages, resume=resume, started=started, minutes=minutes
    )
    return render(request, "questionnaire/welcome.html", context)


@require_http_methods(["GET", "POST"])
@with_visit
def page(request, token, visit, pages, number):
    if not 1 <= number <= len(pages):
        return redirect("questionnaire:review", token=token)
    current = pages[number - 1]
    saved = questionnaire.answers_for(visit).get(current.instrument.pk, {})
    form = InstrumentForm(
        request.POST or None,
        definition=current.definition,
        sections=list(current.sections),
        answers=saved,
    )
    if request.method == "POST":
        going_back = request.POST.get("go") == "previous"
        valid = form.is_valid()
        mode, device = _mode_and_device(request, visit)
        # Keep whatever is valid on every page change, even when moving back.
        try:
            questionnaire.save_page(
                visit, current, form.page_answers(), mode=mode, device=device
            )
        except DomainError:
            return redirect("questionnaire:start", token=token)
        if request.POST.get("go") == "autosave":
            # Sent by the browser as the patient leaves the page; nothing to show.
            return HttpResponse(status=204)
        if going_back:
            return redirect(_page_url(token, number - 1))
        if valid:
            return redirect(_page_url(token, number + 1, len(pages)))
    context = _context(request, token, visit, pages, form=form, page=current)
    context["percent"] = round(100 * (current.number - 1) / max(len(pages), 1))
    return render(request, "questionnaire/page.html", context)


def _page_url(token: str, number: int, total: int | None = None) -> str:
    if number < 1:
        return reverse("questionnaire:start", args=[token])
    if total is not None and number > total:
        return reverse("questionnaire:review", args=[token])
    return reverse("questionnaire:page", args=[token, number])


@require_http_methods(["GET", "POST"])
@with_visit
def review(request, token, visit, pages):
    error = ""
    if request.method == "POST":
        mode, device = _mode_and_device(request, visit)
        try:
            questionnaire.submit(visit, mode=mode, device=device)
        except DomainError as problem:
            error = problem.message
        else:
            return redirect("questionnaire:done", token=token)
    saved = questionnaire.answers_for(visit)
    summary = []
    for current in pages:
        answers = saved.get(current.instrument.pk, {})
        rows = []
        for index in current.sections:
            for item in current.definition.sections[index].items:
                if not item.is_answerable or item.name not in answers:
                    continue
                rows.append((as_text(item.label), _display(item, answers[item.name])))
        summary.append((current, rows))
    lacking = questionnaire.missing_required(visit, pages)
    context = _context(
        request, token, visit, pages, summary=summary, lacking=lacking, error=error
    )
    return render(request, "questionnaire/review.html", context)


def _display(item, value) -> str:
    """The answer as the patient chose it, as text."""
    if isinstance(value, list):
        return ", ".join(_choice_text(item, code) for code in value)
    if item.type == "rating" or not item.choice_list:
        return str(value)
    return _choice_text(item, value)


def _choice_text(item, code) -> str:
    label = item.choice_label(str(code))
    return as_text(label) if label else str(code)


@require_http_methods(["GET"])
@with_visit
def done(request, token, visit, pages):
    was_tablet = tablet.is_tablet(request, visit)
    if was_tablet:
        tablet.finish(request)
    context = _context(request, token, visit, pages, was_tablet=was_tablet)
    return render(request, "questionnaire/done.html", context)


# The signed link is the credential; mail clients POST to it for one-click
# unsubscribe (RFC 8058) without a CSRF token.
@csrf_exempt
@never_cache
@require_http_methods(["GET", "POST"])
def opt_out(request, signed):
    """The link in every message that stops messages, without logging in."""
    link = messaging.opt_out_link(signed)
    if link is None:
        return _problem(request, "invalid", 404)
    study = link.participant.study
    if link.expired:
        return render(
            request,
            "questionnaire/opt_out.html",
            {"study": study, "expired": True},
            status=410,
        )
    done = False
    if request.method == "POST":
        messaging.opt_out(link.participant)
        done = True
    return render(request, "questionnaire/opt_out.html", {"study": study, "done": done})
