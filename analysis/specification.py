"""Model specifications: what to regress on what, block by block.

A specification is data (stored as JSON with each analysis run), so a run can be
repeated exactly. The ``reference`` preset reproduces the reference study's
design: each self-management score, at baseline and at follow-up, regressed on
demographics, then clinical factors, then patient-professional partnership; at
follow-up the baseline value of the outcome joins the first block.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import pandas as pd

from analysis.regression import AnalysisError, fit_hierarchical

SELF_MANAGEMENT_SCORES = (
    "selfmgmt_knowledge",
    "selfmgmt_partnership",
    "selfmgmt_symptoms",
    "selfmgmt_coping",
    "selfmgmt_total",
)
DEMOGRAPHICS = ("age", "sex", "education")
CATEGORICAL = {"sex": "Female", "education": None, "site": None}


@dataclass(frozen=True)
class ModelSpec:
    name: str
    outcome: str
    blocks: list[list[str]]
    block_names: list[str]
    categorical: dict[str, str | None] = field(default_factory=dict)
    # "all": every participant with the variables; "completers": only those who
    # completed the last timepoint.
    sample: str = "all"
    site_covariate: bool = False

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> ModelSpec:
        return cls(**data)


def clinical(timepoint: str) -> list[str]:
    return [
        f"{timepoint}_pain_severity",
        "pain_duration_months",
        f"{timepoint}_hads_anxiety",
        f"{timepoint}_hads_depression",
    ]


def partnership(timepoint: str) -> list[str]:
    return [f"{timepoint}_partnership_clinician", f"{timepoint}_partnership_confidence"]


def reference_preset() -> list[ModelSpec]:
    specs = []
    for timepoint in ("baseline", "followup"):
        for score in SELF_MANAGEMENT_SCORES:
            demographics = list(DEMOGRAPHICS)
            if timepoint == "followup":
                demographics.append(f"baseline_{score}")
            specs.append(
                ModelSpec(
                    name=f"{timepoint}_{score}",
                    outcome=f"{timepoint}_{score}",
                    blocks=[demographics, clinical(timepoint), partnership(timepoint)],
                    block_names=["Demographics", "Clinical", "Partnership"],
                    categorical={k: v for k, v in CATEGORICAL.items() if k != "site"},
                )
            )
    return specs


PRESETS = {"reference": reference_preset}


def sample_for(frame: pd.DataFrame, spec: ModelSpec) -> pd.DataFrame:
    if spec.sample == "completers":
        last = [c for c in frame.columns if c.startswith("followup_")]
        if last:
            frame = frame[frame[last].notna().any(axis=1)]
    return frame


def fit(frame: pd.DataFrame, spec: ModelSpec) -> dict[str, Any]:
    """One model's results as plain data, or the reason it could not be fitted."""
    blocks = [list(block) for block in spec.blocks]
    categorical = dict(spec.categorical)
    if spec.site_covariate:
        blocks[0] = [*blocks[0], "site"]
        categorical["site"] = None
    wanted = {spec.outcome} | {name for block in blocks for name in block}
    missing = sorted(wanted - set(frame.columns))
    base = {"name": spec.name, "outcome": spec.outcome, "block_names": spec.block_names}
    if missing:
        return {**base, "error": f"The data have no variable(s): {', '.join(missing)}."}
    try:
        result = fit_hierarchical(
            sample_for(frame, spec),
            outcome=spec.outcome,
            blocks=blocks,
            categorical=categorical,
        )
    except AnalysisError as error:
        return {**base, "error": str(error)}
    return {**base, **result.as_dict()}


def run_models(frame: pd.DataFrame, specs: list[ModelSpec]) -> list[dict[str, Any]]:
    return [fit(frame, spec) for spec in specs]
