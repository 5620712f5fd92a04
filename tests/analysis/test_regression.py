"""Hierarchical OLS checked against certified values and independent arithmetic."""

import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.datasets import longley

from analysis.regression import AnalysisError, fit_hierarchical

# NIST StRD "Longley" (linear regression, higher difficulty), certified values.
# statsmodels names the armed-forces column ARMED rather than NIST's ARMFORCE.
LONGLEY_B = {
    "(Intercept)": -3482258.63459582,
    "GNPDEFL": 15.0618722713733,
    "GNP": -0.358191792925910e-01,
    "UNEMP": -2.02022980381683,
    "ARMED": -1.03322686717359,
    "POP": -0.511041056535807e-01,
    "YEAR": 1829.15146461355,
}
LONGLEY_SE = {
    "(Intercept)": 890420.383607373,
    "GNPDEFL": 84.9149257747669,
    "GNP": 0.334910077722432e-01,
    "UNEMP": 0.488399681651699,
    "ARMED": 0.214274163161675,
    "POP": 0.226073200069370,
    "YEAR": 455.478499142212,
}
LONGLEY_R2 = 0.995479004577296


def simulated(n: int = 500, seed: int = 20260101) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x1, x2, x3 = rng.normal(size=(3, n))
    group = rng.choice(["clinic", "home", "ward"], size=n)
    shift = pd.Series(group).map({"clinic": 0.0, "home": 0.4, "ward": -0.6})
    y = 2 + 0.5 * x1 - 0.3 * x2 + 0.8 * x3 + shift.to_numpy() + rng.normal(size=n)
    index = pd.Index([f"P{i:04d}" for i in range(n)], name="pseudonym")
    return pd.DataFrame(
        {"y": y, "x1": x1, "x2": x2, "x3": x3, "group": group}, index=index
    )


def rss(y: np.ndarray, x: np.ndarray) -> float:
    design = np.column_stack([np.ones(len(y)), x])
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    return float(np.sum((y - design @ coef) ** 2))


def test_longley_matches_nist_certified_values_to_seven_digits():
    data = longley.load_pandas().data
    result = fit_hierarchical(data, outcome="TOTEMP", blocks=[list(LONGLEY_B)[1:]])

    (block,) = result.blocks
    assert block.n == 16
    assert math.isclose(block.r_squared, LONGLEY_R2, rel_tol=1e-7)
    for term, certified in LONGLEY_B.items():
        assert math.isclose(block.coefficient(term).b, certified, rel_tol=1e-7), term
    for term, certified in LONGLEY_SE.items():
        assert math.isclose(block.coefficient(term).se, certified, rel_tol=1e-7), term


def test_r_squared_change_and_f_change_match_hand_computed_rss():
    data = simulated()
    result = fit_hierarchical(data, outcome="y", blocks=[["x1"], ["x2", "x3"]])

    y = data["y"].to_numpy()
    total = float(np.sum((y - y.mean()) ** 2))
    rss_reduced = rss(y, data[["x1"]].to_numpy())
    rss_full = rss(y, data[["x1", "x2", "x3"]].to_numpy())
    df1, df2 = 2, len(y) - 3 - 1
    f_change = ((rss_reduced - rss_full) / df1) / (rss_full / df2)

    first, second = result.blocks
    assert math.isclose(first.r_squared, 1 - rss_reduced / total, rel_tol=1e-10)
    assert math.isclose(
        second.r_squared_change, (rss_reduced - rss_full) / total, rel_tol=1e-10
    )
    assert (second.df1, second.df2) == (df1, df2)
    assert math.isclose(second.f_change, f_change, rel_tol=1e-10)
    assert math.isclose(
        second.p_f_change, stats.f.sf(f_change, df1, df2), rel_tol=1e-10
    )
    # The first block's F change is its overall F: it is tested against nothing.
    assert math.isclose(first.f_change, first.f, rel_tol=1e-10)
    assert math.isclose(first.r_squared_change, first.r_squared, rel_tol=1e-12)


