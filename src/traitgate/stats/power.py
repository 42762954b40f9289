"""Power and sample size (the planner), the per-model spread of rates, and calibration."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import stats as st

from traitgate.stats._core import Alternative, _check_alpha, _need


def power(
    effect: float,
    sd: float,
    n: int,
    *,
    alpha: float = 0.05,
    alternative: Alternative = "greater",
    design: Literal["two-sample", "one-sample"] = "two-sample",
) -> float:
    """Power of a t test to detect a mean difference ``effect``.

    ``two-sample``: n units per arm, each with standard deviation ``sd`` (e.g. per-model
    rates of replicates: the pooled t that gates decide with). ``one-sample``: n paired differences
    with standard deviation ``sd`` (e.g. per-prompt differences of one model per arm).
    """
    _check_alpha(alpha)
    _need(sd > 0 and n >= 2, "power needs sd > 0 and n >= 2")
    if design == "two-sample":
        df, ncp = 2 * n - 2, effect / (sd * math.sqrt(2 / n))
    else:
        df, ncp = n - 1, effect / (sd / math.sqrt(n))
    if alternative == "greater":
        return float(st.nct.sf(st.t.isf(alpha, df), df, ncp))
    if alternative == "less":
        return float(st.nct.cdf(-st.t.isf(alpha, df), df, ncp))
    crit = st.t.isf(alpha / 2, df)
    return float(st.nct.sf(crit, df, ncp) + st.nct.cdf(-crit, df, ncp))


def required_n(
    effect: float,
    sd: float,
    *,
    target_power: float = 0.8,
    alpha: float = 0.05,
    alternative: Alternative = "greater",
    design: Literal["two-sample", "one-sample"] = "two-sample",
    max_n: int = 1_000_000,
) -> int:
    """Smallest n (per arm, or pairs) reaching ``target_power``."""
    _need(0 < target_power < 1, "target_power must be in (0, 1)")
    _need(effect != 0, "effect must be non-zero")
    lo, hi = 2, 2
    while power(effect, sd, hi, alpha=alpha, alternative=alternative, design=design) < target_power:
        lo, hi = hi, hi * 2
        if hi > max_n:
            raise ValueError(f"more than {max_n} units needed")
    while lo < hi:
        mid = (lo + hi) // 2
        ok = power(effect, sd, mid, alpha=alpha, alternative=alternative, design=design)
        lo, hi = (lo, mid) if ok >= target_power else (mid + 1, hi)
    return lo


def model_rate_sd(
    rate: float,
    *,
    prompts: int,
    samples: int | None,
    prompt_sd: float = 0.0,
    model_sd: float = 0.0,
) -> float:
    """Standard deviation of one model's measured rate (mean over prompts).

    Adds fine-tuning noise between models (``model_sd``), spread between prompts
    (``prompt_sd``) and, for the sampled measure, binomial noise of ``samples`` per prompt
    (``samples=None`` for the exact measure, which has none).
    """
    _need(0 <= rate <= 1 and prompts >= 1, "rate must be in [0, 1] and prompts >= 1")
    binomial = 0.0 if samples is None else rate * (1 - rate) / samples
    return math.sqrt(model_sd**2 + (prompt_sd**2 + binomial) / prompts)


@dataclass(frozen=True)
class Calibration:
    rejection_rate: float
    standard_error: float
    simulations: int
    alpha: float

    @property
    def upper_bound(self) -> float:
        """alpha plus three Monte-Carlo standard errors at alpha."""
        return self.alpha + 3 * math.sqrt(self.alpha * (1 - self.alpha) / self.simulations)


def calibrate(
    pvalue_of: Callable[[np.random.Generator], float],
    *,
    simulations: int = 1000,
    alpha: float = 0.05,
    seed: int = 0,
) -> Calibration:
    """Share of simulated data sets whose p-value is below ``alpha``.

    ``pvalue_of(rng)`` simulates one data set and returns a test's p-value. Under a
    simulated null the rate must stay below :attr:`Calibration.upper_bound`.
    """
    _check_alpha(alpha)
    rng = np.random.default_rng(seed)
    rejections = sum(pvalue_of(rng) < alpha for _ in range(simulations))
    rate = rejections / simulations
    return Calibration(rate, math.sqrt(rate * (1 - rate) / simulations), simulations, alpha)
