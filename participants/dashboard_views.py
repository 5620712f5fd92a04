"""The retention dashboard, its CONSORT downloads and the participant tracker."""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Iterable, Iterator

from django import forms
from django.core.exceptions import PermissionDenied
from django.db.models import Count, IntegerField, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.http import HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone

from participants import consort, followup, retention
from participants.followup import FollowUpState
from participants.models import (
    ContactAttempt,
    MessageKind,
    MessageStatus,
    OutboundMessage,
    ParticipantStatus,
    Site,
    Study,
    Visit,
)
from studyportal import access
from studyportal.spreadsheets import neutralise


class DashboardFilterForm(forms.Form):
    study = forms.ModelChoiceField(queryset=Study.objects.none(), required=False)
    site = forms.ModelChoiceField(
        queryset=Site.objects.none(), required=False, empty_label="All clinics"
    )
    enrolled_from = forms.DateField(
        label="Enrolled from",
        required=False,
        widget=forms.DateInput(attrs={"type": "date", "class": "form-control"}),
        error_messages={"invalid": "Enter the ‘enrolled from’ date as YYYY-MM-DD."},
    )
    enrolled_to = forms.DateField(
        label="Enrolled to",
        required=False,
        widget=forms.DateInput(attrs={"type": "date", "class": "form-control"}),
        error_messages={"invalid": "Enter the ‘enrolled to’ date as YYYY-MM-DD."},
    )

    def __init__(self, data, *, sites: list[Site]):
        super().__init__(data)
        self.sites = sites
        study_ids = {site.study_id for site in sites}
        self.fields["study"].queryset = Study.objects.filter(pk__in=study_ids)
        self.fields["study"].empty_label = None
        self.fields["study"].widget.attrs["class"] = "form-select"
        self.fields["site"].queryset = Site.objects.filter(
            pk__in=[site.pk for site in sites]
        )
        self.fields["site"].widget.attrs["class"] = "form-select"

    def clean(self):
        data = super().clean()
        start, end = data.get("enrolled_from"), data.get("enrolled_to")
        if start and end and start > end:
            raise forms.ValidationError(
                "The ‘enrolled from’ date must be on or before the ‘enrolled to’ date."
            )
        return data

    def scope(self) -> retention.Scope | None:
        """The filtered scope; with invalid input, every allowed site and date."""
        if not self.sites:
            return None
        data = self.cleaned_data if self.is_valid() else {}
        study = data.get("study") or min(
            (site.study for site in self.sites), key=lambda study: study.pk
        )
        sites = [site for site in self.sites if site.study_id == study.pk]
        if data.get("site") and data["site"].study_id == study.pk:
            sites = [site for site in sites if site.pk == data["site"].pk]
        return retention.Scope(
            study=study,
            sites=tuple(sites),
            enrolled_from=data.get("enrolled_from"),
            enrolled_to=data.get("enrolled_to"),
        )


def _filter_form(request, capability: str) -> DashboardFilterForm:
    sites = list(
        access.sites_for(request.user, capability)
        .select_related("study")
        .order_by("study_id", "code")
    )
    return DashboardFilterForm(request.GET or None, sites=sites)


@access.capability_required("see_retention")
def dashboard(request):
    form = _filter_form(request, "see_retention")
    scope = form.scope()
    context = {"form": form, "scope": scope, "query": request.GET.urlencode()}
    if scope is not None:
        context |= _figures(scope)
    return render(request, "participants/dashboard.html", context)


def _figures(scope: retention.Scope) -> dict:
    today = timezone.localdate()
    timepoints = list(scope.study.timepoints.order_by("order"))
    months, total = retention.retention_by_month(
        scope, timepoints=timepoints, today=today
    )
    recruitment = retention.recruitment(months, target=scope.study.recruitment_target)
    visits = retention.visit_counts(scope, timepoints=timepoints, today=today)
    counts = consort.consort_counts(scope, timepoints=timepoints, today=today)
    followup_label = timepoints[-1].label if len(timepoints) > 1 else "Follow-up"
    return {
        "today": today,
        "timepoints": timepoints,
        "visit_tables": [
            (timepoint, [row for row in visits if row.timepoint == timepoint])
            for timepoint in timepoints
        ],
        "overdue": sum(row.overdue for row in visits if row.site is None),
        "statuses": retention.participant_status_counts(scope),
        "retention_months": months,
        "retention_total": total,
        "retention_chart": retention.retention_chart(months) if months else "",
        "recruitment": recruitment,
        "recruitment_chart": (
            retention.recruitment_chart(recruitment) if recruitment.months else ""
        ),
        "reminders": retention.reminder_effect(scope),
        "attrition": retention.attrition(
            scope, timepoints=timepoints, today=today, people=counts.followup
        ),
        "consort": counts,
        "consort_svg": consort.consort_svg(counts, followup_label=followup_label),
        "followup_label": followup_label,
    }


