"""Sensitivity analysis: the final model refitted on multiply imputed data.

Complete-case regression drops everyone missing any variable; if those people
differ, estimates can be biased. Multiple imputation by chained equations
(statsmodels MICE, predictive mean matching) fills the gaps several times and
pools the fits by Rubin's rules, so the two sets of estimates can be compared.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from statsmodels.imputation.mice import MICE, MICEData
from statsmodels.regression.linear_model import OLS

from analysis.regression import INTERCEPT, AnalysisError
from analysis.specification import ModelSpec


def _numeric_frame(frame: pd.DataFrame, spec: ModelSpec) -> tuple[pd.DataFrame, list]:
    columns = [spec.outcome] + [name for block in spec.blocks for name in block]
    missing = [name for name in columns if name not in frame.columns]
    if missing:
        raise AnalysisError(f"The data have no variable(s): {', '.join(missing)}.")
    data = pd.DataFrame(index=frame.index)
    terms = []
    for name in columns:
        values = frame[name]
        if isinstance(values.dtype, pd.CategoricalDtype) or values.dtype == object:
            levels = [
                level
                for level in getattr(values, "cat", None).categories
                if (values == level).any()
            ]
            reference = spec.categorical.get(name) or (levels[0] if levels else None)
            for level in levels:
                if level == reference:
                    continue
                column = f"{name}_{len(terms)}"
                dummy = (values == level).astype(float)
                dummy[values.isna()] = np.nan
                data[column] = dummy
                terms.append((column, f"{name}[{level}]"))
        else:
            column = name if name == spec.outcome else f"x{len(terms)}"
            data[column] = values.astype(float)
            if name != spec.outcome:
                terms.append((column, name))
    data = data.rename(columns={spec.outcome: "outcome"})
    return data.reset_index(drop=True), terms


def pooled_fit(
    frame: pd.DataFrame,
    spec: ModelSpec,
    *,
    imputations: int = 20,
    burn_in: int = 10,
    seed: int = 2018,
) -> dict:
    """The final block's coefficients pooled over ``imputations`` imputed data sets."""
    data, terms = _numeric_frame(frame, spec)
    observed = data["outcome"].notna()
    if observed.sum() < len(terms) + 2:
        raise AnalysisError(
            f"Only {int(observed.sum())} participants have {spec.outcome}; "
            "too few to impute and fit."
        )
    imputer = MICEData(data, rng=np.random.default_rng(seed))
    formula = "outcome ~ " + " + ".join(column for column, _ in terms)
    result = MICE(formula, OLS, imputer).fit(
        n_burnin=burn_in, n_imputations=imputations
    )
    names = [INTERCEPT] + [label for _, label in terms]
    conf = np.asarray(result.conf_int())
    return {
        "name": spec.name,
        "outcome": spec.outcome,
        "n": int(len(data)),
        "complete_cases": int(data.notna().all(axis=1).sum()),
        "imputations": imputations,
        "coefficients": [
            {
                "term": name,
                "b": float(result.params[i]),
                "se": float(result.bse[i]),
                "p": float(result.pvalues[i]),
                "ci_low": float(conf[i][0]),
                "ci_high": float(conf[i][1]),
                "fraction_missing_information": float(result.frac_miss_info[i]),
            }
            for i, name in enumerate(names)
        ],
    }
