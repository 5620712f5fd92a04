"""The follow-up work list and what staff do from it.

Contact attempts, loss to follow-up and phone interviews; the rules live in
``participants.worklist`` and the phone interview reuses staff data entry.
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from instruments.models import Respondent, ResponseMode
from participants import duplicates, worklist
from participants.forms import DomainErrorMixin
from participants.models import (
    ContactAttempt,
    LostReason,
    ParticipantStatus,
    Timepoint,
    VisitStatus,
)
from participants.views import _participant_or_404, _staff_entry
from studyportal import access
from studyportal.errors import DomainError

PAGE_SIZE = 50
REVIEWED_SHOWN = 50
FILTERS = ("site", "timepoint", "overdue", "page")


class WorklistFilterForm(forms.Form):
    site = forms.ModelChoiceField(
        label="Clinic", queryset=None, required=False, empty_label="All clinics"
    )
    timepoint = forms.ModelChoiceField(
        label="Timepoint", queryset=None, required=False, empty_label="All timepoints"
    )
    overdue = forms.BooleanField(label="Overdue only", required=False)

    def __init__(self, *args, sites, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["site"].queryset = sites
        self.fields["timepoint"].queryset = Timepoint.objects.filter(
            study__in=sites.values("study_id")
        )
        self.fields["timepoint"].label_from_instance = lambda tp: tp.label
        for field in self.fields.values():
            field.widget.attrs["class"] = (
                "form-check-input"
                if isinstance(field, forms.BooleanField)
                else "form-select"
            )


class ContactAttemptForm(DomainErrorMixin, forms.Form):
    channel = forms.ChoiceField(
        label="How",
        choices=[("", "Choose…"), *ContactAttempt.Channel.choices],
        initial=ContactAttempt.Channel.PHONE,
    )
    outcome = forms.ChoiceField(
        label="Outcome", choices=[("", "Choose…"), *ContactAttempt.Outcome.choices]
    )
    note = forms.CharField(label="Note (optional)", required=False, max_length=500)
    # The work list's filters and page, to return to the same view afterwards.
    back = forms.CharField(required=False, widget=forms.HiddenInput)


class LostForm(DomainErrorMixin, forms.Form):
    reason = forms.ChoiceField(
        label="Why is this participant lost to follow-up?",
        choices=LostReason.choices,
        widget=forms.RadioSelect,
        help_text="The reason counted in the CONSORT diagram and its downloads.",
    )
    detail = forms.CharField(
        label="Details (optional)",
        required=False,
        max_length=300,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="For example: no reply to three calls and two letters. Seen by "
        "coordinators and the participant's clinic, never by investigators.",
    )
    back = forms.CharField(required=False, widget=forms.HiddenInput)


def _worklist_query(raw: str) -> str:
    """Only the work list's own parameters, so ``back`` cannot point elsewhere."""
    given = QueryDict(raw)
    kept = QueryDict(mutable=True)
    for name in FILTERS:
        if given.get(name):
            kept[name] = given[name]
    return kept.urlencode()


def _worklist_url(query: str) -> str:
    url = reverse("worklist:list")
    return f"{url}?{query}" if query else url


def _render_worklist(request, params: QueryDict, *, bound=None):
    """The work list page; ``bound`` is (visit id, form) to show a form's errors."""
    today = timezone.localdate()
    sites = access.sites_for(request.user, "follow_up")
    filters = WorklistFilterForm(params or None, sites=sites)
    chosen = filters.cleaned_data if filters.is_valid() else {}
    visits = worklist.worklist_visits(
        request.user,
        today=today,
        site=chosen.get("site"),
        timepoint=chosen.get("timepoint"),
        overdue_only=bool(chosen.get("overdue")),
    )
    page = Paginator(visits, PAGE_SIZE).get_page(params.get("page"))
    query = _worklist_query(params.urlencode())
    rows, error_row = [], None
    for item in worklist.work_items(page.object_list, today=today):
        if bound is not None and bound[0] == item.visit.pk:
            form, error_row = bound[1], item
        else:
            form = ContactAttemptForm(
                prefix=f"attempt-{item.visit.pk}", initial={"back": query}
            )
        rows.append((item, form))
    if bound is not None and error_row is None:
        # The visit is not on this page of the list, so say what was wrong here.
        problems = " ".join(e for errors in bound[1].errors.values() for e in errors)
        messages.error(request, f"The contact attempt was not recorded. {problems}")
    without_page = QueryDict(query, mutable=True)
    without_page.pop("page", None)
    context = {
        "filters": filters,
        "page": page,
        "rows": rows,
        "error_row": error_row,
        "query": without_page.urlencode(),
        "today": today,
        "duplicates_to_review": (
            duplicates.pairs_to_review(request.user).count()
            if access.can(request.user, "review_duplicates")
            else 0
        ),
    }
    return render(request, "participants/worklist.html", context)


@access.capability_required("follow_up")
def worklist_page(request):
    return _render_worklist(request, request.GET)


