"""Descriptive tables: Table 1, score correlations, completers against the rest.

Each function takes the analysis frame (one row per participant, as built by
``analysis.dataset``) and returns a tidy DataFrame ready to show or download.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import stats

OVERALL = "All participants"


def _numeric_columns(frame: pd.DataFrame) -> list[str]:
    return [
        column
        for column in frame.columns
        if pd.api.types.is_numeric_dtype(frame[column])
        and not pd.api.types.is_bool_dtype(frame[column])
    ]


def _categorical_columns(frame: pd.DataFrame) -> list[str]:
    return [
        column
        for column in frame.columns
        if isinstance(frame[column].dtype, pd.CategoricalDtype) and column != "site"
    ]


def _describe(group: pd.DataFrame, numeric: list[str], categorical: list[str]) -> dict:
    cells = {"N": str(len(group))}
    for column in numeric:
        values = group[column].dropna()
        if len(values) == 0:
            cells[column] = "—"
        elif len(values) == 1:
            cells[column] = f"{values.iloc[0]:.1f} (n=1)"
        else:
            cells[column] = f"{values.mean():.1f} ({values.std(ddof=1):.1f})"
    for column in categorical:
        counts = group[column].value_counts(sort=False)
        total = int(counts.sum())
        for level, count in counts.items():
            share = 100 * count / total if total else 0.0
            cells[f"{column}: {level}"] = f"{int(count)} ({share:.0f}%)"
    return cells


def table_one(frame: pd.DataFrame, *, columns: list[str] | None = None) -> pd.DataFrame:
    """Mean (SD) for numbers and n (%) for categories, overall and by site.

    Rows are variables (categories expanded to one row per level), columns are
    "All participants" then each site.
    """
    data = frame if columns is None else frame[[*columns, "site"]]
    numeric = [c for c in _numeric_columns(data) if c != "site"]
    categorical = _categorical_columns(data)
    groups = {OVERALL: data}
    if "site" in data.columns:
        for site, group in data.groupby("site", observed=True):
            groups[str(site)] = group
    table = pd.DataFrame(
        {name: _describe(group, numeric, categorical) for name, group in groups.items()}
    )
    return table.fillna("0 (0%)")


def correlations(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Pearson correlations between scores, pairwise complete."""
    present = [column for column in columns if column in frame.columns]
    return frame[present].astype(float).corr(method="pearson", min_periods=3)


def completers_compared(
    frame: pd.DataFrame,
    *,
    completed: pd.Series,
    columns: list[str],
    others: pd.Series | None = None,
) -> pd.DataFrame:
    """Baseline values of completers and non-completers, with Welch's t-test.

    ``others`` marks the non-completers (everyone not completed when None);
    rows in neither group, such as those whose follow-up is still to come, are
    left out. Shows whether dropout depends on how people started: a
    difference here warns that complete-case results at follow-up may be biased.
    """
    if others is None:
        others = ~completed
    rows = []
    for column in columns:
        if column not in frame.columns:
            continue
        done = frame.loc[completed, column].dropna().astype(float)
        rest = frame.loc[others & ~completed, column].dropna().astype(float)
        row = {
            "variable": column,
            "completers_n": len(done),
            "completers_mean": done.mean() if len(done) else np.nan,
            "completers_sd": done.std(ddof=1) if len(done) > 1 else np.nan,
            "others_n": len(rest),
            "others_mean": rest.mean() if len(rest) else np.nan,
            "others_sd": rest.std(ddof=1) if len(rest) > 1 else np.nan,
            "t": np.nan,
            "p": np.nan,
        }
        if len(done) > 1 and len(rest) > 1:
            test = stats.ttest_ind(done, rest, equal_var=False)
            row["t"], row["p"] = float(test.statistic), float(test.pvalue)
        rows.append(row)
    return pd.DataFrame(rows)


def mixed_model(
    frame: pd.DataFrame, *, score: str, timepoints: list[str]
) -> dict[str, float | int | str]:
    """Score over time with a random intercept per participant, all data used.

    Every available measurement counts, so participants missing follow-up still
    inform the baseline level; the time effect is the change from the first
    timepoint.
    """
    long = []
    for order, timepoint in enumerate(timepoints):
        column = f"{timepoint}_{score}"
        if column not in frame.columns:
            continue
        values = frame[column].dropna()
        long.extend(
            {"participant": pid, "time": order, "value": float(value)}
            for pid, value in values.items()
        )
    data = pd.DataFrame(long)
    if data.empty or data["time"].nunique() < 2 or data["participant"].nunique() < 3:
        return {"score": score, "error": "Too few measurements over time to model."}
    design = sm.add_constant(data[["time"]].astype(float))
    model = sm.MixedLM(data["value"], design, groups=data["participant"])
    result = model.fit(reml=True)
    low, high = result.conf_int().loc["time"]
    return {
        "score": score,
        "observations": int(len(data)),
        "participants": int(data["participant"].nunique()),
        "intercept": float(result.params["const"]),
        "change": float(result.params["time"]),
        "change_se": float(result.bse["time"]),
        "change_p": float(result.pvalues["time"]),
        "change_ci_low": float(low),
        "change_ci_high": float(high),
        "participant_variance": float(result.cov_re.iloc[0, 0]),
        "residual_variance": float(result.scale),
    }
