"""The statistics package's shared types (results, intervals, noise), constants and helpers."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import special
from scipy import stats as st

Alternative = Literal["greater", "less", "two-sided"]


Correction = Literal["holm", "bh", "none"]


Design = Literal["replicates", "resampled", "vs-fixed", "prediction", "single"]


PairedMethod = Literal["permutation", "wilcoxon"]


Floats = NDArray[np.float64]


SINGLE_NOTE = (
    "one model per arm: the decision rests on the stated or measured fine-tuning noise "
    "between checkpoints; the per-prompt tests reported beside it are conditional on these "
    "two checkpoints. Add replicates (several seeds per arm) to measure it instead."
)


# Spreads this small are rounding, not data: per-model rates are means of at most a few
# thousand numbers in [0, 1], whose float sums differ by ulps when the totals are equal.
_TIE_TOLERANCE = 1e-12


# Exact permutation over models up to this many splits, seeded Monte Carlo beyond.
_MAX_SPLITS = 20_000


@dataclass(frozen=True)
class Interval:
    low: float
    high: float

    def __iter__(self) -> Iterator[float]:
        return iter((self.low, self.high))


@dataclass(frozen=True)
class ModelNoise:
    """Fine-tuning noise between checkpoints: the SD of one model's rate across seeds.

    ``df`` is None for a stated value (treated as known), else the degrees of freedom of
    its estimate (models - 1 when measured as the SD of replicate controls' rates).
    """

    sd: float
    df: float | None = None
    source: str = "stated"

    def __post_init__(self) -> None:
        _need(math.isfinite(self.sd) and self.sd >= 0, "model_sd must be a number >= 0")
        _need(self.df is None or self.df >= 1, "model_sd's degrees of freedom must be >= 1")


@dataclass(frozen=True, repr=False)
class TestResult:
    """One hypothesis test, shaped like scipy's result objects. Holds data only.

    The confidence interval of ``effect`` comes from ``standard_error`` (a t interval with
    ``df`` degrees of freedom, normal when ``df`` is None) or, for the per-prompt tests,
    from a seeded cluster bootstrap over the stored per-prompt ``differences``; NaN where
    the test defines none.
    """

    method: str
    statistic: float
    pvalue: float
    effect: float
    alternative: Alternative
    df: float | None = None
    standard_error: float | None = None
    differences: tuple[float, ...] = ()
    seed: int = 0

    def confidence_interval(self, confidence_level: float = 0.95) -> Interval:
        """Two-sided interval of ``effect`` at ``confidence_level``."""
        _check_level(confidence_level)
        if self.standard_error is not None and math.isfinite(self.standard_error):
            if self.standard_error == 0:
                return Interval(math.nan, math.nan)
            q = _quantile(0.5 + confidence_level / 2, self.df)
            half = q * self.standard_error
            return Interval(self.effect - half, self.effect + half)
        if self.differences:
            return _bootstrap_interval(np.asarray(self.differences), self.seed, confidence_level)
        return Interval(math.nan, math.nan)

    def __repr__(self) -> str:
        df = "" if self.df is None else f", df={self.df:.3g}"
        return (
            f"TestResult(method={self.method!r}, statistic={self.statistic:.4g}, "
            f"pvalue={self.pvalue:.4g}, effect={self.effect:.4g}{df}, "
            f"alternative={self.alternative!r})"
        )


@dataclass(frozen=True)
class ArmSummary:
    """An arm's trait rate: mean over models of per-model (mean over prompts) rates, with
    a two-sided ``level`` CI across models (≥ 2 models) or across prompts (one model).

    ``ci_over``: the values the CI is over when they are not ``model_rates`` (one model:
    its per-prompt rates)."""

    rate: float
    model_rates: tuple[float, ...]
    n_prompts: int
    ci_basis: Literal["models", "prompts"]
    level: float = 0.95
    ci_over: tuple[float, ...] = ()

    @cached_property
    def ci(self) -> Interval:
        """The Student-t interval, computed when first read (simulations that only need
        the decision never read it: a quarter of a comparison's time)."""
        from traitgate.stats.intervals import t_interval  # (it imports this module)

        return t_interval(self.ci_over or self.model_rates, self.level)

    @property
    def n_models(self) -> int:
        return len(self.model_rates)


@dataclass(frozen=True)
class Comparison:
    """The decision test of a comparison of two arms, and the tests reported beside it."""

    test: TestResult
    reported: tuple[TestResult, ...]
    design: Design
    a: ArmSummary
    b: ArmSummary
    note: str = ""
    noise: ModelNoise | None = None

    @property
    def statistic(self) -> float:
        return self.test.statistic

    @property
    def pvalue(self) -> float:
        return self.test.pvalue

    @property
    def effect(self) -> float:
        return self.test.effect

    @property
    def method(self) -> str:
        return self.test.method

    def confidence_interval(self, confidence_level: float = 0.95) -> Interval:
        return self.test.confidence_interval(confidence_level)

    def __repr__(self) -> str:
        return (
            f"Comparison(design={self.design!r}, method={self.method!r}, "
            f"effect={self.effect:.4g}, pvalue={self.pvalue:.4g}, "
            f"a={self.a.rate:.4g} (n={self.a.n_models}), b={self.b.rate:.4g} "
            f"(n={self.b.n_models}))"
        )


def decision_level(alpha: float, alternative: Alternative) -> float:
    """The two-sided confidence level that agrees with a test at ``alpha``.

    Two-sided tests: 1 - alpha. One-sided tests: 1 - 2·alpha, whose lower (``greater``)
    or upper (``less``) end is the one-sided 1 - alpha bound, so for the t tests "the
    bound excludes 0" is "p < alpha"; the interval stays finite (valid JSON).
    """
    _check_alpha(alpha)
    level = 1 - alpha if alternative == "two-sided" else 1 - 2 * alpha
    _need(level > 0, f"alpha {alpha} is too large for a one-sided interval")
    return level


def _mean_difference(x: Floats, y: Floats, axis: int = -1) -> Floats:
    return np.asarray(np.mean(x - y, axis=axis), dtype=float)


def _bootstrap_interval(d: Floats, seed: int, level: float) -> Interval:
    """Percentile cluster bootstrap of the mean per-prompt difference (seeded)."""
    if d.size < 2 or np.all(d == d[0]):
        return Interval(math.nan, math.nan)
    res = st.bootstrap(
        (d,),
        np.mean,
        confidence_level=level,
        n_resamples=9999,
        method="percentile",
        rng=np.random.default_rng(seed),
    )
    return Interval(float(res.confidence_interval.low), float(res.confidence_interval.high))


# (scipy.special's t and normal functions are what scipy.stats' distributions evaluate,
# without their per-call argument handling: simulations call these hundreds of thousands
# of times)
def _quantile(q: float, df: float | None) -> float:
    return float(special.ndtri(q) if df is None else special.stdtrit(df, q))


def _t_pvalue(t: float, df: float | None, alternative: Alternative) -> float:
    def cdf(x: float) -> float:
        return float(special.ndtr(x) if df is None else special.stdtr(df, x))

    if alternative == "greater":
        return cdf(-t)
    if alternative == "less":
        return cdf(t)
    return float(min(1.0, 2 * cdf(-abs(t))))


def _best_possible_p(effect: float, alternative: Alternative, best: float) -> float:
    """p of a test at its floor (no spread to estimate): 1 for no effect or one against
    the alternative's direction, else the smallest p the exact test can give."""
    against = alternative != "two-sided" and (effect > 0) != (alternative == "greater")
    return 1.0 if abs(effect) <= _TIE_TOLERANCE or against else min(1.0, best)


def _mean(x: Floats) -> float:
    """``float(x.mean())`` of a 1-D array: the same sum (numpy's pairwise ``add.reduce``)
    and division, without ``ndarray.mean``'s argument handling, a few microseconds a call
    that the statistics simulations make millions of times."""
    return float(np.add.reduce(x) / x.size)


def _ss(x: Floats, tied: bool | None = None) -> float:
    """Sum of squared deviations from the mean (0 for values tied up to rounding;
    ``tied``: :func:`_tied` of ``x`` when already known)."""
    if _tied(x) if tied is None else tied:
        return 0.0
    d = x - _mean(x)
    return float(np.add.reduce(d * d))  # (= np.sum((x - x.mean()) ** 2), bit for bit)


def _tied(x: Floats) -> bool:
    """All values equal up to rounding (equal counts summed in another order differ by ulps)."""
    hi, lo = float(x.max()), float(x.min())  # (np.ptp and abs().max(), without their copies)
    return hi - lo <= _TIE_TOLERANCE * max(1.0, hi, -lo)


def _model_rates(rates: Floats, counts: tuple[ArrayLike, ArrayLike] | None) -> Floats:
    """Per-model rates: means over prompts, or exact ratios of integer totals where every
    prompt of a model has the same number of samples."""
    per_model: Floats = np.add.reduce(rates, axis=1) / rates.shape[1]  # (= rates.mean(axis=1))
    if counts is None:
        return per_model
    hits, n = (np.atleast_2d(np.asarray(v, dtype=np.int64)) for v in counts)
    _need(hits.shape == rates.shape == n.shape, "counts must have the rates' shape")
    # (ufunc reductions: ndarray.min/max/sum's values without their argument handling)
    even = (np.minimum.reduce(n, axis=1) == np.maximum.reduce(n, axis=1)) & (n[:, 0] > 0)
    totals, per_prompt = np.add.reduce(hits, axis=1).tolist(), n[:, 0].tolist()
    for m, (uniform, total, samples) in enumerate(
        zip(even.tolist(), totals, per_prompt, strict=True)
    ):
        if uniform:
            per_model[m] = total / (samples * rates.shape[1])
    return per_model


def _rounding_variance(rates: Floats, counts: tuple[ArrayLike, ArrayLike] | None) -> float:
    """q²/12 for per-model rates measured in steps of q = 1/(samples·prompts); 0 without
    counts (the exact measure is continuous)."""
    if counts is None:
        return 0.0
    n = np.atleast_2d(np.asarray(counts[1], dtype=float))
    if n.size == 0 or (n <= 0).any():
        return 0.0
    step = float(np.maximum.reduce(1.0 / (np.minimum.reduce(n, axis=1) * rates.shape[1])))
    return step**2 / 12


def _reference_variance(counts: tuple[ArrayLike, ArrayLike] | None) -> float:
    """Sampling variance of one model's rate (mean over prompts of binomial shares)."""
    if counts is None:
        return 0.0
    hits, n = (np.asarray(v, dtype=float).ravel() for v in counts)
    if hits.size == 0 or not np.any(n > 0):
        return 0.0
    seen = n > 0  # (a prompt with no answer in the rate adds nothing here)
    p = hits[seen] / n[seen]
    return float(np.sum(p * (1 - p) / n[seen]) / hits.size**2)


def _as_1d(values: ArrayLike) -> Floats:
    x = np.asarray(values, dtype=float).ravel()
    _need(bool(np.isfinite(x).all()), "rates must be finite numbers")
    return x


def _as_2d(values: ArrayLike) -> Floats:
    x = np.asarray(values, dtype=float)
    if x.ndim == 1:
        x = x[None, :]
    _need(
        x.ndim == 2 and x.shape[0] >= 1 and x.shape[1] >= 1,
        "rates must have shape (models, prompts)",
    )
    _need(bool(np.isfinite(x).all()), "rates must be finite numbers")
    return x


def _need(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)


def _check_level(level: float) -> None:
    _need(0 < level < 1, f"confidence_level must be in (0, 1), got {level}")


def _check_alpha(alpha: float) -> None:
    _need(0 < alpha < 1, f"alpha must be in (0, 1), got {alpha}")
