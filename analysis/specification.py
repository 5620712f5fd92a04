"""Model specifications: what to regress on what, block by block.

A specification is data (stored as JSON with each analysis run), so a run can be
repeated exactly. A study's presets come from its protocol (analysis.presets);
custom specifications are built on the specification page.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import pandas as pd

from analysis.dataset import COMPLETER
from analysis.regression import AnalysisError, fit_hierarchical


@dataclass(frozen=True)
class ModelSpec:
    name: str
    outcome: str
    blocks: list[list[str]]
    block_names: list[str]
    categorical: dict[str, str | None] = field(default_factory=dict)
    # "all": every participant with the variables; "completers": only those who
    # completed the last timepoint (the dataset's ``completer`` column).
    sample: str = "all"
    site_covariate: bool = False

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> ModelSpec:
        return cls(**data)


SAMPLES = {
    "all": "Everyone with the variables (complete cases)",
    "completers": "Only participants who completed the follow-up",
}


def custom_specs(
    *,
    outcomes: list[str],
    blocks: list[list[str]],
    block_names: list[str],
    categorical: dict[str, str | None],
    sample: str = "all",
    site_covariate: bool = False,
    baseline_of: dict[str, str] | None = None,
    swap: dict[str, dict[str, str]] | None = None,
) -> list[ModelSpec]:
    """One model per outcome, each with the same ordered blocks.

    ``swap`` maps an outcome to predictors replaced in its model only (a
    baseline score by the same score at the outcome's timepoint); ``baseline_of``
    maps an outcome to its own earlier value, which then joins the first block
    of that outcome's model. Together they give the reference design at
    follow-up.
    """
    if sample not in SAMPLES:
        raise ValueError(f"There is no sample called {sample!r}.")
    specs = []
    for outcome in outcomes:
        replaced = (swap or {}).get(outcome, {})
        own = [[replaced.get(name, name) for name in block] for block in blocks]
        earlier = (baseline_of or {}).get(outcome)
        if earlier and all(earlier not in block for block in own):
            own[0].append(earlier)
        used = {name for block in own for name in block}
        specs.append(
            ModelSpec(
                name=outcome,
                outcome=outcome,
                blocks=own,
                block_names=list(block_names),
                categorical={k: v for k, v in categorical.items() if k in used},
                sample=sample,
                site_covariate=site_covariate,
            )
        )
    return specs


def sample_for(frame: pd.DataFrame, spec: ModelSpec) -> pd.DataFrame:
    """The rows a model is fitted on: completers only when the spec asks (as
    ``participants.followup`` counts them), else everyone."""
    if spec.sample == "completers" and COMPLETER in frame.columns:
        frame = frame[frame[COMPLETER] == 1]
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
