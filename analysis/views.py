"""Analysis runs for investigators: start one, watch it, read and download tables."""

from __future__ import annotations

import csv
import io
from typing import Any

from django import forms
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from openpyxl import Workbook

from analysis import runs
from analysis.models import AnalysisRun, RunStatus
from analysis.specification import PRESETS
from participants.dashboard_views import neutralise
from studyportal import access

PRESET_LABELS = {"reference": "Reference study: self-management on partnership"}
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class StartRunForm(forms.Form):
    study = forms.ModelChoiceField(queryset=None, empty_label=None)
    preset = forms.ChoiceField(label="Analysis")

    def __init__(self, *args, user, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        studies = runs.analysis_studies(user).order_by("name")
        self.fields["study"].queryset = studies
        if studies.count() == 1:
            self.fields["study"].widget = forms.HiddenInput()
            self.fields["study"].initial = studies.first().pk
        self.fields["preset"].choices = [
            (name, PRESET_LABELS.get(name, name)) for name in PRESETS
        ]


@access.role_required(*runs.ANALYSIS_ROLES)
def run_list(request):
    form = StartRunForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        run = runs.request_run(
            study=form.cleaned_data["study"],
            preset=form.cleaned_data["preset"],
            user=request.user,
        )
        return redirect(run)
    context = {"form": form, "runs": runs.runs_for(request.user)[:50]}
    return render(request, "analysis/run_list.html", context)


@access.role_required(*runs.ANALYSIS_ROLES)
def run_detail(request, pk: int):
    run = get_object_or_404(runs.runs_for(request.user), pk=pk)
    context = {
        "run": run,
        "models": [present_model(model) for model in run.results],
    }
    return render(request, "analysis/run_detail.html", context)


def _finished_run(request, pk: int) -> AnalysisRun:
    run = get_object_or_404(runs.runs_for(request.user), pk=pk)
    if run.status != RunStatus.DONE:
        raise Http404("This run has no tables yet.")
    return run


def _download_name(run: AnalysisRun, extension: str) -> str:
    return f"{run.study.slug}-analysis-{run.pk}-tables.{extension}"


def _cells(row: tuple) -> list:
    # Numbers stay numbers; only text can smuggle a formula into a spreadsheet.
    return [neutralise(cell) if isinstance(cell, str) else cell for cell in row]


@access.role_required(*runs.ANALYSIS_ROLES)
def tables_csv(request, pk: int):
    run = _finished_run(request, pk)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(runs.TABLE_HEADER)
    writer.writerows(_cells(row) for row in runs.coefficient_rows(run.results))
    response = HttpResponse(buffer.getvalue(), content_type="text/csv; charset=utf-8")
    name = _download_name(run, "csv")
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@access.role_required(*runs.ANALYSIS_ROLES)
def tables_xlsx(request, pk: int):
    run = _finished_run(request, pk)
    book = Workbook()
    sheet = book.active
    sheet.title = "Coefficients"
    sheet.append(runs.TABLE_HEADER)
    for row in runs.coefficient_rows(run.results):
        sheet.append(_cells(row))
    buffer = io.BytesIO()
    book.save(buffer)
    response = HttpResponse(buffer.getvalue(), content_type=XLSX)
    name = _download_name(run, "xlsx")
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


# APA style: two decimals, and no leading zero where a value cannot exceed 1.
def number(value: float | None, places: int = 2) -> str:
    if value is None:
        return ""
    return f"{value:.{places}f}"


def proportion(value: float | None, places: int = 3) -> str:
    if value is None:
        return ""
    text = f"{value:.{places}f}"
    return text.replace("0.", ".", 1) if text.lstrip("-").startswith("0.") else text


def p_value(value: float | None) -> str:
    if value is None:
        return ""
    return "< .001" if value < 0.001 else proportion(value)


def present_model(model: dict[str, Any]) -> dict[str, Any]:
    """One model's results as the strings an APA table shows."""
    shown = {"name": model["name"], "outcome": model["outcome"]}
    if "error" in model:
        return {**shown, "error": model["error"]}
    names = model.get("block_names") or []
    blocks = []
    for block in model["blocks"]:
        index = block["number"] - 1
        blocks.append(
            {
                "title": f"Block {block['number']}"
                + (f": {names[index]}" if index < len(names) else ""),
                "r_squared": proportion(block["r_squared"]),
                "r_squared_change": proportion(block["r_squared_change"]),
                "f_change": number(block["f_change"]),
                "df1": block["df1"],
                "df2": block["df2"],
                "p": p_value(block["p_f_change"]),
                "rows": [
                    {
                        "term": c["term"],
                        "b": number(c["b"]),
                        "se": number(c["se"]),
                        "beta": proportion(c["beta"], 2),
                        "t": number(c["t"]),
                        "p": p_value(c["p"]),
                        "ci": f"[{number(c['ci_low'])}, {number(c['ci_high'])}]",
                    }
                    for c in block["coefficients"]
                ],
            }
        )
    diagnostics = model.get("diagnostics") or {}
    return {
        **shown,
        "n": model["n"],
        "blocks": blocks,
        "reference_levels": model.get("reference_levels") or {},
        "breusch_pagan": number(diagnostics.get("breusch_pagan")),
        "breusch_pagan_df": diagnostics.get("breusch_pagan_df"),
        "breusch_pagan_p": p_value(diagnostics.get("breusch_pagan_p")),
        "influential": [
            {"case": case["case"], "cooks_distance": number(case["cooks_distance"], 3)}
            for case in diagnostics.get("influential", [])
        ],
    }
