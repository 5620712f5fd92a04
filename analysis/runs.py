"""Analysis runs: queue a set of models, fit them in a worker, keep the results.

A run stores its specification and the provenance of its data and code, so the
same numbers can be produced again. Participants appear in results only under a
keyed pseudonym: investigators never see study IDs.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import subprocess
from collections.abc import Callable, Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from analysis import descriptives, waiting
from analysis.dataset import build_dataset, included_participants
from analysis.models import AnalysisRun, RunStatus
from analysis.presets import study_presets
from analysis.regression import AnalysisError
from analysis.specification import ModelSpec, run_models
from participants import consort, followup, measures
from participants.followup import ENDED_WITHOUT_COMPLETION, FollowUpState
from participants.models import Study
from studyportal import access

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("django", "pandas", "statsmodels", "numpy")
COEFFICIENT_FIELDS = ("b", "se", "beta", "t", "p", "ci_low", "ci_high", "vif")
TABLE_HEADER = ("model", "block", "term", "label", *COEFFICIENT_FIELDS)
BROKER_UNREACHABLE_STEP = (
    "Waiting: the task queue cannot be reached just now; the run starts by itself "
    "when it is back"
)


def analysis_studies(user) -> QuerySet[Study]:
    """Studies whose analysis the user may run and read."""
    return access.studies_for(user, "analyse")


def runs_for(user) -> QuerySet[AnalysisRun]:
    return AnalysisRun.objects.filter(study__in=analysis_studies(user)).select_related(
        "study", "requested_by"
    )


@transaction.atomic
def request_run(
    *,
    study: Study,
    user,
    preset: str = "",
    specs: list[ModelSpec] | None = None,
    title: str = "",
) -> AnalysisRun:
    """Queue a run of ``preset`` or of ``specs`` on ``study``.

    The worker starts once this commits.
    """
    if specs is None:
        presets = study_presets(study)
        if preset not in presets:
            raise ValueError(f"{study.short_name} has no analysis preset {preset!r}.")
        specs = presets[preset].specs
        title = title or presets[preset].label
    elif not specs:
        raise ValueError("A run needs at least one model.")
    else:
        preset = preset or "custom"
    run = AnalysisRun.objects.create(
        study=study,
        preset=preset,
        title=title,
        specification=[spec.as_dict() for spec in specs],
        step="Waiting for a worker",
        requested_by=user,
    )
    transaction.on_commit(lambda: _start_soon(run.pk))
    return run


def _start_soon(run_id: int) -> None:
    from analysis.tasks import perform_run

    if not waiting.hand_over(AnalysisRun, perform_run, run_id, label="analysis run"):
        AnalysisRun.objects.filter(pk=run_id, status=RunStatus.QUEUED).update(
            step=BROKER_UNREACHABLE_STEP
        )


def latest_analysed(study: Study) -> consort.Analysed | None:
    """The N of each fitted model of the study's latest finished run: what the
    run page shows, and what CONSORT says was analysed."""
    run = (
        AnalysisRun.objects.filter(
            study=study, status=RunStatus.DONE, finished_at__isnull=False
        )
        .order_by("-finished_at", "-pk")
        .only("pk", "finished_at", "results")
        .first()
    )
    if run is None:
        return None
    models = tuple(
        consort.AnalysedModel(name=str(model["name"]), n=int(model["n"]))
        for model in run.results
        if "error" not in model and "n" in model
    )
    return consort.Analysed(
        run=run.pk,
        finished_on=timezone.localdate(run.finished_at),
        models=models,
    )


def request_again(run: AnalysisRun, *, user) -> AnalysisRun:
    """The same specification on the study's current data, as a new run."""
    return request_run(
        study=run.study,
        user=user,
        preset=run.preset,
        specs=[ModelSpec.from_dict(data) for data in run.specification],
        title=run.title,
    )


