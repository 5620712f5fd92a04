import json

from django.contrib import messages
from django.db import transaction
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render

from instruments import catalogue, redcap, scoring
from instruments.forms import InstrumentForm
from instruments.models import Instrument, InstrumentVersion
from instruments.uploads import DictionaryUploadForm
from studyportal.access import capability_required


@capability_required("view_instruments")
def instrument_list(request):
    instruments = Instrument.objects.prefetch_related("versions")
    return render(request, "instruments/list.html", {"instruments": instruments})


@capability_required("view_instruments")
def instrument_detail(request, slug):
    instrument = get_object_or_404(Instrument, slug=slug)
    versions = instrument.versions.order_by("-number")
    latest = versions.first()
    context = {
        "instrument": instrument,
        "versions": versions,
        "latest": latest,
        "definition": latest.parsed if latest else None,
    }
    return render(request, "instruments/detail.html", context)


@capability_required("view_instruments")
def instrument_preview(request, slug, number):
    version = get_object_or_404(
        InstrumentVersion.objects.select_related("instrument"),
        instrument__slug=slug,
        number=number,
    )
    definition = version.parsed
    scores, answers = None, None
    if request.method == "POST":
        form = InstrumentForm(request.POST, definition=definition)
        if form.is_valid():
            answers = form.all_answers()
            scores = scoring.score_answers(definition, answers).values()
    else:
        form = InstrumentForm(definition=definition)
    context = {
        "version": version,
        "definition": definition,
        "form": form,
        "scores": scores,
        "answers_json": json.dumps(answers, indent=2) if answers is not None else "",
    }
    return render(request, "instruments/preview.html", context)


@capability_required("view_instruments")
def dictionary_download(request, slug, number):
    """The data dictionary for people: safe to open in a spreadsheet."""
    version = get_object_or_404(InstrumentVersion, instrument__slug=slug, number=number)
    return _csv_attachment(
        redcap.readable_dictionary(version.parsed),
        f"{slug}_v{number}_data_dictionary.csv",
    )


@capability_required("manage_instruments")
def dictionary_round_trip(request, slug, number):
    """The data dictionary verbatim, for importing back into REDCap."""
    version = get_object_or_404(InstrumentVersion, instrument__slug=slug, number=number)
    return _csv_attachment(
        redcap.export_dictionary(version.parsed),
        f"{slug}_v{number}_data_dictionary_for_redcap.csv",
    )


def _csv_attachment(text: str, filename: str) -> HttpResponse:
    response = HttpResponse(text, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@capability_required("manage_instruments")
def dictionary_upload(request):
    problems = []
    if request.method == "POST":
        form = DictionaryUploadForm(request.POST, request.FILES)
        if form.is_valid():
            try:
                definitions = redcap.import_dictionary(
                    form.cleaned_data["text"], slug=form.cleaned_data["slug"] or None
                )
            except redcap.DictionaryError as exc:
                problems = [str(problem) for problem in exc.problems]
            else:
                name = form.cleaned_data["file"].name
                with transaction.atomic():
                    results = [
                        catalogue.register(definition, source=f"import:{name}")
                        for definition in definitions
                    ]
                for result in results:
                    version = result.version
                    state = "imported as" if result.created else "already stored as"
                    title = version.instrument.title
                    messages.success(
                        request, f"{title}: {state} version {version.number}."
                    )
                if len(results) == 1:
                    return redirect(results[0].version.instrument)
                return redirect("instruments:list")
    else:
        form = DictionaryUploadForm()
    return render(
        request, "instruments/upload.html", {"form": form, "problems": problems}
    )
