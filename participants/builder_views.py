"""The study builder in the browser: set a study up, section by section."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from instruments import catalogue
from participants import builder, measures, protocol
from participants import builder_forms as bf
from participants.models import StaffMembership, Study
from studyportal import access
from studyportal.errors import DomainError


def _study(request, slug: str) -> Study:
    study = get_object_or_404(Study, slug=slug)
    if not builder.may_edit(request.user, study):
        # Someone who may not edit it learns nothing of it.
        raise Http404
    return study


def _save(request, document: dict, section: str):
    """Load the changed document: (a redirect, []) or (None, the problems)."""
    try:
        loaded = builder.save(
            document,
            user=request.user,
            note=f"Study builder: {builder.SECTIONS[section]}",
        )
    except protocol.ProtocolError as error:
        return None, error.problems
    if loaded.version is None:
        messages.info(request, "Nothing changed.")
    else:
        messages.success(
            request,
            f"{builder.SECTIONS[section]} saved as protocol version "
            f"{loaded.version.number}.",
        )
    return redirect("setup:study", slug=loaded.study.slug), []


@login_required
def index(request):
    studies = builder.editable_studies(request.user).order_by("name")
    creates = access.can(request.user, "administer")
    if not creates and not studies.exists():
        raise PermissionDenied("Only administrators set studies up.")
    form = bf.NewStudyForm(request.POST or None) if creates else None
    if request.method == "POST":
        if form is None:
            raise PermissionDenied("Only administrators create studies.")
        if form.is_valid():
            try:
                study = builder.create_study(user=request.user, **form.cleaned_data)
            except DomainError as error:
                form.add_error(error.field, error.message)
            except protocol.ProtocolError as error:
                for problem in error.problems:
                    form.add_error(None, problem)
            else:
                messages.success(request, f"{study.short_name} created.")
                return redirect("setup:study", slug=study.slug)
    return render(request, "setup/index.html", {"studies": studies, "form": form})


@login_required
def study(request, slug: str):
    study = _study(request, slug)
    document = builder.document_of(study)
    context = {
        "study": study,
        "document": document,
        "sections": builder.SECTIONS,
        "versions": study.protocol_versions.select_related("created_by")[:10],
        "members": StaffMembership.objects.filter(study=study).select_related(
            "user", "site"
        ),
    }
    return render(request, "setup/study.html", context)


@login_required
def download(request, slug: str):
    study = _study(request, slug)
    response = HttpResponse(
        protocol.export_yaml(study), content_type="application/yaml; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="{study.slug}.yaml"'
    return response


def _page(request, study, section, form, **extra):
    context = {
        "study": study,
        "section": section,
        "heading": builder.SECTIONS[section],
        "form": form,
        **extra,
    }
    return render(request, f"setup/{section}.html", context)


@login_required
def details(request, slug: str):
    study = _study(request, slug)
    document = builder.document_of(study)
    admin = access.can(request.user, "administer")
    form = bf.DetailsForm(request.POST or None, initial=document, admin=admin)
    problems = []
    if request.method == "POST" and form.is_valid():
        document.update(form.cleaned_data)
        saved, problems = _save(request, document, "details")
        if saved:
            return saved
    return _page(request, study, "details", form, problems=problems)


def _formset_page(request, slug, section, formset_class, key, to_rows, from_rows):
    study = _study(request, slug)
    document = builder.document_of(study)
    formset = formset_class(request.POST or None, initial=to_rows(document[key]))
    problems = []
    if request.method == "POST" and formset.is_valid():
        rows = [
            {k: v for k, v in row.items() if k != "DELETE"}
            for row in bf.filled_forms(formset)
        ]
        document[key] = from_rows(rows, document[key])
        saved, problems = _save(request, document, section)
        if saved:
            return saved
    return _page(request, study, section, formset, problems=problems)


@login_required
def sites(request, slug: str):
    return _formset_page(
        request,
        slug,
        "sites",
        bf.SiteFormSet,
        "sites",
        lambda rows: rows,
        lambda rows, _: rows,
    )


@login_required
def timepoints(request, slug: str):
    def merge(rows, before):
        # The questionnaires stay with the timepoint of the same code.
        instruments = {tp["code"]: tp.get("instruments", []) for tp in before}
        return [
            {**row, "instruments": instruments.get(row["code"], [])}
            for row in sorted(rows, key=lambda row: row["day"])
        ]

    return _formset_page(
        request,
        slug,
        "timepoints",
        bf.TimepointFormSet,
        "timepoints",
        lambda rows: [
            {k: v for k, v in row.items() if k != "instruments"} for row in rows
        ],
        merge,
    )


@login_required
def eligibility(request, slug: str):
    return _formset_page(
        request,
        slug,
        "eligibility",
        bf.CriterionFormSet,
        "eligibility",
        lambda rows: rows,
        lambda rows, _: rows,
    )


@login_required
def questionnaires(request, slug: str):
    study = _study(request, slug)
    document = builder.document_of(study)
    library = sorted(
        catalogue.library().values(), key=lambda definition: definition.title
    )
    problems = []
    if request.method == "POST":
        for timepoint in document["timepoints"]:
            chosen = []
            for definition in library:
                name = f"{timepoint['code']}-{definition.slug}"
                if request.POST.get(name) == "on":
                    try:
                        order = int(request.POST.get(f"{name}-order") or 99)
                    except ValueError:
                        order = 99
                    chosen.append((order, definition.slug))
            timepoint["instruments"] = [slug for _, slug in sorted(chosen)]
        saved, problems = _save(request, document, "questionnaires")
        if saved:
            return saved
    rows = [
        {
            "timepoint": timepoint,
            "choices": [
                {
                    "definition": definition,
                    "name": f"{timepoint['code']}-{definition.slug}",
                    "chosen": definition.slug in timepoint["instruments"],
                    "order": (
                        timepoint["instruments"].index(definition.slug) + 1
                        if definition.slug in timepoint["instruments"]
                        else ""
                    ),
                }
                for definition in library
            ],
        }
        for timepoint in document["timepoints"]
    ]
    return _page(request, study, "questionnaires", None, rows=rows, problems=problems)


@login_required
def consent(request, slug: str):
    study = _study(request, slug)
    document = builder.document_of(study)
    current = next(form for form in document["consent"] if form["current"])
    form = bf.ConsentForm(request.POST or None, initial=current, prefix="form")
    statements = bf.StatementFormSet(
        request.POST or None, initial=current["statements"], prefix="statements"
    )
    problems = []
    if request.method == "POST" and form.is_valid() and statements.is_valid():
        current.update(form.cleaned_data)
        current["statements"] = [
            {k: v for k, v in row.items() if k != "DELETE"}
            for row in bf.filled_forms(statements)
        ]
        saved, problems = _save(request, document, "consent")
        if saved:
            return saved
    signed = study.consent_forms.filter(
        version=current["version"], records__isnull=False
    ).exists()
    return _page(
        request,
        study,
        "consent",
        form,
        statements=statements,
        version=current["version"],
        signed=signed,
        problems=problems,
    )


@login_required
@require_POST
def new_consent_version(request, slug: str):
    study = _study(request, slug)
    document = builder.new_consent_version(builder.document_of(study))
    saved, problems = _save(request, document, "consent")
    for problem in problems:
        messages.error(request, problem)
    return redirect(reverse("setup:consent", args=[study.slug]))


@login_required
def reminders(request, slug: str):
    study = _study(request, slug)
    document = builder.document_of(study)
    form = bf.RemindersForm(request.POST or None, initial=document["reminders"])
    problems = []
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        document["reminders"] = {
            **data,
            **{
                name: data[name].strftime("%H:%M")
                for name in ("send_time", "quiet_from", "quiet_until")
            },
        }
        saved, problems = _save(request, document, "reminders")
        if saved:
            return saved
    return _page(request, study, "reminders", form, problems=problems)


@login_required
def measures_page(request, slug: str):
    study = _study(request, slug)
    document = builder.document_of(study)
    variables = measures.protocol_variables(protocol.from_data(document, source=slug))
    first = document["timepoints"][0]["code"]
    current = document["measures"]
    initial = {
        "key_measures": current["key_measures"],
        **current["characteristics"],
        "presets": _as_yaml(current["presets"]),
        "sampling_strata": _as_yaml(current["sampling_strata"]),
    }
    form = bf.MeasuresForm(
        request.POST or None,
        initial=initial,
        first_timepoint=variables.per_timepoint.get(first, set()),
        characteristics=variables.characteristics,
    )
    problems = []
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        document["measures"] = {
            "key_measures": data["key_measures"],
            "characteristics": {
                name: data[name] or None for name in ("sex", "age", "education")
            },
            "presets": data["presets"],
            "sampling_strata": data["sampling_strata"],
        }
        saved, problems = _save(request, document, "measures")
        if saved:
            return saved
    return _page(
        request,
        study,
        "measures",
        form,
        columns=sorted(variables.columns()),
        problems=problems,
    )


def _as_yaml(value) -> str:
    import yaml

    return yaml.safe_dump(value, sort_keys=False, allow_unicode=True) if value else ""


@login_required
def team(request, slug: str):
    study = _study(request, slug)
    sites = list(study.sites.order_by("code"))
    form = bf.MemberForm(request.POST or None, sites=sites)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            builder.add_member(
                study=study, user=data["username"], role=data["role"], site=data["site"]
            )
        except DomainError as error:
            form.add_error(error.field, error.message)
        else:
            messages.success(request, f"{data['username']} added to the team.")
            return redirect("setup:team", slug=study.slug)
    members = StaffMembership.objects.filter(study=study).select_related("user", "site")
    return _page(request, study, "team", form, members=members)


@login_required
@require_POST
def remove_member(request, slug: str, pk: int):
    study = _study(request, slug)
    membership = get_object_or_404(StaffMembership, pk=pk, study=study)
    membership.delete()
    messages.success(request, f"{membership.user} no longer has that role.")
    return redirect("setup:team", slug=study.slug)