@access.capability_required("follow_up")
@require_POST
def attempt_new(request, pk, visit_pk):
    participant = _participant_or_404(request, pk)
    visit = get_object_or_404(
        participant.visits.select_related("timepoint"), pk=visit_pk
    )
    form = ContactAttemptForm(request.POST, prefix=f"attempt-{visit.pk}")
    back = _worklist_query(request.POST.get(f"attempt-{visit.pk}-back", ""))
    if form.is_valid():
        data = form.cleaned_data
        try:
            attempt = worklist.log_attempt(
                visit=visit,
                channel=data["channel"],
                outcome=data["outcome"],
                note=data["note"],
                user=request.user,
            )
        except DomainError as error:
            if error.field is None:
                # Usually the visit closed meanwhile, so it has left the list.
                messages.error(request, error.message)
                return redirect(_worklist_url(back))
            form.add_domain_error(error)
        else:
            messages.success(
                request,
                f"{participant.code}: {attempt.get_channel_display().lower()}, "
                f"{attempt.get_outcome_display().lower()}, recorded.",
            )
            return redirect(_worklist_url(back))
    return _render_worklist(request, QueryDict(back), bound=(visit.pk, form))


@access.capability_required("mark_lost_or_reactivate")
def mark_lost(request, pk):
    participant = _participant_or_404(request, pk)
    if participant.status != ParticipantStatus.ACTIVE:
        messages.info(
            request,
            f"{participant.code} is {participant.get_status_display().lower()}.",
        )
        return redirect(participant)
    form = LostForm(request.POST or None, initial={"back": request.GET.get("back", "")})
    if request.method == "POST" and form.is_valid():
        try:
            worklist.mark_lost(
                participant,
                reason=form.cleaned_data["reason"],
                detail=form.cleaned_data["detail"],
                today=timezone.localdate(),
                user=request.user,
            )
        except DomainError as error:
            form.add_domain_error(error)
        else:
            messages.success(
                request,
                f"{participant.code} is lost to follow-up; no more messages will be "
                "sent.",
            )
            if form.cleaned_data["back"] == "worklist":
                return redirect("worklist:list")
            return redirect(participant)
    context = {
        "participant": participant,
        "form": form,
        "heading": f"Mark {participant.code} lost to follow-up",
        "button": "Mark lost to follow-up",
        "button_class": "btn-danger",
    }
    return render(request, "participants/lost_form.html", context)


def _phone_visit_or_redirect(request, pk, visit_pk):
    """The participant and open visit of a phone interview, or where to go instead."""
    participant = _participant_or_404(request, pk)
    visit = get_object_or_404(
        participant.visits.select_related("timepoint"), pk=visit_pk
    )
    if participant.status != ParticipantStatus.ACTIVE or (
        visit.status != VisitStatus.OPEN
    ):
        messages.info(
            request, "A phone interview needs an active participant and an open visit."
        )
        return participant, visit, redirect(participant)
    return participant, visit, None


def _patient_instruments(visit):
    # Staff-completed instruments (baseline characteristics) are not asked by phone.
    return (
        visit.timepoint.instruments.exclude(instrument__respondent=Respondent.STAFF)
        .select_related("instrument")
        .order_by("order")
    )


@access.capability_required("follow_up")
def phone_interview(request, pk, visit_pk):
    participant, visit, elsewhere = _phone_visit_or_redirect(request, pk, visit_pk)
    if elsewhere:
        return elsewhere
    responses = {response.instrument_id: response for response in visit.responses.all()}
    instruments = [
        (link.instrument, responses.get(link.instrument_id))
        for link in _patient_instruments(visit)
    ]
    context = {"participant": participant, "visit": visit, "instruments": instruments}
    return render(request, "participants/_worklist_phone.html", context)


@access.capability_required("follow_up")
def phone_entry(request, pk, visit_pk, slug):
    """One questionnaire read out by phone and typed in by staff."""
    participant, visit, elsewhere = _phone_visit_or_redirect(request, pk, visit_pk)
    if elsewhere:
        return elsewhere
    link = _patient_instruments(visit).filter(instrument__slug=slug).first()
    if link is None:
        raise Http404("This visit does not ask that questionnaire.")
    return _staff_entry(
        request, participant, visit, link.instrument, ResponseMode.PHONE
    )


@access.capability_required("review_duplicates")
def duplicate_list(request):
    """Possible duplicates found across clinics at enrolment, for review."""
    to_review = [
        (pair, duplicates.matched_on(pair))
        for pair in duplicates.pairs_to_review(request.user)
    ]
    context = {
        "to_review": to_review,
        "reviewed": duplicates.reviewed_pairs(request.user)[:REVIEWED_SHOWN],
    }
    return render(request, "participants/duplicates.html", context)


@access.capability_required("review_duplicates")
@require_POST
def duplicate_review(request, pk):
    pair = get_object_or_404(
        access.possible_duplicates_for(request.user).select_related(
            "participant", "other"
        ),
        pk=pk,
    )
    try:
        duplicates.review(
            pair, outcome=request.POST.get("outcome", ""), user=request.user
        )
    except DomainError as error:
        messages.error(request, error.message)
    else:
        messages.success(
            request,
            f"{pair.participant} and {pair.other}: "
            f"{pair.get_outcome_display().lower()}, recorded.",
        )
    return redirect("worklist:duplicates")
