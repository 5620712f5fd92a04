"""Descriptive tables and the mixed model, on small data worked by hand."""

import numpy as np
import pandas as pd
import pytest

from analysis.descriptives import (
    OVERALL,
    completers_compared,
    correlations,
    mixed_model,
    table_one,
)


@pytest.fixture
def frame():
    return pd.DataFrame(
        {
            "site": pd.Categorical(["LDS", "LDS", "SHF", "SHF"]),
            "age": [40.0, 50.0, 60.0, np.nan],
            "sex": pd.Categorical(
                ["Female", "Male", "Female", "Female"], categories=["Female", "Male"]
            ),
            "baseline_score": [1.0, 2.0, 3.0, 4.0],
            "followup_score": [2.0, 3.0, np.nan, np.nan],
        },
        index=pd.Index(["P1", "P2", "P3", "P4"], name="study_id"),
    )


def test_table_one_gives_mean_sd_and_counts_overall_and_by_site(frame):
    table = table_one(frame, columns=["age", "sex"])
    assert list(table.columns) == [OVERALL, "LDS", "SHF"]
    # Ages 40, 50, 60: mean 50, SD 10.
    assert table.loc["age", OVERALL] == "50.0 (10.0)"
    assert table.loc["age", "LDS"] == "45.0 (7.1)"
    assert table.loc["age", "SHF"] == "60.0 (n=1)"
    assert table.loc["sex: Female", OVERALL] == "3 (75%)"
    assert table.loc["sex: Male", "SHF"] == "0 (0%)"
    assert table.loc["N", "SHF"] == "2"


def test_correlations_are_pearson_on_pairs(frame):
    matrix = correlations(frame, ["baseline_score", "age"])
    # 1,2,3 against 40,50,60 are perfectly correlated.
    assert matrix.loc["baseline_score", "age"] == pytest.approx(1.0)


def test_completers_are_compared_with_the_rest(frame):
    completed = frame["followup_score"].notna()
    table = completers_compared(frame, completed=completed, columns=["baseline_score"])
    row = table.iloc[0]
    assert (row["completers_n"], row["others_n"]) == (2, 2)
    assert row["completers_mean"] == 1.5 and row["others_mean"] == 3.5
    assert row["t"] < 0


def test_the_mixed_model_recovers_a_planted_change():
    rng = np.random.default_rng(7)
    n = 120
    level = rng.normal(10, 2, n)
    baseline = level + rng.normal(0, 0.5, n)
    followup = level + 1.5 + rng.normal(0, 0.5, n)
    followup[rng.random(n) < 0.3] = np.nan  # some lost to follow-up
    frame = pd.DataFrame(
        {"baseline_score": baseline, "followup_score": followup},
        index=[f"P{i}" for i in range(n)],
    )
    result = mixed_model(frame, score="score", timepoints=["baseline", "followup"])
    assert result["observations"] == n + int(np.isfinite(followup).sum())
    assert result["change_ci_low"] < 1.5 < result["change_ci_high"]
    assert result["participant_variance"] > result["residual_variance"]


def test_the_mixed_model_says_when_there_is_too_little_data(frame):
    result = mixed_model(frame, score="nothing", timepoints=["baseline", "followup"])
    assert result["error"].startswith("Too few measurements")