def test_standardised_betas_equal_coefficients_of_a_z_scored_refit():
    data = simulated()
    result = fit_hierarchical(
        data,
        outcome="y",
        blocks=[["x1", "group"], ["x2", "x3"]],
        categorical={"group": "clinic"},
    )

    columns = {
        "x1": data["x1"],
        "group[home]": (data["group"] == "home").astype(float),
        "group[ward]": (data["group"] == "ward").astype(float),
        "x2": data["x2"],
        "x3": data["x3"],
    }
    z = pd.DataFrame({k: (v - v.mean()) / v.std() for k, v in columns.items()})
    y = (data["y"] - data["y"].mean()) / data["y"].std()
    coef, *_ = np.linalg.lstsq(
        np.column_stack([np.ones(len(y)), z.to_numpy()]), y.to_numpy(), rcond=None
    )

    final = result.blocks[-1]
    for term, expected in zip(z.columns, coef[1:], strict=True):
        assert math.isclose(final.coefficient(term).beta, expected, rel_tol=1e-9)
    assert final.coefficient("(Intercept)").beta is None


def test_planted_coefficients_lie_within_their_confidence_intervals():
    rng = np.random.default_rng(7)
    n = 500
    x = rng.normal(size=(n, 3))
    y = 2 + 0.5 * x[:, 0] - 0.3 * x[:, 1] + 0.8 * x[:, 2] + rng.normal(size=n)
    data = pd.DataFrame({"y": y, "x1": x[:, 0], "x2": x[:, 1], "x3": x[:, 2]})

    result = fit_hierarchical(data, outcome="y", blocks=[["x1", "x2"], ["x3"]])

    final = result.blocks[-1]
    truth = {"(Intercept)": 2, "x1": 0.5, "x2": -0.3, "x3": 0.8}
    for term, value in truth.items():
        coefficient = final.coefficient(term)
        assert coefficient.ci_low < value < coefficient.ci_high, term
        assert coefficient.vif is None or 1 <= coefficient.vif < 1.1


def test_dummy_coding_uses_the_chosen_reference_level():
    data = simulated()
    result = fit_hierarchical(
        data, outcome="y", blocks=[["group"]], categorical={"group": "home"}
    )

    (block,) = result.blocks
    assert result.reference_levels == {"group": "home"}
    assert block.terms_entered == ("group[clinic]", "group[ward]")
    assert block.df1 == 2
    means = data.groupby("group")["y"].mean()
    for level in ("clinic", "ward"):
        difference = means[level] - means["home"]
        assert math.isclose(
            block.coefficient(f"group[{level}]").b, difference, rel_tol=1e-9
        )


def test_reference_level_defaults_to_the_first_in_sorted_order():
    result = fit_hierarchical(
        simulated(), outcome="y", blocks=[["group"]], categorical={"group": None}
    )

    assert result.reference_levels == {"group": "clinic"}
    assert result.blocks[0].terms_entered == ("group[home]", "group[ward]")


def test_every_block_uses_the_complete_cases_of_the_final_block():
    data = simulated()
    data.loc[data.index[:40], "x3"] = np.nan
    data.loc[data.index[30:50], "y"] = np.nan
    complete = data.dropna()

    result = fit_hierarchical(data, outcome="y", blocks=[["x1"], ["x2", "x3"]])

    assert result.n == len(complete) == 450
    assert [block.n for block in result.blocks] == [450, 450]
    y = complete["y"].to_numpy()
    total = float(np.sum((y - y.mean()) ** 2))
    expected = 1 - rss(y, complete[["x1"]].to_numpy()) / total
    assert math.isclose(result.blocks[0].r_squared, expected, rel_tol=1e-10)
    assert set(result.diagnostics.cases) == set(complete.index)


def test_diagnostics_name_influential_cases_by_their_pseudonym():
    data = simulated()
    data.loc["P0123", ["x1", "y"]] = [6.0, -20.0]

    result = fit_hierarchical(data, outcome="y", blocks=[["x1"], ["x2", "x3"]])

    diagnostics = result.diagnostics
    assert diagnostics.influential[0].case == "P0123"
    assert len(diagnostics.influential) == 5
    distances = [case.cooks_distance for case in diagnostics.influential]
    assert distances == sorted(distances, reverse=True)
    assert diagnostics.breusch_pagan_df == 3
    assert 0 <= diagnostics.breusch_pagan_p <= 1
    assert len(diagnostics.fitted) == len(diagnostics.residuals) == result.n
    np.testing.assert_allclose(
        np.add(diagnostics.fitted, diagnostics.residuals), data["y"].to_numpy()
    )


