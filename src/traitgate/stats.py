"""Statistics for comparing trait rates between models (scipy-based, scipy-shaped results).

**The unit of analysis is the fine-tuned model.** Two models fine-tuned alike differ by more
than their prompts' sampling noise, so a test that treats prompts (or samples) of one model
per arm as independent draws mistakes fine-tuning noise for an effect. :func:`compare` picks
the test from how many models each arm has:

========================  ==========================================================
models per arm            decision test (``method``)
========================  ==========================================================
≥ 2 vs ≥ 2                Welch t on per-model rates; Mann-Whitney U reported
1 vs ≥ 2 (or ≥ 2 vs 1)    prediction-interval t: is the single model outside the
                          spread of the replicated arm?
1 vs 1                    paired per-prompt sign-flip permutation (default) or
                          Wilcoxon; cluster-bootstrap CI; pooled Fisher reported.
                          Conditional on these two checkpoints: fine-tuning noise is
                          not accounted for.
========================  ==========================================================

Every rate is a per-prompt mean first (prompts are clusters of samples), then a per-model
mean. ``alternative="greater"`` means arm *a* has the higher rate.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats as st

Alternative = Literal["greater", "less", "two-sided"]
Correction = Literal["holm", "bh", "none"]
Design = Literal["replicates", "prediction", "single"]
PairedMethod = Literal["permutation", "wilcoxon"]
Floats = NDArray[np.float64]
SINGLE_NOTE = (
    "one model per arm: the test is conditional on these two checkpoints and does not "
    "account for fine-tuning noise; add replicates (several seeds per arm) to test it"
)


@dataclass(frozen=True)
class Interval:
    low: float
    high: float

    def __iter__(self) -> Iterator[float]:
        return iter((self.low, self.high))


def _nan_interval(_: float) -> tuple[float, float]:
    return (math.nan, math.nan)


@dataclass(frozen=True, repr=False)
class TestResult:
    """One hypothesis test, shaped like scipy's result objects."""

    method: str
    statistic: float
    pvalue: float
    effect: float
    alternative: Alternative
    df: float | None = None
    _interval: Callable[[float], tuple[float, float]] = field(default=_nan_interval)

    def confidence_interval(self, confidence_level: float = 0.95) -> Interval:
        """Confidence interval of ``effect`` (NaN where the test does not define one)."""
        _check_level(confidence_level)
        low, high = self._interval(confidence_level)
        return Interval(float(low), float(high))

    def __repr__(self) -> str:
        df = "" if self.df is None else f", df={self.df:.3g}"
        return (
            f"TestResult(method={self.method!r}, statistic={self.statistic:.4g}, "
            f"pvalue={self.pvalue:.4g}, effect={self.effect:.4g}{df}, "
            f"alternative={self.alternative!r})"
        )


@dataclass(frozen=True)
class ArmSummary:
    """An arm's trait rate: mean over models of per-model (mean over prompts) rates."""

    rate: float
    ci: Interval
    model_rates: tuple[float, ...]
    n_prompts: int
    ci_basis: Literal["models", "prompts"]

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


# ---------------------------------------------------------------------- intervals


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
    half = float(st.t.ppf(0.5 + confidence_level / 2, x.size - 1)) * sem
    return Interval(mean - half, mean + half)


def summarise_arm(rates: ArrayLike, confidence_level: float = 0.95) -> ArmSummary:
    """Summary of an arm from its per-prompt rates, shape (models, prompts).

    With ≥ 2 models the CI is across models (as in the published figures); with one model
    it is across prompts, which respects the clustering of samples within prompts.
    """
    x = _as_2d(rates)
    per_model = x.mean(axis=1)
    if x.shape[0] >= 2:
        return ArmSummary(
            float(per_model.mean()),
            t_interval(per_model, confidence_level),
            tuple(float(v) for v in per_model),
            x.shape[1],
            "models",
        )
    return ArmSummary(
        float(per_model[0]),
        t_interval(x[0], confidence_level),
        (float(per_model[0]),),
        x.shape[1],
        "prompts",
    )


# ---------------------------------------------------------------------- tests across models


def welch_test(a: ArrayLike, b: ArrayLike, alternative: Alternative = "two-sided") -> TestResult:
    """Welch's t test on per-model rates (≥ 2 models per arm)."""
    x, y = _as_1d(a), _as_1d(b)
    _need(x.size >= 2 and y.size >= 2, "Welch's test needs at least two models per arm")
    effect = float(x.mean() - y.mean())
    if np.ptp(x) == 0 and np.ptp(y) == 0:  # (var() of equal floats can be 1e-35, not 0)
        return _degenerate("welch-t across models", effect, alternative, (x.size, y.size))
    res = st.ttest_ind(x, y, equal_var=False, alternative=alternative)

    def interval(level: float) -> tuple[float, float]:
        ci = res.confidence_interval(confidence_level=level)
        return (float(ci.low), float(ci.high))

    return TestResult(
        "welch-t across models",
        float(res.statistic),
        float(res.pvalue),
        effect,
        alternative,
        float(res.df),
        interval,
    )


