from __future__ import annotations

import segno
from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Exists, OuterRef
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from instruments import questionnaire
from instruments import responses as response_service
from instruments.forms import InstrumentForm
from instruments.models import Instrument, ResponseMode
from participants import (
    audit,
    consent,
    enrolment,
    links,
    messaging,
    screening,
    tablet,
    withdrawal,
)
from participants.contacts import search_filter
from participants.duplicates import duplicates_to_confirm
from participants.forms import (
    ConsentFormForm,
    ContactForm,
    ParticipantFilterForm,
    ReactivationForm,
    ScreeningForm,
    WithdrawalForm,
)
from participants.models import (
    ParticipantContact,
    ParticipantStatus,
    ScreeningOutcome,
    Visit,
    VisitStatus,
)
from studyportal import access
from studyportal.errors import DomainError


def _screening_or_404(request, pk):
    allowed = access.screenings_for(request.user).filter(
        site__in=access.enrolment_sites(request.user)
    )
    return get_object_or_404(allowed.select_related("site", "study"), pk=pk)


def _participant_or_404(request, pk):
    return get_object_or_404(
        access.participants_for(request.user).select_related("site", "study"), pk=pk
    )


# ---------------------------------------------------------------------------
# Screening, consent, enrolment


@access.capability_required("screen_and_enrol")
def screening_list(request):
    records = access.screenings_for(request.user).select_related("site")
    page = Paginator(records, 50).get_page(request.GET.get("page"))
    return render(request, "participants/screening_list.html", {"page": page})


@access.capability_required("screen_and_enrol")
def screening_new(request):
    sites = access.enrolment_sites(request.user)
    if not sites.exists():
        raise Http404("You are not clinic staff at any site.")
    study = sites.first().study
    criteria = study.criteria.all()
    form = ScreeningForm(request.POST or None, sites=sites, criteria=criteria)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            record = screening.record_screening(
                site=data["site"],
                screened_on=data["screened_on"],
                criteria_met=form.criteria_met(),
                outcome=data["outcome"] or None,
                decline_reason=data["decline_reason"],
                decline_detail=data["decline_detail"],
                user=request.user,
                today=timezone.localdate(),
            )
        except DomainError as error:
            form.add_domain_error(error)
        else:
            if record.outcome == ScreeningOutcome.CONSENTING:
                return redirect("participants:consent", pk=record.pk)
            messages.success(
                request,
                f"Screening saved: {record.get_outcome_display().lower()}.",
            )
            return redirect("participants:screening_list")
    return render(request, "participants/screening_form.html", {"form": form})


@access.capability_required("screen_and_enrol")
def consent_take(request, pk):
    record = _screening_or_404(request, pk)
    if record.outcome not in (ScreeningOutcome.CONSENTING, ScreeningOutcome.CONSENTED):
        messages.info(request, "This screening does not lead to consent.")
        return redirect("participants:screening_list")
    if record.outcome == ScreeningOutcome.CONSENTED:
        return redirect("participants:enrol", pk=record.pk)
    return _take_consent(
        request,
        screening=record,
        participant=None,
        done=redirect("participants:enrol", pk=record.pk),
        failed=redirect("participants:screening_list"),
    )


