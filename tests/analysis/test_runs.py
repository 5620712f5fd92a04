"""Analysis runs: queueing, claiming, fitting and recording provenance."""

import numpy as np
import pandas as pd
import pytest
from django.utils import timezone

from analysis import runs
from analysis.models import AnalysisRun, RunStatus
from analysis.specification import ModelSpec
from studyportal import demo
from tests.factories import investigator, reference_specs


@pytest.fixture
def demo_study(db):
    study = demo.seed_reference_study()
    demo.seed_demo_users(study)
    demo.seed_demo_participants(study, today=timezone.localdate())
    return study


def queued_run(study, specs, user=None) -> AnalysisRun:
    return AnalysisRun.objects.create(
        study=study,
        preset="custom",
        specification=[spec.as_dict() for spec in specs],
        requested_by=user,
    )


def test_perform_stores_results_with_provenance(demo_study):
    user = investigator(demo_study)
    run = queued_run(
        demo_study,
        reference_specs()[:2],
        user=user,
    )

    assert runs.perform(run.pk) is True

    run.refresh_from_db()
    assert run.status == RunStatus.DONE
    assert run.percent == 100
    assert run.started_at and run.finished_at
    assert [model["name"] for model in run.results] == [
        "baseline_selfmgmt_knowledge",
        "baseline_selfmgmt_partnership",
    ]
    fitted = [model for model in run.results if "error" not in model]
    assert fitted, run.results
    assert {"blocks", "n", "diagnostics"} <= set(fitted[0])
    assert fitted[0]["outcome_label"].startswith("Looking after your back pain")
    assert fitted[0]["labels"]["sex[Male]"] == "Sex: Male"
    provenance = run.provenance
    assert len(provenance["dataset_hash"]) == 64
    assert provenance["rows"] == demo_study.participants.count()
    assert set(provenance["packages"]) == {"django", "pandas", "statsmodels", "numpy"}
    assert provenance["code_revision"]
    assert provenance["requested_by"] == user.username
    assert provenance["run_at"]


def test_influential_cases_are_named_by_pseudonym_not_study_id(demo_study):
    run = queued_run(demo_study, reference_specs()[:1])
    runs.perform(run.pk)
    run.refresh_from_db()
    codes = set(demo_study.participants.values_list("code", flat=True))
    cases = [case["case"] for case in run.results[0]["diagnostics"]["influential"]]
    assert cases
    assert all(case.startswith("P") and len(case) == 9 for case in cases)
    assert not set(cases) & codes
    assert set(cases) <= {runs.pseudonym(code) for code in codes}


def test_pseudonyms_are_stable_and_keyed(settings):
    first = runs.pseudonym("LDS-0001")
    assert first == runs.pseudonym("LDS-0001")
    assert first != runs.pseudonym("LDS-0002")
    settings.SECRET_KEY = "another-key-for-another-deployment-0123456789-abcdef"
    assert runs.pseudonym("LDS-0001") != first


def test_a_second_perform_on_the_same_run_does_nothing(demo_study):
    run = queued_run(demo_study, reference_specs()[:1])
    assert runs.perform(run.pk) is True
    run.refresh_from_db()
    finished_at = run.finished_at

    assert runs.perform(run.pk) is False

    run.refresh_from_db()
    assert run.status == RunStatus.DONE
    assert run.finished_at == finished_at


def test_a_running_run_is_not_claimed_again(demo_study):
    run = queued_run(demo_study, reference_specs()[:1])
    AnalysisRun.objects.filter(pk=run.pk).update(status=RunStatus.RUNNING)
    assert runs.perform(run.pk) is False
    run.refresh_from_db()
    assert run.results == []


def test_a_model_that_cannot_be_fitted_records_its_message(demo_study):
    spec = ModelSpec(
        name="impossible",
        outcome="baseline_selfmgmt_total",
        blocks=[["no_such_variable"]],
        block_names=["Nothing"],
    )
    run = queued_run(demo_study, [spec])

    runs.perform(run.pk)

    run.refresh_from_db()
    assert run.status == RunStatus.DONE
    assert run.results[0]["name"] == "impossible"
    assert "no_such_variable" in run.results[0]["error"]


def test_a_run_whose_data_cannot_be_built_fails_with_the_reason(
    demo_study, monkeypatch
):
    def broken(study):
        raise ValueError("Both a and b give a score named x; rename one.")

    monkeypatch.setattr(runs, "build_dataset", broken)
    run = queued_run(demo_study, reference_specs()[:1])

    runs.perform(run.pk)

    run.refresh_from_db()
    assert run.status == RunStatus.FAILED
    assert run.error == "Both a and b give a score named x; rename one."
    assert run.finished_at is not None


def test_an_unexpected_error_fails_the_run_and_is_raised(demo_study, monkeypatch):
    def broken(study):
        raise KeyError("boom")

    monkeypatch.setattr(runs, "build_dataset", broken)
    run = queued_run(demo_study, reference_specs()[:1])

    with pytest.raises(KeyError):
        runs.perform(run.pk)

    run.refresh_from_db()
    assert run.status == RunStatus.FAILED
    assert "KeyError" in run.error