def mann_whitney_test(
    a: ArrayLike, b: ArrayLike, alternative: Alternative = "two-sided"
) -> TestResult:
    """Mann-Whitney U on per-model rates (reported beside Welch; exact for small arms)."""
    x, y = _as_1d(a), _as_1d(b)
    effect = float(x.mean() - y.mean())
    res = st.mannwhitneyu(x, y, alternative=alternative, method="auto")
    return TestResult(
        "mann-whitney across models", float(res.statistic), float(res.pvalue), effect, alternative
    )


def prediction_test(
    a: ArrayLike, b: ArrayLike, alternative: Alternative = "two-sided"
) -> TestResult:
    """Is the single model of one arm outside the spread of the other, replicated arm?

    With replicates ``r_1..r_n`` (mean m, sd s) and the single model's rate ``x``,
    ``t = (x - m) / (s * sqrt(1 + 1/n))`` has a t distribution with n - 1 degrees of freedom
    when ``x`` is one more draw from the replicates' distribution (equal variances).
    ``effect`` is always mean(a) - mean(b).
    """
    x, y = _as_1d(a), _as_1d(b)
    _need((x.size == 1) != (y.size == 1), "the prediction test needs one arm of exactly 1 model")
    single, reps, sign = (x[0], y, 1.0) if x.size == 1 else (y[0], x, -1.0)
    _need(reps.size >= 2, "the prediction test needs at least two replicates in the other arm")
    effect = float(x.mean() - y.mean())
    scale = float(reps.std(ddof=1) * math.sqrt(1 + 1 / reps.size))
    df = reps.size - 1
    if np.ptp(reps) == 0:  # equal rates (their computed sd can be a rounding error, not 0)
        return _degenerate("prediction-interval t", effect, alternative, (x.size, y.size))
    t = sign * (single - reps.mean()) / scale  # oriented so t > 0 means a above b
    p = _t_pvalue(float(t), df, alternative)

    def interval(level: float) -> tuple[float, float]:
        half = float(st.t.ppf(0.5 + level / 2, df)) * scale
        return (effect - half, effect + half)

    return TestResult("prediction-interval t", float(t), p, effect, alternative, df, interval)


# ---------------------------------------------------------------------- tests within models


def sign_flip_test(
    a: ArrayLike,
    b: ArrayLike,
    alternative: Alternative = "two-sided",
    *,
    n_resamples: int = 65_536,
    seed: int = 0,
) -> TestResult:
    """Paired sign-flip permutation test on per-prompt differences (mean difference).

    Exact when ``2**prompts <= n_resamples``; otherwise a seeded Monte-Carlo test whose
    p-value counts the observed statistic (never zero). The CI is a cluster bootstrap over
    prompts.
    """
    x, y = _as_1d(a), _as_1d(b)
    _need(x.size == y.size and x.size >= 1, "paired tests need the same prompts in both arms")
    d = x - y
    effect = float(d.mean())
    interval = _bootstrap_interval(d, seed)
    if np.all(d == 0):
        return TestResult(
            "sign-flip permutation (per prompt)", 0.0, 1.0, 0.0, alternative, _interval=interval
        )
    res = st.permutation_test(
        (x, y),
        _mean_difference,
        permutation_type="samples",
        vectorized=True,
        n_resamples=n_resamples,
        alternative=alternative,
        rng=np.random.default_rng(seed),
    )
    return TestResult(
        "sign-flip permutation (per prompt)",
        float(res.statistic),
        float(res.pvalue),
        effect,
        alternative,
        _interval=interval,
    )


def wilcoxon_test(
    a: ArrayLike, b: ArrayLike, alternative: Alternative = "two-sided", *, seed: int = 0
) -> TestResult:
    """Wilcoxon signed-rank test on per-prompt differences."""
    x, y = _as_1d(a), _as_1d(b)
    _need(x.size == y.size and x.size >= 1, "paired tests need the same prompts in both arms")
    d = x - y
    interval = _bootstrap_interval(d, seed)
    if np.all(d == 0):
        return TestResult(
            "wilcoxon signed-rank (per prompt)", 0.0, 1.0, 0.0, alternative, _interval=interval
        )
    res = st.wilcoxon(d, alternative=alternative)
    return TestResult(
        "wilcoxon signed-rank (per prompt)",
        float(res.statistic),
        float(res.pvalue),
        float(d.mean()),
        alternative,
        _interval=interval,
    )