# ---------------------------------------------------------------------------
# Downloads


def _consort_download(request, extension: str) -> HttpResponse:
    form = _filter_form(request, "download_consort")
    scope = form.scope()
    if scope is None:
        raise PermissionDenied("You have no sites in any study.")
    timepoints = list(scope.study.timepoints.order_by("order"))
    counts = consort.consort_counts(
        scope, timepoints=timepoints, today=timezone.localdate()
    )
    label = timepoints[-1].label if len(timepoints) > 1 else "Follow-up"
    if extension == "svg":
        body = '<?xml version="1.0" encoding="utf-8"?>\n' + consort.consort_svg(
            counts, followup_label=label
        )
        response = HttpResponse(body, content_type="image/svg+xml; charset=utf-8")
    else:
        response = HttpResponse(
            consort.consort_png(counts, followup_label=label), content_type="image/png"
        )
    name = consort.download_name(scope, extension, today=timezone.localdate())
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@access.capability_required("download_consort")
def consort_svg(request):
    return _consort_download(request, "svg")


@access.capability_required("download_consort")
def consort_png(request):
    return _consort_download(request, "png")


class _Echo:
    def write(self, value: str) -> str:
        return value


@access.capability_required("download_tracker")
def tracker_csv(request):
    """One row per participant: study ID, visits, last message; no contact details."""
    form = _filter_form(request, "download_tracker")
    scope = form.scope()
    if scope is None:
        raise PermissionDenied("You coordinate no sites.")
    timepoints = list(scope.study.timepoints.order_by("order"))
    writer = csv.writer(_Echo())
    header = ["Study ID", "Site", "Status", "Enrolled on"]
    for timepoint in timepoints:
        header += [
            f"{timepoint.code} status",
            f"{timepoint.code} due",
            f"{timepoint.code} completed",
        ]
    header += ["Last message", "Last message sent", "Contact attempts"]
    rows = _chain(
        [header], _tracker_rows(scope, timepoints, today=timezone.localdate())
    )
    response = StreamingHttpResponse(
        (writer.writerow([neutralise(cell) for cell in row]) for row in rows),
        content_type="text/csv; charset=utf-8",
    )
    name = f"{scope.study.slug}-tracker-{timezone.localdate().isoformat()}.csv"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


def _chain(first: Iterable[list], rest: Iterable[list]) -> Iterator[list]:
    yield from first
    yield from rest


def _tracker_rows(
    scope: retention.Scope, timepoints, *, today: dt.date
) -> Iterator[list]:
    """A visit's status is its follow-up state, as on the dashboard."""
    participants: QuerySet = scope.participants()
    columns = ["code", "site__code", "status", "enrolled_on"]
    for index, timepoint in enumerate(timepoints):
        visit = Visit.objects.filter(
            participant=OuterRef("pk"), timepoint=timepoint
        ).order_by()
        participants = participants.annotate(
            **{
                f"v{index}_status": followup.state_at(timepoint, today=today),
                f"v{index}_due": Subquery(visit.values("due_on")[:1]),
                f"v{index}_completed": Subquery(visit.values("completed_at")[:1]),
            }
        )
        columns += [f"v{index}_status", f"v{index}_due", f"v{index}_completed"]
    last_message = OutboundMessage.objects.filter(
        visit__participant=OuterRef("pk"), status=MessageStatus.SENT
    ).order_by("-sent_at", "-pk")
    attempts = (
        ContactAttempt.objects.filter(visit__participant=OuterRef("pk"))
        .order_by()
        .values("visit__participant")
        .annotate(n=Count("id"))
        .values("n")
    )
    participants = participants.annotate(
        last_kind=Subquery(last_message.values("kind")[:1]),
        last_sent=Subquery(last_message.values("sent_at")[:1]),
        attempts=Coalesce(Subquery(attempts, output_field=IntegerField()), 0),
    )
    columns += ["last_kind", "last_sent", "attempts"]
    participant_status = dict(ParticipantStatus.choices)
    visit_status = dict(FollowUpState.choices)
    kinds = dict(MessageKind.choices)
    rows = participants.order_by("site__code", "code").values_list(*columns)
    for row in rows.iterator(chunk_size=2000):
        code, site, status, enrolled_on, *visits = row
        *visits, last_kind, last_sent, attempts = visits
        cells = [code, site, participant_status.get(status, status), enrolled_on]
        for index in range(0, len(visits), 3):
            v_status, due, completed = visits[index : index + 3]
            cells += [
                visit_status.get(v_status, v_status or ""),
                due or "",
                timezone.localdate(completed) if completed else "",
            ]
        cells += [
            kinds.get(last_kind, last_kind or ""),
            timezone.localtime(last_sent).strftime("%Y-%m-%d %H:%M")
            if last_sent
            else "",
            attempts,
        ]
        yield cells
