"""Confidence intervals: Wilson for a proportion, Student t for a mean, and an arm's rate."""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats as st

from traitgate.stats._core import (
    ArmSummary,
    Floats,
    Interval,
    _as_1d,
    _as_2d,
    _check_level,
    _mean,
    _quantile,
)


def wilson_interval(k: int, n: int, confidence_level: float = 0.95) -> Interval:
    """Wilson score interval for a binomial proportion ``k/n``."""
    _check_level(confidence_level)
    if n <= 0 or not 0 <= k <= n:
        raise ValueError(f"need 0 <= k <= n and n > 0 (got k={k}, n={n})")
    z = float(st.norm.ppf(0.5 + confidence_level / 2))
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    # exact at the boundaries (the formula can miss 0 or 1 by rounding)
    return Interval(
        0.0 if k == 0 else max(0.0, centre - half), 1.0 if k == n else min(1.0, centre + half)
    )


def t_interval(values: ArrayLike, confidence_level: float = 0.95) -> Interval:
    """Student-t interval of the mean (NaN for fewer than two values)."""
    _check_level(confidence_level)
    x = np.asarray(values, dtype=float)
    if x.size < 2:
        return Interval(math.nan, math.nan)
    mean = float(x.mean())
    sem = float(x.std(ddof=1) / math.sqrt(x.size))
    half = _quantile(0.5 + confidence_level / 2, x.size - 1) * sem
    return Interval(mean - half, mean + half)


def summarise_arm(
    rates: ArrayLike,
    confidence_level: float = 0.95,
    *,
    model_rates: ArrayLike | None = None,
) -> ArmSummary:
    """Summary of an arm from its per-prompt rates, shape (models, prompts).

    With ≥ 2 models the CI is across models (as in the published figures); with one model
    it is across prompts, which respects the clustering of samples within prompts.
    ``model_rates`` overrides the per-model means (e.g. exact ratios of integer totals).
    """
    _check_level(confidence_level)
    x = _as_2d(rates)
    per_model = x.mean(axis=1) if model_rates is None else _as_1d(model_rates)
    return _summarise(x, per_model, confidence_level)


def _summarise(x: Floats, per_model: Floats, confidence_level: float) -> ArmSummary:
    """:func:`summarise_arm` of validated rates (shape (models, prompts)) and per-model rates."""
    if x.shape[0] >= 2:
        return ArmSummary(
            _mean(per_model),
            tuple(per_model.tolist()),
            x.shape[1],
            "models",
            confidence_level,
        )
    return ArmSummary(
        float(per_model[0]),
        (float(per_model[0]),),
        x.shape[1],
        "prompts",
        confidence_level,
        ci_over=tuple(x[0].tolist()),
    )