def perform(run_id: int) -> bool:
    """Fit the run's models; False when another delivery already claimed it."""
    now = timezone.now()
    claimed = AnalysisRun.objects.filter(pk=run_id, status=RunStatus.QUEUED).update(
        status=RunStatus.RUNNING,
        started_at=now,
        step="Building the dataset",
        percent=1,
    )
    if claimed != 1:
        return False
    run = AnalysisRun.objects.select_related("study", "requested_by").get(pk=run_id)
    try:
        results, provenance, descriptives = _fit(run)
    except (AnalysisError, ValueError) as error:
        _finish(run_id, status=RunStatus.FAILED, error=str(error))
        return True
    except Exception as error:
        # Leave no run "running" for ever; the traceback goes to the worker's log.
        _finish(
            run_id,
            status=RunStatus.FAILED,
            error=f"The analysis stopped unexpectedly ({type(error).__name__}).",
        )
        raise
    _finish(
        run_id,
        status=RunStatus.DONE,
        results=results,
        provenance=provenance,
        descriptives=descriptives,
    )
    return True


def _fit(run: AnalysisRun) -> tuple[list[dict[str, Any]], dict[str, Any], dict]:
    specs = [ModelSpec.from_dict(data) for data in run.specification]
    dataset = build_dataset(run.study)
    frame = pseudonymise(dataset.frame)
    states = followup_states(
        run.study, dataset.frame.index, today=timezone.localdate()
    ).set_axis(frame.index)
    results = []
    for number, spec in enumerate(specs, start=1):
        _progress(
            run.pk,
            step=f"Fitting model {number} of {len(specs)}: {spec.name}",
            percent=5 + 55 * (number - 1) // len(specs),
        )
        results.extend(
            label_model(model, dataset.variables) for model in run_models(frame, [spec])
        )
    descriptives = describe(
        frame,
        study=run.study,
        states=states,
        progress=lambda step, share: _progress(
            run.pk, step=step, percent=60 + int(39 * share)
        ),
    )
    provenance = {
        "dataset_hash": dataset.content_hash,
        "rows": len(dataset.frame),
        "packages": {name: metadata.version(name) for name in PACKAGES},
        "code_revision": code_revision(),
        "requested_by": run.requested_by.get_username() if run.requested_by else "",
        "run_at": timezone.now().isoformat(),
    }
    return results, provenance, descriptives


def label_model(model: dict[str, Any], variables: dict[str, str]) -> dict[str, Any]:
    """The model with a label for its outcome and for each of its terms.

    A dummy term ``sex[Male]`` reads "Sex: Male"; a term without a label in the
    dataset keeps its name.
    """
    labels = {}
    for block in model.get("blocks", []):
        for coefficient in block["coefficients"]:
            term = coefficient["term"]
            column, _, level = term.partition("[")
            if level:
                labels[term] = f"{variables.get(column, column)}: {level[:-1]}"
            else:
                labels[term] = variables.get(term, term)
    outcome = variables.get(model["outcome"], model["outcome"])
    return {**model, "outcome_label": outcome, "labels": labels}


def _progress(run_id: int, *, step: str, percent: int) -> None:
    AnalysisRun.objects.filter(pk=run_id, status=RunStatus.RUNNING).update(
        step=step, percent=min(max(percent, 0), 100)
    )


def _finish(run_id: int, *, status: str, **fields: Any) -> None:
    step = "Finished" if status == RunStatus.DONE else "Stopped"
    AnalysisRun.objects.filter(pk=run_id).update(
        status=status,
        step=step,
        percent=100,
        finished_at=timezone.now(),
        **fields,
    )


COMPARISON_LABELS = {
    "completers_n": "Completers n",
    "completers_mean": "Completers mean",
    "completers_sd": "Completers SD",
    "others_n": "Others n",
    "others_mean": "Others mean",
    "others_sd": "Others SD",
}


def followup_states(study: Study, codes: pd.Index, *, today) -> pd.Series:
    """Each participant's follow-up state at the last timepoint, by study ID in
    the order of ``codes``; missing where there is none."""
    last = followup.followup_timepoint(study.timepoints.all())
    found = {}
    if last is not None:
        found = followup.states_at(included_participants(study), last, today=today)
    return pd.Series([found.get(code) for code in codes], index=codes, dtype="object")


