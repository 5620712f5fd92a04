"""The reference preset and running specifications on a dataset."""

import json
from io import StringIO

import numpy as np
import pandas as pd
import pytest
from django.core.management import call_command
from django.utils import timezone

from analysis.specification import ModelSpec, fit
from studyportal import demo
from tests.factories import reference_specs

SELF_MANAGEMENT_SCORES = (
    "selfmgmt_knowledge",
    "selfmgmt_partnership",
    "selfmgmt_symptoms",
    "selfmgmt_coping",
    "selfmgmt_total",
)


def test_the_reference_preset_mirrors_the_studys_design():
    specs = {spec.name: spec for spec in reference_specs()}
    assert len(specs) == 2 * len(SELF_MANAGEMENT_SCORES)
    baseline = specs["baseline_selfmgmt_total"]
    assert baseline.blocks == [
        ["age", "sex", "education"],
        [
            "baseline_pain_severity",
            "pain_duration_months",
            "baseline_hads_anxiety",
            "baseline_hads_depression",
        ],
        ["baseline_partnership_clinician", "baseline_partnership_confidence"],
    ]
    followup = specs["followup_selfmgmt_coping"]
    assert followup.blocks[0][-1] == "baseline_selfmgmt_coping"
    assert followup.block_names == ["Demographics", "Clinical", "Partnership"]


def test_a_specification_round_trips_through_json():
    spec = reference_specs()[0]
    assert ModelSpec.from_dict(json.loads(json.dumps(spec.as_dict()))) == spec


def planted(n: int = 200) -> pd.DataFrame:
    rng = np.random.default_rng(2018)
    frame = pd.DataFrame(
        {
            "x1": rng.normal(size=n),
            "x2": rng.normal(size=n),
            "group": pd.Categorical(rng.choice(["a", "b"], size=n)),
        },
        index=pd.Index([f"P{i:03d}" for i in range(n)], name="study_id"),
    )
    frame["y"] = 1 + 0.5 * frame["x1"] + 2 * frame["x2"] + rng.normal(size=n)
    return frame


def test_fit_returns_blocks_for_a_usable_model():
    spec = ModelSpec(
        name="m", outcome="y", blocks=[["x1"], ["x2"]], block_names=["One", "Two"]
    )
    result = fit(planted(), spec)
    assert "error" not in result
    assert [block["number"] for block in result["blocks"]] == [1, 2]
    assert result["blocks"][1]["r_squared_change"] > 0.5


def test_fit_names_missing_variables_instead_of_failing():
    spec = ModelSpec(name="m", outcome="y", blocks=[["x9"]], block_names=["One"])
    assert fit(planted(), spec)["error"] == "The data have no variable(s): x9."


def test_fit_reports_an_unusable_model_in_words():
    frame = planted()
    frame["flat"] = 1.0
    spec = ModelSpec(name="m", outcome="y", blocks=[["flat"]], block_names=["One"])
    assert "takes only one value" in fit(frame, spec)["error"]


def test_site_can_be_added_as_a_covariate():
    frame = planted()
    frame["site"] = pd.Categorical(np.where(frame["x1"] > 0, "LDS", "SHF"))
    spec = ModelSpec(
        name="m",
        outcome="y",
        blocks=[["x1"]],
        block_names=["One"],
        site_covariate=True,
    )
    result = fit(frame, spec)
    terms = [c["term"] for c in result["blocks"][0]["coefficients"]]
    assert "site[SHF]" in terms


@pytest.mark.django_db
def test_run_analysis_prints_the_reference_results_as_json():
    study = demo.seed_reference_study()
    demo.seed_demo_users(study)
    demo.seed_demo_participants(study, today=timezone.localdate())
    out = StringIO()
    call_command(
        "run_analysis", "--preset", "reference", "--format", "json", stdout=out
    )
    output = json.loads(out.getvalue())
    assert output["preset"] == "reference"
    assert output["dataset"]["participants"] == 147
    assert len(output["dataset"]["content_hash"]) == 64
    models = {model["name"]: model for model in output["models"]}
    baseline = models["baseline_selfmgmt_total"]
    assert baseline["n"] > 130
    assert [b["number"] for b in baseline["blocks"]] == [1, 2, 3]
    partnership = {c["term"] for c in baseline["blocks"][2]["coefficients"]}
    assert "baseline_partnership_confidence" in partnership
    # Follow-up models are fitted on the 103 followed up, adjusting for baseline.
    followup = models["followup_selfmgmt_total"]
    assert 90 < followup["n"] <= 103
    first_block = {c["term"] for c in followup["blocks"][0]["coefficients"]}
    assert "baseline_selfmgmt_total" in first_block


def test_the_reference_preset_comes_from_the_protocol_as_the_study_designed_it(db):
    from analysis.presets import study_presets

    study = demo.seed_reference_study()
    preset = study_presets(study)["reference"]
    assert preset.label == "The reference study's design"
    assert [spec.as_dict() for spec in preset.specs] == [
        spec.as_dict() for spec in reference_specs()
    ]
