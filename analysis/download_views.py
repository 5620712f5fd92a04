"""Investigators' data downloads, and the log coordinators read."""

from __future__ import annotations

from csp.decorators import csp_update
from django import forms
from django.http import FileResponse, Http404, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render

from analysis import codebook, downloads, exports
from analysis.dataset import has_test_data
from analysis.exports import DATE_MODES, FORMATS, LAYOUTS, ExportRequest
from participants.enrolment import protocol_links
from participants.models import StudyPhase
from studyportal import access

IDENTIFIERS = {
    "pseudonym": "Export pseudonym (the same in every download)",
    "study_id": "Study ID",
}


RADIO = forms.RadioSelect(attrs={"class": "form-check-input"})
TICKS = forms.CheckboxSelectMultiple(attrs={"class": "form-check-input"})


class DownloadForm(forms.Form):
    layout = forms.ChoiceField(
        choices=list(LAYOUTS.items()), initial="wide", widget=RADIO
    )
    fmt = forms.ChoiceField(
        label="Format",
        choices=list(FORMATS.items()),
        initial="sav",
        widget=RADIO,
    )
    instruments = forms.MultipleChoiceField(
        label="Questionnaires",
        required=False,
        widget=TICKS,
        help_text="None ticked: all of them.",
    )
    timepoints = forms.MultipleChoiceField(
        required=False,
        widget=TICKS,
        help_text="None ticked: all of them.",
    )
    items = forms.BooleanField(label="Item responses", required=False, initial=True)
    scores = forms.BooleanField(label="Scores", required=False, initial=True)
    dates = forms.ChoiceField(
        choices=list(DATE_MODES.items()), initial="days", widget=RADIO
    )
    age_bands = forms.BooleanField(
        label="Give age in ten-year bands instead of years", required=False
    )
    identifier = forms.ChoiceField(
        label="Participant identifier",
        choices=list(IDENTIFIERS.items()),
        initial="pseudonym",
        widget=RADIO,
    )
    excel_bom = forms.BooleanField(
        label="Mark the CSV as UTF-8 for Excel (byte order mark)", required=False
    )
    include_test_data = forms.BooleanField(
        label="Include test data",
        required=False,
        help_text="The participants made up to try the study out while it was "
        "being set up; left out unless ticked.",
    )
    small_cells_understood = forms.BooleanField(
        label="I have read the warning about small groups and will not publish "
        "counts that could identify someone",
        required=False,
    )

    def __init__(self, *args, study, small_cells: list, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.study = study
        self.small_cells = small_cells
        instruments = [link.instrument for link in protocol_links(study)]
        self.fields["instruments"].choices = list(
            dict.fromkeys((each.slug, each.title) for each in instruments)
        )
        self.fields["timepoints"].choices = list(
            study.timepoints.order_by("order").values_list("code", "label")
        )
        if not study.study_ids_in_downloads:
            self.fields["identifier"].choices = [
                ("pseudonym", IDENTIFIERS["pseudonym"])
            ]
            self.fields[
                "identifier"
            ].help_text = "This study's downloads carry export pseudonyms only."
        # Offered only where it changes something: a study in set-up keeps its
        # test data anyway, and one without any has nothing to add.
        self.offers_test_data = study.phase == StudyPhase.PRODUCTION and has_test_data(
            study
        )
        if not self.offers_test_data:
            del self.fields["include_test_data"]

    def clean(self):
        data = super().clean()
        if self.small_cells and not data.get("small_cells_understood"):
            self.add_error(
                "small_cells_understood",
                "Tick this box to confirm you have read the warning above.",
            )
        if self.errors:
            return data
        try:
            data["request"] = ExportRequest(
                layout=data["layout"],
                fmt=data["fmt"],
                instruments=tuple(data["instruments"]),
                timepoints=tuple(data["timepoints"]),
                items=data["items"],
                scores=data["scores"],
                dates=data["dates"],
                age_bands=data["age_bands"],
                pseudonym=data["identifier"] == "pseudonym",
                excel_bom=data["excel_bom"],
                include_test_data=data.get("include_test_data", False),
            )
            exports.check_identifier(self.study, data["request"])
        except ValueError as error:
            self.add_error(None, str(error))
        return data


@access.capability_required("download_data")
def index(request):
    studies = list(access.studies_for(request.user, "download_data").order_by("name"))
    if len(studies) == 1:
        return redirect("analysis:downloads", study_pk=studies[0].pk)
    return render(request, "analysis/download_studies.html", {"studies": studies})


@access.capability_required("download_data")
def study_downloads(request, study_pk: int):
    studies = access.studies_for(request.user, "download_data")
    study = get_object_or_404(studies, pk=study_pk)
    small_cells = exports.small_cells(study)
    form = DownloadForm(request.POST or None, study=study, small_cells=small_cells)
    if request.method == "POST" and form.is_valid():
        download = downloads.request_download(
            study=study, request=form.cleaned_data["request"], user=request.user
        )
        if download.fmt != "csv":
            return redirect(download)
        response = StreamingHttpResponse(
            downloads.stream(download), content_type=exports.CONTENT_TYPES["csv"]
        )
        response["Content-Disposition"] = f'attachment; filename="{download.file_name}"'
        return response
    context = {
        "study": study,
        "form": form,
        "small_cells": small_cells,
        "downloads": downloads.downloads_for(request.user).filter(study=study)[:20],
    }
    return render(request, "analysis/downloads.html", context)


@access.capability_required("download_data")
def download_detail(request, pk: int):
    download = get_object_or_404(downloads.downloads_for(request.user), pk=pk)
    choices = ExportRequest.from_dict(download.request).describe()
    context = {
        "download": download,
        "choices": choices,
        "available": downloads.stored_file(download) is not None,
    }
    return render(request, "analysis/download_detail.html", context)


@access.capability_required("download_data")
def download_file(request, pk: int):
    download = get_object_or_404(downloads.downloads_for(request.user), pk=pk)
    path = downloads.stored_file(download)
    if path is None:
        raise Http404("This file is not ready, or no longer kept.")
    return FileResponse(
        path.open("rb"),
        as_attachment=True,
        filename=download.file_name,
        content_type=exports.CONTENT_TYPES[download.fmt],
    )


@access.capability_required("download_data")
@csp_update({"style-src": [codebook.CODEBOOK_STYLE_HASH]})
def download_codebook(request, pk: int):
    download = get_object_or_404(downloads.downloads_for(request.user), pk=pk)
    export = exports.prepare(download.study, ExportRequest.from_dict(download.request))
    return HttpResponse(codebook.codebook_html(export))


@access.capability_required("see_download_log")
def download_log(request):
    logged = downloads.log_for(request.user)[:500]
    rows = [(download, _summary(download)) for download in logged]
    return render(request, "analysis/download_log.html", {"rows": rows})


def _summary(download) -> str:
    """What was taken, in a few words: the choices other than the format."""
    try:
        choices = dict(ExportRequest.from_dict(download.request).describe())
    except ValueError:
        return ""
    choices.pop("Format", None)
    return "; ".join(f"{name}: {value}" for name, value in choices.items())