def fisher_pooled_test(
    hits_a: int, n_a: int, hits_b: int, n_b: int, alternative: Alternative = "two-sided"
) -> TestResult:
    """Fisher's exact test on pooled sample counts.

    Treats every sample as independent, which repeated prompts violate: reported for
    reference, not used for decisions.
    """
    _need(n_a > 0 and n_b > 0, "Fisher's test needs samples in both arms")
    table = [[hits_a, n_a - hits_a], [hits_b, n_b - hits_b]]
    res = st.fisher_exact(table, alternative=alternative)
    return TestResult(
        "fisher exact (pooled samples)",
        float(res.statistic),
        float(res.pvalue),
        hits_a / n_a - hits_b / n_b,
        alternative,
    )


def mcnemar_test(a: ArrayLike, b: ArrayLike, alternative: Alternative = "two-sided") -> TestResult:
    """Exact McNemar test for paired binary outcomes (e.g. each item answered correctly by
    model A, by model B): a binomial test of the discordant pairs. ``effect`` is the
    difference of the two arms' shares of 1s; ``statistic`` the number of items where only A
    has a 1."""
    x, y = _as_1d(a), _as_1d(b)
    _need(x.size == y.size and x.size >= 1, "paired tests need the same items in both arms")
    _need(bool(np.all(np.isin(x, (0, 1)) & np.isin(y, (0, 1)))), "McNemar needs 0/1 outcomes")
    only_a = int(((x == 1) & (y == 0)).sum())
    only_b = int(((x == 0) & (y == 1)).sum())
    effect = float(x.mean() - y.mean())
    if only_a + only_b == 0:
        return TestResult("exact mcnemar (paired items)", 0.0, 1.0, effect, alternative)
    res = st.binomtest(only_a, only_a + only_b, 0.5, alternative=alternative)
    return TestResult(
        "exact mcnemar (paired items)", float(only_a), float(res.pvalue), effect, alternative
    )


# ---------------------------------------------------------------------- the comparison


def compare(
    a: ArrayLike,
    b: ArrayLike,
    alternative: Alternative = "two-sided",
    *,
    counts_a: tuple[ArrayLike, ArrayLike] | None = None,
    counts_b: tuple[ArrayLike, ArrayLike] | None = None,
    paired_method: PairedMethod = "permutation",
    seed: int = 0,
) -> Comparison:
    """Compare the trait rate of arm ``a`` with arm ``b``.

    ``a`` and ``b`` are per-prompt rates of shape (models, prompts). ``counts_*`` are the
    pooled (hits, samples) of the sampled measure, used only for the reported Fisher test.
    """
    x, y = _as_2d(a), _as_2d(b)
    arm_a, arm_b = summarise_arm(x), summarise_arm(y)
    ma, mb = x.mean(axis=1), y.mean(axis=1)
    if x.shape[0] >= 2 and y.shape[0] >= 2:
        return Comparison(
            welch_test(ma, mb, alternative),
            (mann_whitney_test(ma, mb, alternative),),
            "replicates",
            arm_a,
            arm_b,
        )
    if x.shape[0] >= 2 or y.shape[0] >= 2:
        note = ""
        if min(x.shape[0], y.shape[0]) == 1 and max(x.shape[0], y.shape[0]) < 3:
            note = "only two replicates: the prediction test has one degree of freedom"
        return Comparison(
            prediction_test(ma, mb, alternative), (), "prediction", arm_a, arm_b, note
        )
    _need(x.shape[1] == y.shape[1], "one model per arm needs the same prompts in both arms")
    tests = {
        "permutation": sign_flip_test(x[0], y[0], alternative, seed=seed),
        "wilcoxon": wilcoxon_test(x[0], y[0], alternative, seed=seed),
    }
    decision = tests.pop(paired_method)
    reported = list(tests.values())
    if counts_a is not None and counts_b is not None:
        ka, na = (int(np.sum(v)) for v in counts_a)
        kb, nb = (int(np.sum(v)) for v in counts_b)
        reported.append(fisher_pooled_test(ka, na, kb, nb, alternative))
    return Comparison(decision, tuple(reported), "single", arm_a, arm_b, SINGLE_NOTE)


# ---------------------------------------------------------------------- multiple testing


def holm(pvalues: ArrayLike) -> Floats:
    """Holm-Bonferroni adjusted p-values (controls the family-wise error rate)."""
    p = _as_1d(pvalues)
    m = p.size
    if m == 0:
        return p
    order = np.argsort(p, kind="stable")
    scaled = (m - np.arange(m)) * p[order]
    adjusted = np.minimum(1.0, np.maximum.accumulate(scaled))
    out = np.empty(m)
    out[order] = adjusted
    return out