def test_request_run_enqueues_the_task_once_committed(
    reference_study, django_capture_on_commit_callbacks, monkeypatch
):
    from analysis import tasks

    queued = []
    monkeypatch.setattr(tasks.perform_run, "delay", queued.append)
    user = investigator(reference_study)

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        run = runs.request_run(study=reference_study, preset="reference", user=user)
    assert queued == []

    for callback in callbacks:
        callback()
    assert queued == [run.pk]
    assert run.status == RunStatus.QUEUED
    assert run.description == "The reference study's design"
    assert run.requested_by == user
    assert len(run.specification) == len(reference_specs())
    assert ModelSpec.from_dict(run.specification[0]) == reference_specs()[0]


def test_a_preset_the_studys_protocol_does_not_declare_is_refused(study):
    with pytest.raises(ValueError, match="has no analysis preset 'reference'"):
        runs.request_run(study=study, preset="reference", user=investigator(study))


def test_request_run_refuses_an_unknown_preset(study):
    with pytest.raises(ValueError, match="no analysis preset"):
        runs.request_run(study=study, preset="nonsense", user=investigator(study))
    assert not AnalysisRun.objects.exists()


def test_coefficient_rows_are_long_format_and_skip_failed_models():
    results = [
        {"name": "failed", "outcome": "y", "block_names": ["A"], "error": "no"},
        {
            "name": "m",
            "outcome": "y",
            "block_names": ["Demographics"],
            "labels": {"age": "Age (years)"},
            "blocks": [
                {
                    "number": 1,
                    "coefficients": [
                        {
                            "term": "age",
                            "b": 1.5,
                            "se": 0.5,
                            "beta": 0.2,
                            "t": 3.0,
                            "p": 0.004,
                            "ci_low": 0.5,
                            "ci_high": 2.5,
                            "vif": 1.1,
                        }
                    ],
                }
            ],
        },
    ]
    assert list(runs.coefficient_rows(results)) == [
        (
            "m",
            "1: Demographics",
            "age",
            "Age (years)",
            *(1.5, 0.5, 0.2, 3.0, 0.004, 0.5, 2.5, 1.1),
        )
    ]


def test_terms_and_outcome_are_labelled_from_the_dataset():
    model = {
        "name": "m",
        "outcome": "baseline_pain",
        "blocks": [
            {"coefficients": [{"term": "(Intercept)"}, {"term": "sex[Male]"}]},
            {"coefficients": [{"term": "age"}, {"term": "unlabelled"}]},
        ],
    }
    variables = {"baseline_pain": "Pain (Baseline)", "sex": "Sex", "age": "Age"}

    labelled = runs.label_model(model, variables)

    assert labelled["outcome_label"] == "Pain (Baseline)"
    assert labelled["labels"] == {
        "(Intercept)": "(Intercept)",
        "sex[Male]": "Sex: Male",
        "age": "Age",
        "unlabelled": "unlabelled",
    }
    assert (
        runs.label_model({"name": "m", "outcome": "x", "error": "no"}, {})["labels"]
        == {}
    )


def test_a_run_describes_its_sample(demo_study):
    import json

    run = queued_run(demo_study, reference_specs()[:1])
    runs.perform(run.pk)
    run.refresh_from_db()
    described = run.descriptives
    json.dumps(described, allow_nan=False)
    table = described["table_one"]
    assert table["columns"][0] == "All participants"
    assert ["N", str(demo_study.participants.count())] == table["rows"][0][:2]
    assert described["correlations"]["columns"][0] == "baseline_pain_severity"
    assert described["completers"]["columns"][:2] == [
        "Completers n",
        "Completers mean",
    ]
    assert [m["score"] for m in described["mixed_models"]] == [
        "selfmgmt_knowledge",
        "selfmgmt_partnership",
        "selfmgmt_symptoms",
        "selfmgmt_coping",
        "selfmgmt_total",
    ]


def test_the_run_page_shows_the_sample_tables(demo_study):
    from django.template.loader import render_to_string

    run = queued_run(demo_study, reference_specs()[:1])
    runs.perform(run.pk)
    run.refresh_from_db()
    html = render_to_string("analysis/_descriptives.html", {"run": run})
    assert "Table 1. Characteristics" in html
    assert "linear mixed model" in html
    assert "All participants" in html


def test_describing_the_sample_reports_each_step_in_order(db):
    study = demo.seed_reference_study()
    outcomes = runs.preset_outcomes(study)
    rng = np.random.default_rng(3)
    frame = pd.DataFrame(
        {
            f"{timepoint}_{score}": rng.normal(40, 8, 30)
            for timepoint in ("baseline", "followup")
            for score in outcomes
        }
        | {"site": pd.Categorical(rng.choice(["A", "B"], 30))}
    )
    heard = []

    described = runs.describe(
        frame, study=study, progress=lambda step, share: heard.append(share)
    )

    assert len(outcomes) == 5
    assert len(described["mixed_models"]) == len(outcomes)
    assert heard == sorted(heard)
    assert heard[0] == 0 and heard[-1] < 1
    assert len(heard) == 1 + len(outcomes)