def describe(
    frame: pd.DataFrame,
    *,
    study: Study,
    states: pd.Series | None = None,
    progress: Callable[[str, float], None] | None = None,
) -> dict[str, Any]:
    """The sample behind the models: Table 1, correlations, attrition, change.

    ``states`` is each row's follow-up state at the last timepoint (from
    ``followup_states``): completers are compared with those whose follow-up
    ended without completion; those still to come are in neither group.
    ``progress`` hears each step and the share of the work done before it; the
    mixed models take most of the time on a large cohort.
    """
    outcomes = preset_outcomes(study)
    timepoints = list(study.timepoints.order_by("order").values_list("code", flat=True))
    steps = 1 + len(outcomes)
    report = progress or (lambda step, share: None)
    report("Describing the sample", 0.0)
    present = [
        name for name in measures.table_one_columns(study) if name in frame.columns
    ]
    scores = [
        measure.column
        for measure in measures.key_measures(study)
        if measure.is_score and measure.column in frame.columns
    ]
    described: dict[str, Any] = {
        "table_one": _records(descriptives.table_one(frame, columns=present)),
        "correlations": _records(descriptives.correlations(frame, scores).round(3)),
    }
    if states is not None:
        compared = descriptives.completers_compared(
            frame,
            completed=states == FollowUpState.COMPLETED,
            others=states.isin(ENDED_WITHOUT_COMPLETION),
            columns=scores,
        )
        described["completers"] = _records(
            compared.set_index("variable").round(3).rename(columns=COMPARISON_LABELS)
        )
    described["mixed_models"] = []
    for number, score in enumerate(outcomes, start=1):
        report(f"Mixed model of {score} over time", number / steps)
        described["mixed_models"].append(
            descriptives.mixed_model(frame, score=score, timepoints=timepoints)
        )
    return _json_safe(described)


def preset_outcomes(study: Study) -> list[str]:
    """The scores the study's presets model, each once, in the protocol's order:
    the ones whose change over time the run describes."""
    found: list[str] = []
    for preset in measures.study_measures(study).presets:
        found += [name for name in preset.outcomes if name not in found]
    return found


def _records(table: pd.DataFrame) -> dict[str, Any]:
    return {
        "columns": [str(c) for c in table.columns],
        "rows": [
            [str(index), *row]
            for index, row in zip(table.index, table.values.tolist(), strict=True)
        ],
    }


def _json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(item) for item in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, np.generic):
        return _json_safe(value.item())
    return value


def pseudonym(study_id: str) -> str:
    """A stable label for a participant that only the server's key links back."""
    digest = hmac.new(
        settings.SECRET_KEY.encode(), str(study_id).encode(), hashlib.sha256
    ).hexdigest()
    return "P" + digest[:8]


def pseudonymise(frame: pd.DataFrame) -> pd.DataFrame:
    renamed = frame.copy()
    renamed.index = pd.Index(
        [pseudonym(code) for code in frame.index], name="pseudonym", dtype="string"
    )
    return renamed


def code_revision() -> str:
    try:
        completed = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return completed.stdout.strip() or "unknown"


def coefficient_rows(results: list[dict[str, Any]]) -> Iterator[tuple]:
    """Every coefficient of every block of every fitted model, one row each."""
    for model in results:
        if "error" in model:
            continue
        names = model.get("block_names") or []
        labels = model.get("labels") or {}
        for block in model["blocks"]:
            number = block["number"]
            label = names[number - 1] if number <= len(names) else f"Block {number}"
            for coefficient in block["coefficients"]:
                term = coefficient["term"]
                yield (
                    model["name"],
                    f"{number}: {label}",
                    term,
                    labels.get(term, term),
                    *(coefficient[field] for field in COEFFICIENT_FIELDS),
                )