def benjamini_hochberg(pvalues: ArrayLike) -> Floats:
    """Benjamini-Hochberg adjusted p-values (controls the false discovery rate)."""
    p = _as_1d(pvalues)
    if p.size == 0:
        return p
    return np.asarray(st.false_discovery_control(p, method="bh"), dtype=float)


def adjust(pvalues: ArrayLike, method: Correction = "holm") -> Floats:
    if method == "holm":
        return holm(pvalues)
    if method == "bh":
        return benjamini_hochberg(pvalues)
    if method == "none":
        return _as_1d(pvalues)
    raise ValueError(f"unknown correction {method!r} (holm, bh or none)")


# ---------------------------------------------------------------------- power


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
    rates of replicates; Welch with equal variances). ``one-sample``: n paired differences
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


# ---------------------------------------------------------------------- calibration


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


# ---------------------------------------------------------------------- helpers


def _mean_difference(x: Floats, y: Floats, axis: int = -1) -> Floats:
    return np.asarray(np.mean(x - y, axis=axis), dtype=float)


def _bootstrap_interval(d: Floats, seed: int) -> Callable[[float], tuple[float, float]]:
    def interval(level: float) -> tuple[float, float]:
        if d.size < 2 or np.all(d == d[0]):
            return (float(d.mean()), float(d.mean()))
        res = st.bootstrap(
            (d,),
            np.mean,
            confidence_level=level,
            n_resamples=9999,
            method="percentile",
            rng=np.random.default_rng(seed),
        )
        return (float(res.confidence_interval.low), float(res.confidence_interval.high))

    return interval


def _t_pvalue(t: float, df: float, alternative: Alternative) -> float:
    if alternative == "greater":
        return float(st.t.sf(t, df))
    if alternative == "less":
        return float(st.t.cdf(t, df))
    return float(min(1.0, 2 * st.t.sf(abs(t), df)))


def _degenerate(
    method: str, effect: float, alternative: Alternative, sizes: tuple[int, int]
) -> TestResult:
    """Both arms without spread: every model of an arm has the same rate.

    This happens in practice: the sampled measure gives every model the same random numbers
    (so models are compared on the same draws), and with few samples per prompt the models
    of an arm can end with identical counts although they differ. The t statistic is then
    infinite, but no test across models can be surer than the models' exchangeability
    allows, so the p-value is the exact permutation test's on the models: the observed split
    is the most extreme of the C(n_a + n_b, n_a) ways to split them (two-sided: the mirrored
    split counts too when the arms are the same size). Never 0.
    """
    n_a, n_b = sizes
    if effect == 0 or (alternative != "two-sided" and (effect > 0) != (alternative == "greater")):
        p = 1.0
    else:
        extreme = 2 if alternative == "two-sided" and n_a == n_b else 1
        p = min(1.0, extreme / math.comb(n_a + n_b, n_a))
    stat = 0.0 if effect == 0 else math.copysign(math.inf, effect)
    return TestResult(
        method + " (no spread: exact permutation p)",
        stat,
        p,
        effect,
        alternative,
        _interval=lambda _: (effect, effect),
    )


def _as_1d(values: ArrayLike) -> Floats:
    x = np.asarray(values, dtype=float).ravel()
    _need(bool(np.all(np.isfinite(x))), "rates must be finite numbers")
    return x


def _as_2d(values: ArrayLike) -> Floats:
    x = np.asarray(values, dtype=float)
    if x.ndim == 1:
        x = x[None, :]
    _need(
        x.ndim == 2 and x.shape[0] >= 1 and x.shape[1] >= 1,
        "rates must have shape (models, prompts)",
    )
    _need(bool(np.all(np.isfinite(x))), "rates must be finite numbers")
    return x


def _need(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)


def _check_level(level: float) -> None:
    _need(0 < level < 1, f"confidence_level must be in (0, 1), got {level}")


def _check_alpha(alpha: float) -> None:
    _need(0 < alpha < 1, f"alpha must be in (0, 1), got {alpha}")


__all__ = [
    "SINGLE_NOTE",
    "ArmSummary",
    "Calibration",
    "Comparison",
    "Interval",
    "TestResult",
    "adjust",
    "benjamini_hochberg",
    "calibrate",
    "compare",
    "fisher_pooled_test",
    "holm",
    "mann_whitney_test",
    "model_rate_sd",
    "power",
    "prediction_test",
    "required_n",
    "sign_flip_test",
    "summarise_arm",
    "t_interval",
    "welch_test",
    "wilcoxon_test",
    "wilson_interval",
]
