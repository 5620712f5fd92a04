"""Multiple imputation recovers planted coefficients despite missing values."""

import numpy as np
import pandas as pd
import pytest

from analysis.imputation import pooled_fit
from analysis.regression import AnalysisError
from analysis.specification import ModelSpec


def planted(n: int = 300, missing: float = 0.2) -> pd.DataFrame:
    rng = np.random.default_rng(11)
    x1 = rng.normal(size=n)
    x2 = rng.normal(size=n)
    group = rng.choice(["a", "b"], size=n)
    y = 1 + 0.5 * x1 - 0.8 * x2 + 0.7 * (group == "b") + rng.normal(0, 0.5, n)
    frame = pd.DataFrame(
        {"y": y, "x1": x1, "x2": x2, "group": pd.Categorical(group)},
        index=[f"P{i}" for i in range(n)],
    )
    frame.loc[rng.random(n) < missing, "x2"] = np.nan
    frame.loc[rng.random(n) < missing, "y"] = np.nan
    return frame


SPEC = ModelSpec(
    name="m",
    outcome="y",
    blocks=[["x1", "group"], ["x2"]],
    block_names=["One", "Two"],
    categorical={"group": "a"},
)


def test_pooled_estimates_recover_the_planted_values():
    result = pooled_fit(planted(), SPEC, imputations=10, burn_in=5)
    coefficients = {c["term"]: c for c in result["coefficients"]}
    for term, truth in (("x1", 0.5), ("x2", -0.8), ("group[b]", 0.7)):
        # Within three standard errors: a 95% interval misses one time in twenty.
        estimate = coefficients[term]
        assert abs(estimate["b"] - truth) < 3 * estimate["se"], term
        assert estimate["ci_low"] < estimate["b"] < estimate["ci_high"]
    assert result["n"] == 300
    assert result["complete_cases"] < 300
    assert 0 <= coefficients["x2"]["fraction_missing_information"] < 1


def test_imputation_is_repeatable_with_its_seed():
    first = pooled_fit(planted(), SPEC, imputations=5, burn_in=3)
    second = pooled_fit(planted(), SPEC, imputations=5, burn_in=3)
    assert first == second


def test_unknown_variables_are_named():
    spec = ModelSpec(name="m", outcome="y", blocks=[["x9"]], block_names=["One"])
    with pytest.raises(AnalysisError, match="x9"):
        pooled_fit(planted(), spec)
