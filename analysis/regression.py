"""Hierarchical (blockwise) ordinary least squares, as SPSS reports it.

The study asks whether patient-professional partnership predicts self-management
once demographics and clinical factors are accounted for; each block of predictors
is entered in turn and the change in R² tells what the new block adds.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import stats
from statsmodels.stats.diagnostic import het_breuschpagan

INTERCEPT = "(Intercept)"
INFLUENTIAL_CASES = 5


class AnalysisError(ValueError):
    """The data cannot answer the question as asked; the message says why."""


@dataclass(frozen=True)
class Coefficient:
    term: str
    b: float
    se: float
    beta: float | None
    t: float
    p: float
    ci_low: float
    ci_high: float
    vif: float | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "term": self.term,
            "b": self.b,
            "se": self.se,
            "beta": self.beta,
            "t": self.t,
            "p": self.p,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "vif": self.vif,
        }


@dataclass(frozen=True)
class Block:
    number: int
    entered: tuple[str, ...]
    terms_entered: tuple[str, ...]
    n: int
    r_squared: float
    adj_r_squared: float
    r_squared_change: float
    f_change: float
    df1: int
    df2: int
    p_f_change: float
    f: float
    df_model: int
    df_resid: int
    p_f: float
    coefficients: tuple[Coefficient, ...]

    def coefficient(self, term: str) -> Coefficient:
        for coefficient in self.coefficients:
            if coefficient.term == term:
                return coefficient
        raise KeyError(term)

    def as_dict(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "entered": list(self.entered),
            "terms_entered": list(self.terms_entered),
            "n": self.n,
            "r_squared": self.r_squared,
            "adj_r_squared": self.adj_r_squared,
            "r_squared_change": self.r_squared_change,
            "f_change": self.f_change,
            "df1": self.df1,
            "df2": self.df2,
            "p_f_change": self.p_f_change,
            "f": self.f,
            "df_model": self.df_model,
            "df_resid": self.df_resid,
            "p_f": self.p_f,
            "coefficients": [c.as_dict() for c in self.coefficients],
        }


@dataclass(frozen=True)
class InfluentialCase:
    case: Hashable
    cooks_distance: float

    def as_dict(self) -> dict[str, Any]:
        return {"case": _plain(self.case), "cooks_distance": self.cooks_distance}


@dataclass(frozen=True)
class Diagnostics:
    """Checks on the final block.

    ``cases``, ``fitted`` and ``residuals`` are per-case arrays for plots; they are
    left out of ``as_dict`` so the serialised result stays a summary table.
    """

    breusch_pagan: float
    breusch_pagan_df: int
    breusch_pagan_p: float
    influential: tuple[InfluentialCase, ...]
    cases: tuple[Hashable, ...] = field(repr=False)
    fitted: tuple[float, ...] = field(repr=False)
    residuals: tuple[float, ...] = field(repr=False)

    def as_dict(self) -> dict[str, Any]:
        return {
            "breusch_pagan": self.breusch_pagan,
            "breusch_pagan_df": self.breusch_pagan_df,
            "breusch_pagan_p": self.breusch_pagan_p,
            "influential": [case.as_dict() for case in self.influential],
        }


@dataclass(frozen=True)
class HierarchicalResult:
    outcome: str
    n: int
    reference_levels: dict[str, Any]
    blocks: tuple[Block, ...]
    diagnostics: Diagnostics

    def as_dict(self) -> dict[str, Any]:
        """A JSON-serialisable summary; per-case arrays stay on ``diagnostics``."""
        return {
            "outcome": self.outcome,
            "n": self.n,
            "reference_levels": {
                column: _plain(level) for column, level in self.reference_levels.items()
            },
            "blocks": [block.as_dict() for block in self.blocks],
            "diagnostics": self.diagnostics.as_dict(),
        }


def fit_hierarchical(
    data: pd.DataFrame,
    *,
    outcome: str,
    blocks: list[list[str]],
    categorical: dict[str, str | None] | None = None,
) -> HierarchicalResult:
    """Fit each block on top of the previous ones and report what each one adds.

    Every block is fitted on the complete cases of the final block, as SPSS does, so
    that R² change compares models of the same people. ``categorical`` maps a column
    to its reference level (None takes the first level: a pandas Categorical's own
    first category present, otherwise the first in sorted order); each other
    level becomes a 0/1 term named ``column[level]``. Rows keep the caller's index
    labels, which name the cases in the influence diagnostics.
    """
    categorical = dict(categorical or {})
    predictors = _check_specification(data, outcome=outcome, blocks=blocks)
    unknown = sorted(set(categorical) - set(predictors))
    if unknown:
        raise AnalysisError(
            f"Categorical column(s) {', '.join(unknown)} are not in any block."
        )

    sample = data.loc[:, [outcome, *predictors]].dropna()
    n = len(sample)
    if not pd.api.types.is_numeric_dtype(sample[outcome]):
        raise AnalysisError(f"The outcome {outcome} is not numeric.")
    y = np.asarray(sample[outcome], dtype=float)

    # Levels come from the analysis sample: a level nobody in it has cannot be
    # estimated.
    columns: dict[str, list[tuple[str, np.ndarray]]] = {}
    reference_levels: dict[str, Any] = {}
    for predictor in predictors:
        if predictor in categorical:
            reference, terms = _dummies(
                sample[predictor], name=predictor, reference=categorical[predictor]
            )
            reference_levels[predictor] = reference
            columns[predictor] = terms
        else:
            columns[predictor] = [(predictor, _numeric(sample, predictor))]

    n_terms = sum(len(terms) for terms in columns.values())
    if n < n_terms + 2:
        raise AnalysisError(
            f"Only {n} complete case(s) on {outcome} and the predictors, but "
            f"{n_terms} predictor term(s) need at least {n_terms + 2}."
        )
    if np.ptp(y) == 0:
        raise AnalysisError(
            f"The outcome {outcome} has the same value ({y[0]:g}) for all {n} "
            f"complete cases, so there is no variance to explain."
        )
    for predictor, terms in columns.items():
        if not terms or any(np.ptp(values) == 0 for _, values in terms):
            raise AnalysisError(
                f"The predictor {predictor} takes only one value among the {n} "
                f"complete cases; it cannot explain any variance. Drop it."
            )

    names = [INTERCEPT] + [name for terms in columns.values() for name, _ in terms]
    design = np.column_stack(
        [np.ones(n)] + [values for terms in columns.values() for _, values in terms]
    )
    _check_collinearity(design, names=names, n=n)

    sd_y = y.std(ddof=1)
    total_ss = float(np.sum((y - y.mean()) ** 2))
    results = []
    previous_ssr, previous_r2, used = total_ss, 0.0, 1
    for number, block in enumerate(blocks, start=1):
        width = used + sum(len(columns[predictor]) for predictor in block)
        x = design[:, :width]
        fit = sm.OLS(y, x).fit()
        df1, df2 = width - used, n - width
        ssr = float(fit.ssr)
        f_change = ((previous_ssr - ssr) / df1) / (ssr / df2)
        coefficients = _coefficients(fit, x, names=names[:width], sd_y=sd_y)
        results.append(
            Block(
                number=number,
                entered=tuple(block),
                terms_entered=tuple(names[used:width]),
                n=n,
                r_squared=float(fit.rsquared),
                adj_r_squared=float(fit.rsquared_adj),
                r_squared_change=float(fit.rsquared) - previous_r2,
                f_change=float(f_change),
                df1=df1,
                df2=df2,
                p_f_change=float(stats.f.sf(f_change, df1, df2)),
                f=float(fit.fvalue),
                df_model=int(fit.df_model),
                df_resid=int(fit.df_resid),
                p_f=float(fit.f_pvalue),
                coefficients=coefficients,
            )
        )
        previous_ssr, previous_r2, used = ssr, float(fit.rsquared), width

    return HierarchicalResult(
        outcome=outcome,
        n=n,
        reference_levels=reference_levels,
        blocks=tuple(results),
        diagnostics=_diagnostics(fit, design, index=sample.index),
    )


def _check_specification(
    data: pd.DataFrame, *, outcome: str, blocks: list[list[str]]
) -> list[str]:
    if not blocks or any(not block for block in blocks):
        raise AnalysisError("Every block needs at least one predictor.")
    predictors = [predictor for block in blocks for predictor in block]
    repeated = sorted({p for p in predictors if predictors.count(p) > 1})
    if repeated:
        raise AnalysisError(
            f"Predictor(s) {', '.join(repeated)} are entered in more than one block."
        )
    if outcome in predictors:
        raise AnalysisError(f"The outcome {outcome} is also listed as a predictor.")
    missing = [c for c in [outcome, *predictors] if c not in data.columns]
    if missing:
        raise AnalysisError(f"The data have no column(s) {', '.join(missing)}.")
    return predictors


def _numeric(sample: pd.DataFrame, column: str) -> np.ndarray:
    if not pd.api.types.is_numeric_dtype(sample[column]):
        raise AnalysisError(
            f"The column {column} is not numeric; if it holds categories, list it "
            f"in categorical= with its reference level."
        )
    return np.asarray(sample[column], dtype=float)


def _dummies(
    values: pd.Series, *, name: str, reference: Any
) -> tuple[Any, list[tuple[str, np.ndarray]]]:
    present = set(values.unique())
    if isinstance(values.dtype, pd.CategoricalDtype):
        # A labelled categorical keeps its own order (e.g. education from none
        # to postgraduate), so its first level is the natural reference.
        levels = [level for level in values.cat.categories if level in present]
    else:
        levels = list(present)
        try:
            levels.sort()
        except TypeError:
            levels.sort(key=str)
    if reference is None:
        reference = levels[0] if levels else None
    elif reference not in levels:
        raise AnalysisError(
            f"The reference level {reference!r} of {name} does not occur among the "
            f"complete cases; levels present: {', '.join(map(str, levels))}."
        )
    terms = [
        (f"{name}[{level}]", np.asarray(values == level, dtype=float))
        for level in levels
        if level != reference
    ]
    return reference, terms


def _check_collinearity(design: np.ndarray, *, names: list[str], n: int) -> None:
    # Unit-norm columns make the rank test about the data, not about units.
    scaled = design / np.linalg.norm(design, axis=0)
    _, singular, vt = np.linalg.svd(scaled, full_matrices=False)
    tolerance = singular.max() * max(scaled.shape) * np.finfo(float).eps
    null_space = vt[singular <= tolerance]
    if not len(null_space):
        return
    involved = np.any(np.abs(null_space) > 1e-6, axis=0)
    culprits = [name for name, hit in zip(names, involved, strict=True) if hit]
    culprits = [name for name in culprits if name != INTERCEPT]
    raise AnalysisError(
        f"The predictors {', '.join(culprits)} are perfectly collinear among the "
        f"{n} complete cases: one is an exact linear combination of the others. "
        f"Drop or combine one of them."
    )


def _coefficients(
    fit: Any, x: np.ndarray, *, names: list[str], sd_y: float
) -> tuple[Coefficient, ...]:
    ci = fit.conf_int(alpha=0.05)
    sd_x = x.std(axis=0, ddof=1)
    vifs = variance_inflation(x)
    coefficients = []
    for i, name in enumerate(names):
        intercept = i == 0
        coefficients.append(
            Coefficient(
                term=name,
                b=float(fit.params[i]),
                se=float(fit.bse[i]),
                beta=None if intercept else float(fit.params[i] * sd_x[i] / sd_y),
                t=float(fit.tvalues[i]),
                p=float(fit.pvalues[i]),
                ci_low=float(ci[i, 0]),
                ci_high=float(ci[i, 1]),
                vif=None if intercept else float(vifs[i - 1]),
            )
        )
    return tuple(coefficients)


def variance_inflation(x: np.ndarray) -> np.ndarray:
    """The VIF of each column after the intercept (column 0) of ``x``.

    1 / (1 - R²) of each predictor regressed on the others equals the diagonal
    of the inverse of the predictors' correlation matrix: one inversion instead
    of one regression per predictor, which matters at 100,000 rows.
    """
    predictors = x[:, 1:]
    if predictors.shape[1] == 1:
        return np.ones(1)
    return np.diag(np.linalg.inv(np.corrcoef(predictors, rowvar=False)))


def _diagnostics(fit: Any, design: np.ndarray, *, index: pd.Index) -> Diagnostics:
    statistic, p_value, _, _ = het_breuschpagan(fit.resid, design)
    # A case with leverage 1 (the only one at some level of a category) is fitted
    # exactly: its Cook's distance is 0/0, so it is not ranked.
    with np.errstate(invalid="ignore", divide="ignore"):
        influence = fit.get_influence()
        cooks = influence.cooks_distance[0]
    defined = np.isfinite(cooks) & (influence.hat_matrix_diag < 1 - 1e-8)
    ranked = [i for i in np.argsort(-cooks, kind="stable") if defined[i]]
    top = ranked[:INFLUENTIAL_CASES]
    return Diagnostics(
        breusch_pagan=float(statistic),
        breusch_pagan_df=design.shape[1] - 1,
        breusch_pagan_p=float(p_value),
        influential=tuple(
            InfluentialCase(case=index[i], cooks_distance=float(cooks[i])) for i in top
        ),
        cases=tuple(index),
        fitted=tuple(float(v) for v in fit.fittedvalues),
        residuals=tuple(float(v) for v in fit.resid),
    )


def _plain(value: Any) -> Any:
    """Index labels and levels may be numpy scalars, which json cannot write."""
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)
