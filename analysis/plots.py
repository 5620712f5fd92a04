"""Residual diagnostics of a fitted model, drawn with matplotlib (no pyplot)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib import rc_context
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from scipy import stats

from participants.retention import BRAND, TARGET, chart_rc, figure_png, figure_svg

# The project's chart settings; the same data draws the same file.
RC = chart_rc(**{"svg.hashsalt": "analysis-diagnostics", "font.size": 10})
FORMATS = ("svg", "png")


def standardised(residuals: Sequence[float]) -> np.ndarray:
    values = np.asarray(residuals, dtype=float)
    spread = values.std(ddof=1) if len(values) > 1 else 0.0
    if not spread:
        return np.zeros_like(values)
    return (values - values.mean()) / spread


def diagnostic_figure(
    fitted: Sequence[float], residuals: Sequence[float], *, title: str = ""
) -> Figure:
    """Residuals against fitted values, and a normal Q-Q plot of the residuals."""
    fitted = np.asarray(fitted, dtype=float)
    residuals = np.asarray(residuals, dtype=float)
    if fitted.shape != residuals.shape:
        raise ValueError("There must be one fitted value for each residual.")
    with rc_context(RC):
        figure = Figure(figsize=(9, 4), layout="constrained")
        FigureCanvasAgg(figure)
        scatter, qq = figure.subplots(1, 2)

        scatter.scatter(fitted, residuals, s=18, color=BRAND, alpha=0.8)
        scatter.axhline(0, color=TARGET, linestyle="--", linewidth=1)
        scatter.set_xlabel("Fitted value")
        scatter.set_ylabel("Residual")
        scatter.set_title("Residuals against fitted values")

        (theoretical, ordered), (slope, intercept, _) = stats.probplot(
            standardised(residuals), dist="norm"
        )
        qq.scatter(theoretical, ordered, s=18, color=BRAND, alpha=0.8)
        if len(theoretical):
            ends = np.array([theoretical.min(), theoretical.max()])
            qq.plot(ends, ends, color=TARGET, linestyle="--", linewidth=1)
        qq.set_xlabel("Theoretical normal quantile")
        qq.set_ylabel("Standardised residual")
        qq.set_title("Normal Q-Q plot of standardised residuals")

        figure.suptitle(title or "Residual diagnostics")
    return figure


def render(
    figure: Figure, fmt: str, *, title: str = "", description: str = ""
) -> bytes:
    """The figure as a standalone SVG document (no inline styles) or a PNG."""
    if fmt not in FORMATS:
        raise ValueError(f"Cannot draw a figure as {fmt!r}; use svg or png.")
    if fmt == "svg":
        svg = figure_svg(
            figure,
            title=title or "Residual diagnostics",
            description=description
            or "Residuals against fitted values, and a normal Q-Q plot.",
            rc=RC,
        )
        return ('<?xml version="1.0" encoding="utf-8"?>\n' + svg).encode()
    return figure_png(figure, rc=RC, dpi=150, metadata={"Software": None})