def test_a_case_alone_at_its_level_is_not_ranked_by_cooks_distance():
    data = simulated()
    data.loc["P0001", "group"] = "hospice"

    result = fit_hierarchical(
        data, outcome="y", blocks=[["group"], ["x1"]], categorical={"group": None}
    )

    influential = result.diagnostics.influential
    assert len(influential) == 5
    assert "P0001" not in [case.case for case in influential]
    assert all(math.isfinite(case.cooks_distance) for case in influential)
    json.dumps(result.as_dict(), allow_nan=False)


def test_as_dict_is_json_serialisable_and_leaves_out_per_case_arrays():
    result = fit_hierarchical(
        simulated(),
        outcome="y",
        blocks=[["group"], ["x1"]],
        categorical={"group": None},
    )

    summary = json.loads(json.dumps(result.as_dict(), allow_nan=False))

    assert summary["n"] == 500
    assert summary["reference_levels"] == {"group": "clinic"}
    assert [b["entered"] for b in summary["blocks"]] == [["group"], ["x1"]]
    assert len(summary["blocks"][1]["coefficients"]) == 4
    assert "fitted" not in summary["diagnostics"]
    assert summary["diagnostics"]["influential"][0]["case"].startswith("P")


def test_an_outcome_without_variance_is_refused():
    data = simulated().assign(y=3.0)

    with pytest.raises(AnalysisError, match="outcome y has the same value"):
        fit_hierarchical(data, outcome="y", blocks=[["x1"]])


def test_too_few_complete_cases_are_refused():
    data = simulated().head(6)
    data.loc[data.index[:2], "x2"] = np.nan

    with pytest.raises(AnalysisError, match="Only 4 complete case.*need at least 5"):
        fit_hierarchical(data, outcome="y", blocks=[["x1"], ["x2", "x3"]])


def test_a_constant_predictor_is_named():
    data = simulated().assign(sex="female")

    with pytest.raises(AnalysisError, match="predictor sex takes only one value"):
        fit_hierarchical(
            data, outcome="y", blocks=[["x1"], ["sex"]], categorical={"sex": None}
        )
    with pytest.raises(AnalysisError, match="predictor x9 takes only one value"):
        fit_hierarchical(data.assign(x9=1.5), outcome="y", blocks=[["x1", "x9"]])


def test_perfectly_collinear_predictors_are_named():
    data = simulated()
    data["total"] = data["x1"] + 2 * data["x2"] + 1

    with pytest.raises(AnalysisError) as caught:
        fit_hierarchical(data, outcome="y", blocks=[["x1", "x2", "x3"], ["total"]])

    message = str(caught.value)
    assert "perfectly collinear" in message
    assert "x1, x2, total" in message
    assert "x3" not in message


def test_a_missing_reference_level_is_refused():
    with pytest.raises(AnalysisError, match="reference level 'icu' of group"):
        fit_hierarchical(
            simulated(), outcome="y", blocks=[["group"]], categorical={"group": "icu"}
        )


def test_text_predictor_not_declared_categorical_is_refused():
    with pytest.raises(AnalysisError, match="group is not numeric"):
        fit_hierarchical(simulated(), outcome="y", blocks=[["group"]])


def test_variance_inflation_matches_one_regression_per_predictor():
    from statsmodels.stats.outliers_influence import variance_inflation_factor

    from analysis.regression import variance_inflation

    rng = np.random.default_rng(11)
    a = rng.normal(size=200)
    b = 0.8 * a + rng.normal(scale=0.5, size=200)
    c = rng.normal(size=200)
    x = np.column_stack([np.ones(200), a, b, c, a - c + rng.normal(size=200)])

    expected = [variance_inflation_factor(x, i) for i in range(1, x.shape[1])]
    np.testing.assert_allclose(variance_inflation(x), expected, rtol=1e-9)
    assert variance_inflation(x[:, :2]).tolist() == [1.0]
