"""Analysis runs for investigators: start one, watch it, read and download tables."""

from __future__ import annotations

import re
from typing import Any

from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from analysis import runs
from analysis.dataset import variable_catalogue
from analysis.forms import SpecificationForm, StartRunForm, initial_from
from analysis.models import AnalysisRun, RunStatus
from analysis.presets import study_presets
from analysis.specification import ModelSpec
from studyportal import access
from studyportal.ids import parse_id
from studyportal.spreadsheets import CSV_CONTENT_TYPE, csv_response, xlsx_response


@access.capability_required("analyse")
def run_list(request):
    form = StartRunForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        run = runs.request_run(
            study=form.cleaned_data["study"],
            preset=form.cleaned_data["preset"],
            user=request.user,
        )
        return redirect(run)
    context = {
        "form": form,
        "runs": runs.runs_for(request.user)[:50],
        "studies": runs.analysis_studies(request.user).order_by("name"),
    }
    return render(request, "analysis/run_list.html", context)


@access.capability_required("analyse")
def specify(request, study_pk: int):
    """Build a specification by hand, from scratch or from an earlier run."""
    study = get_object_or_404(runs.analysis_studies(request.user), pk=study_pk)
    first = study.timepoints.order_by("order").first()
    baseline_code = first.code if first else ""
    initial = _starting_point(request, study, baseline_code)
    form = SpecificationForm(
        request.POST or None,
        initial=initial,
        variables=variable_catalogue(study),
        baseline_code=baseline_code,
    )
    if request.method == "POST" and form.is_valid():
        run = runs.request_run(
            study=study,
            user=request.user,
            specs=form.cleaned_data["specs"],
            title=form.cleaned_data["title"],
        )
        return redirect(run)
    context = {"study": study, "form": form, "presets": study_presets(study)}
    return render(request, "analysis/specify.html", context)


def _starting_point(request, study, baseline_code: str) -> dict:
    source = request.GET.get("from", "")
    presets = study_presets(study)
    if source in presets:
        return initial_from(presets[source].specs, baseline_code=baseline_code)
    run_id = parse_id(source)
    if run_id is not None:
        run = runs.runs_for(request.user).filter(study=study, pk=run_id).first()
        if run is not None:
            specs = [ModelSpec.from_dict(data) for data in run.specification]
            initial = initial_from(specs, baseline_code=baseline_code)
            return {**initial, "title": run.title}
    return {}


@access.capability_required("analyse")
@require_POST
def run_again(request, pk: int):
    run = get_object_or_404(runs.runs_for(request.user), pk=pk)
    return redirect(runs.request_again(run, user=request.user))


@access.capability_required("analyse")
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


@access.capability_required("analyse")
def tables_csv(request, pk: int):
    run = _finished_run(request, pk)
    return csv_response(
        _download_name(run, "csv"),
        runs.TABLE_HEADER,
        runs.coefficient_rows(run.results),
    )


@access.capability_required("analyse")
def tables_xlsx(request, pk: int):
    run = _finished_run(request, pk)
    rows = runs.coefficient_rows(run.results)
    return xlsx_response(
        _download_name(run, "xlsx"), {"Coefficients": (runs.TABLE_HEADER, rows)}
    )


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
    labels = model.get("labels") or {}
    shown = {
        "name": model["name"],
        "outcome": model["outcome"],
        "outcome_label": model.get("outcome_label") or model["outcome"],
    }
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
                        "label": labels.get(c["term"], c["term"]),
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


# Diagnostics plots and the files to reproduce a run elsewhere.


class DataChanged(Exception):
    """The study's data are not those the run analysed."""


def _run_frame(run: AnalysisRun):
    """The run's dataset, pseudonymised as the run saw it, or DataChanged."""
    from analysis.dataset import build_dataset

    dataset = build_dataset(run.study)
    if dataset.content_hash != (run.provenance or {}).get("dataset_hash"):
        raise DataChanged
    return runs.pseudonymise(dataset.frame)


def _data_changed(run: AnalysisRun) -> HttpResponse:
    return HttpResponse(
        f"The data of {run.study.name} have changed since analysis run {run.pk} "
        "finished, so its models can no longer be drawn or exported from the same "
        "data. Start a new run to analyse the current data.",
        status=409,
        content_type="text/plain; charset=utf-8",
    )


def _specs(run: AnalysisRun) -> list:
    from analysis.specification import ModelSpec

    return [ModelSpec.from_dict(data) for data in run.specification]


def _attachment(body, content_type: str, name: str) -> HttpResponse:
    response = HttpResponse(body, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


def _file_part(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "-", text).strip("-") or "model"


def _diagnostics(request, pk: int, name: str, fmt: str):
    from analysis import plots, reproduce
    from analysis.regression import AnalysisError

    run = _finished_run(request, pk)
    spec = next((spec for spec in _specs(run) if spec.name == name), None)
    fitted = [m for m in run.results if m.get("name") == name and "error" not in m]
    if spec is None or not fitted:
        raise Http404("This run has no fitted model of that name.")
    try:
        frame = _run_frame(run)
    except DataChanged:
        return _data_changed(run)
    try:
        result = reproduce.fit_spec(frame, spec)
    except AnalysisError as error:
        raise Http404(str(error)) from error
    title = f"Residual diagnostics: {spec.name} (n = {result.n})"
    figure = plots.diagnostic_figure(
        result.diagnostics.fitted, result.diagnostics.residuals, title=title
    )
    body = plots.render(
        figure,
        fmt,
        title=title,
        description=f"Final block of the hierarchical regression of {spec.outcome}: "
        "residuals against fitted values, and a normal Q-Q plot of standardised "
        "residuals.",
    )
    content_type = "image/svg+xml; charset=utf-8" if fmt == "svg" else "image/png"
    file_name = (
        f"{run.study.slug}-analysis-{run.pk}-{_file_part(name)}-diagnostics.{fmt}"
    )
    return _attachment(body, content_type, file_name)


@access.capability_required("analyse")
def diagnostics_svg(request, pk: int, name: str):
    return _diagnostics(request, pk, name, "svg")


@access.capability_required("analyse")
def diagnostics_png(request, pk: int, name: str):
    return _diagnostics(request, pk, name, "png")


@access.capability_required("analyse")
def data_csv(request, pk: int):
    from analysis import reproduce

    run = _finished_run(request, pk)
    try:
        frame = _run_frame(run)
    except DataChanged:
        return _data_changed(run)
    return _attachment(
        reproduce.data_csv(frame, _specs(run)),
        CSV_CONTENT_TYPE,
        f"{run.study.slug}-analysis-{run.pk}-data.csv",
    )


@access.capability_required("analyse")
def reproduce_r(request, pk: int):
    from analysis import reproduce

    run = _finished_run(request, pk)
    try:
        frame = _run_frame(run)
    except DataChanged:
        return _data_changed(run)
    provenance = run.provenance or {}
    heading = (
        f"Analysis run {run.pk} of {run.study.name} ({run.preset}); dataset SHA-256 "
        f"{provenance.get('dataset_hash', 'unknown')}"
    )
    script = reproduce.r_script(
        _specs(run), frame=frame, results=run.results, heading=heading
    )
    return _attachment(
        script,
        "text/plain; charset=utf-8",
        f"{run.study.slug}-analysis-{run.pk}-reproduce.R",
    )