def _take_consent(request, *, screening, participant, done, failed):
    """The consent page, for a first consent or a participant's re-consent."""
    try:
        consent_form = consent.current_form(screening.study)
    except DomainError as error:
        messages.error(request, error.message)
        return failed
    form = ConsentFormForm(
        request.POST or None, request.FILES or None, consent_form=consent_form
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            consent.record_consent(
                screening=screening,
                participant=participant,
                form=consent_form,
                method=data["method"],
                agreed=form.agreed(),
                consented_on=data["consented_on"],
                taken_by=request.user,
                today=timezone.localdate(),
                typed_name=data["typed_name"],
                scanned_form=data["scanned_form"],
            )
        except DomainError as error:
            form.add_domain_error(error)
        else:
            messages.success(request, f"Consent to {consent_form} recorded.")
            return done
    context = {
        "form": form,
        "record": screening,
        "consent_form": consent_form,
        "participant": participant,
    }
    return render(request, "participants/consent_form.html", context)


@access.capability_required("screen_and_enrol")
def enrol(request, pk):
    record = _screening_or_404(request, pk)
    if record.outcome == ScreeningOutcome.ENROLLED:
        messages.info(request, f"Already enrolled as {record.participant.code}.")
        return redirect(record.participant)
    if record.outcome != ScreeningOutcome.CONSENTED:
        return redirect("participants:consent", pk=record.pk)
    slug = enrolment.characteristics_instrument_slug(record.study)
    definition = None
    if slug:
        definition = Instrument.objects.get(slug=slug).latest_version().parsed
    data = request.POST or None
    contact_form = ContactForm(data, prefix="contact")
    characteristics_form = (
        InstrumentForm(data, definition=definition, prefix="characteristics")
        if definition
        else None
    )
    duplicates = []
    if request.method == "POST":
        valid = contact_form.is_valid()
        valid = (
            characteristics_form is None or characteristics_form.is_valid()
        ) and valid
        if valid:
            details = contact_form.details()
            # Matches at clinics the user cannot see go to the coordinators.
            duplicates = duplicates_to_confirm(request.user, record.study, details)
            confirmed = request.POST.get("not_a_duplicate") == "yes"
            if not duplicates or confirmed:
                try:
                    participant = enrolment.enrol(
                        screening=record,
                        contact=details,
                        characteristics=(
                            characteristics_form.all_answers()
                            if characteristics_form
                            else None
                        ),
                        user=request.user,
                        today=timezone.localdate(),
                    )
                except DomainError as error:
                    contact_form.add_domain_error(error)
                else:
                    messages.success(request, f"Enrolled as {participant.code}.")
                    return redirect("participants:handover", pk=participant.pk)
    context = {
        "record": record,
        "contact_form": contact_form,
        "characteristics_form": characteristics_form,
        "duplicates": duplicates,
    }
    return render(request, "participants/enrol_form.html", context)


# ---------------------------------------------------------------------------
# Participants


@access.capability_required("see_contact_details")
def participant_list(request):
    sites = access.sites_for(request.user, "see_contact_details")
    form = ParticipantFilterForm(request.GET or None, sites=sites)
    participants = access.participants_for(request.user).select_related("site")
    if form.is_valid():
        data = form.cleaned_data
        if data["q"]:
            participants = participants.filter(search_filter(data["q"]))
        if data["status"]:
            participants = participants.filter(status=data["status"])
        if data["site"]:
            participants = participants.filter(site=data["site"])
        today = timezone.localdate()
        if data["due"] == "open":
            open_visits = Visit.objects.filter(
                participant=OuterRef("pk"), status=VisitStatus.OPEN
            )
            participants = participants.filter(Exists(open_visits))
        elif data["due"] == "overdue":
            overdue = Visit.objects.filter(
                participant=OuterRef("pk"), status=VisitStatus.OPEN, due_on__lt=today
            )
            participants = participants.filter(Exists(overdue))
    participants = participants.prefetch_related("visits__timepoint").select_related(
        "contact"
    )
    page = Paginator(participants, 50).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    context = {"form": form, "page": page, "query": query.urlencode()}
    return render(request, "participants/participant_list.html", context)


@access.capability_required("see_contact_details")
def participant_detail(request, pk):
    participant = _participant_or_404(request, pk)
    contact = ParticipantContact.objects.filter(participant=participant).first()
    if contact is not None:
        audit.log_contact_view(participant, request.user, request.path)
    visits = participant.visits.select_related("timepoint").prefetch_related(
        "responses__instrument",
        "messages",
        "timepoint__instruments__instrument",
        "contact_attempts__made_by",
    )
    context = {
        "participant": participant,
        "contact": contact,
        "visits": visits,
        "consents": [
            (record, consent.stored_scan_kind(record))
            for record in participant.consents.select_related("form", "taken_by")
        ],
        "needs_reconsent": consent.needs_reconsent(participant),
    }
    return render(request, "participants/participant_detail.html", context)


@require_http_methods(["GET"])
@access.capability_required("see_contact_details")
def consent_scan(request, pk, consent_pk):
    """The scanned paper consent form, always as a download, and logged."""
    participant = _participant_or_404(request, pk)
    record = get_object_or_404(
        participant.consents.exclude(scanned_form=""), pk=consent_pk
    )
    kind = consent.stored_scan_kind(record)
    if kind is None:
        raise Http404("The scanned form cannot be read; ask the administrator.")
    audit.log_contact_view(participant, request.user, request.path, consent=record)
    response = FileResponse(
        record.scanned_form.open("rb"),
        as_attachment=True,
        filename=f"{participant.code}-consent-{record.pk}{kind.extensions[0]}",
        content_type=kind.content_type,
    )
    # It bears the patient's name and signature: no copy in any cache.
    response["Cache-Control"] = "no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response


@access.capability_required("follow_up")
def handover(request, pk):
    """After enrolment: questionnaire now on this device, by message, or by letter."""
    participant = _participant_or_404(request, pk)
    visit = participant.visits.filter(status=VisitStatus.OPEN).first()
    channels = messaging.channels_for(visit) if visit else []
    if request.method == "POST" and visit is not None:
        action = request.POST.get("action")
        if action == "tablet":
            token = links.issue_token(visit)
            tablet.start(request, visit)
            return redirect(links.questionnaire_path(token))
        if action == "send" and channels:
            messaging.queue_invitation(visit)
            how = " and ".join(
                "email" if c == "email" else "text message" for c in channels
            )
            messages.success(request, f"The link is on its way by {how}.")
            return redirect(participant)
    context = {"participant": participant, "visit": visit, "channels": channels}
    return render(request, "participants/handover.html", context)


@access.capability_required("follow_up")
def letter(request, pk):
    """A printable letter with a fresh personal link and its QR code.

    Only a POST makes one, because a new link retires the one sent before.
    """
    participant = _participant_or_404(request, pk)
    if request.method != "POST":
        return redirect("participants:handover", pk=participant.pk)
    visit = participant.visits.filter(status=VisitStatus.OPEN).first()
    if visit is None:
        messages.info(request, "No visit is open, so there is no link to print.")
        return redirect(participant)
    url = links.questionnaire_url(links.issue_token(visit))
    qr = segno.make(url, error="m").svg_inline(scale=4, title="QR code of the link")
    audit.log_contact_view(participant, request.user, request.path)
    context = {"participant": participant, "visit": visit, "url": url, "qr": qr}
    return render(request, "participants/letter.html", context)


@access.capability_required("see_contact_details")
def contact_edit(request, pk):
    participant = _participant_or_404(request, pk)
    contact = participant.contact
    initial = {
        "full_name": contact.full_name,
        "email": contact.email,
        "mobile": contact.mobile,
        "preferred_channel": contact.preferred_channel,
        "time_zone": contact.time_zone,
        "date_of_birth": contact.date_of_birth,
    }
    form = ContactForm(request.POST or None, initial=initial)
    audit.log_contact_view(participant, request.user, request.path)
    if request.method == "POST" and form.is_valid():
        try:
            audit.update_contact(participant, form.details())
        except DomainError as error:
            form.add_domain_error(error)
        else:
            messages.success(request, "Contact details saved.")
            return redirect(participant)
    context = {
        "participant": participant,
        "form": form,
        "heading": "Contact details",
        "button": "Save contact details",
    }
    return render(request, "participants/contact_form.html", context)


@access.capability_required("enter_answers")
def characteristics_edit(request, pk):
    participant = _participant_or_404(request, pk)
    slug = enrolment.characteristics_instrument_slug(participant)
    visit = participant.visits.order_by("timepoint__order").first()
    if not slug or visit is None:
        raise Http404("This study has no staff-entered characteristics.")
    instrument = get_object_or_404(Instrument, slug=slug)
    return _staff_entry(request, participant, visit, instrument, ResponseMode.STAFF)


@access.capability_required("enter_answers")
def paper_entry(request, pk, visit_pk, slug):
    """Staff type in a paper questionnaire, through the patient's own form."""
    participant = _participant_or_404(request, pk)
    visit = get_object_or_404(
        participant.visits.select_related("timepoint"), pk=visit_pk
    )
    link = get_object_or_404(
        visit.timepoint.instruments.select_related("instrument"), instrument__slug=slug
    )
    return _staff_entry(
        request, participant, visit, link.instrument, ResponseMode.PAPER
    )


def _staff_entry(request, participant, visit, instrument, mode):
    """One instrument's answers entered or corrected by staff at one visit."""
    response = visit.responses.filter(instrument=instrument).first()
    if (
        response is not None
        and response.is_submitted
        and response.mode
        in (
            ResponseMode.WEB,
            ResponseMode.TABLET,
        )
    ):
        messages.info(request, "The participant submitted this; it cannot be changed.")
        return redirect(participant)
    version = response.instrument_version if response else instrument.latest_version()
    form = InstrumentForm(
        request.POST or None,
        definition=version.parsed,
        answers=response.answers if response else {},
    )
    if request.method == "POST" and form.is_valid():
        try:
            response_service.record_staff_entry(
                visit=visit,
                slug=instrument.slug,
                answers=form.all_answers(),
                user=request.user,
                mode=mode,
            )
        except DomainError as error:
            form.add_error(None, error.message)
        else:
            questionnaire.complete_if_all_submitted(visit)
            messages.success(request, f"{version.parsed.title}: answers saved.")
            return redirect(participant)
    context = {
        "participant": participant,
        "form": form,
        "definition": version.parsed,
        "visit": visit,
        "paper": mode == ResponseMode.PAPER,
    }
    return render(request, "participants/characteristics_form.html", context)


@access.capability_required("screen_and_enrol")
def reconsent(request, pk):
    """Consent again to a newer consent form version."""
    participant = _participant_or_404(request, pk)
    return _take_consent(
        request,
        screening=participant.screening,
        participant=participant,
        done=redirect(participant),
        failed=redirect(participant),
    )


@access.capability_required("follow_up")
def withdraw(request, pk):
    participant = _participant_or_404(request, pk)
    if participant.status == ParticipantStatus.WITHDRAWN:
        messages.info(request, f"{participant.code} has already withdrawn.")
        return redirect(participant)
    form = WithdrawalForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            withdrawal.withdraw(
                participant,
                withdrawn_on=data["withdrawn_on"],
                reason=data["reason"],
                detail=data["detail"],
                keep_data=data["keep_data"],
                today=timezone.localdate(),
            )
        except DomainError as error:
            form.add_domain_error(error)
        else:
            messages.success(
                request,
                f"{participant.code} has withdrawn; no more messages will be sent.",
            )
            return redirect(participant)
    context = {
        "participant": participant,
        "form": form,
        "heading": f"Record the withdrawal of {participant.code}",
        "button": "Record withdrawal",
        "button_class": "btn-danger",
    }
    return render(request, "participants/withdraw_form.html", context)


@access.capability_required("mark_lost_or_reactivate")
def reactivate(request, pk):
    participant = _participant_or_404(request, pk)
    form = ReactivationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            withdrawal.reactivate(
                participant,
                reason=form.cleaned_data["reason"],
                today=timezone.localdate(),
            )
        except DomainError as error:
            form.add_domain_error(error)
        else:
            messages.success(request, f"{participant.code} is active again.")
            return redirect(participant)
    context = {
        "participant": participant,
        "form": form,
        "heading": f"Re-activate {participant.code}",
        "button": "Re-activate",
    }
    return render(request, "participants/reactivate_form.html", context)


@require_http_methods(["GET"])
@access.capability_required("see_history")
def history(request, pk):
    participant = _participant_or_404(request, pk)
    context = {
        "participant": participant,
        "changes": audit.changes_for(participant),
        "views": participant.contact_views.select_related("viewed_by", "consent__form")[
            :200
        ],
    }
    return render(request, "participants/history.html", context)
