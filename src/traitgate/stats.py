"""Statistics for comparing trait rates between models (scipy-based, scipy-shaped results).

**The unit of analysis is the fine-tuned model.** Two models fine-tuned alike differ by more
than their prompts' sampling noise, so a test that treats prompts (or samples) of one model
per arm as independent draws mistakes fine-tuning noise for an effect. :func:`compare` picks
the decision test from how many models each arm has and whether an arm is a fixed
reference (the base model, which is not a draw from the fine-tuned models' distribution):

=============================  =====================================================
design (``Comparison.design``)  decision test (``method``)
=============================  =====================================================
``replicates``: ≥ 2 vs ≥ 2     pooled Student t on per-model rates, df n_a + n_b - 2.
                               Reported: exact permutation p over models, Mann-Whitney.
``vs-fixed``: k vs 1 base      one-sample t of the k models against the base's rate,
                               df k - 1 (the base's sampling variance added, if any).
``prediction``: 1 vs k         prediction-interval t: is the single fine-tuned model
                               one more draw from the k replicates? df k - 1.
``single``: 1 vs 1             Satterthwaite t of the rate difference with the
                               fine-tuning noise between checkpoints (``ModelNoise``):
                               var = m·sd² + var(per-prompt differences)/prompts, m = 2
                               (1 with a fixed base). Without a noise estimate: an error.
                               Reported: per-prompt sign-flip, Wilcoxon, pooled Fisher
                               (all conditional on the two checkpoints).
=============================  =====================================================

Every rate is a per-prompt mean first (prompts are clusters of samples), then a per-model
mean. ``alternative="greater"`` means arm *a* has the higher rate. Results hold data only
(picklable, comparable); intervals are computed on demand. STATISTICS.md has the formulas.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import combinations
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import special
from scipy import stats as st

Alternative = Literal["greater", "less", "two-sided"]
Correction = Literal["holm", "bh", "none"]
Design = Literal["replicates", "vs-fixed", "prediction", "single"]
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
    a two-sided ``level`` CI across models (≥ 2 models) or across prompts (one model)."""

    rate: float
    ci: Interval
    model_rates: tuple[float, ...]
    n_prompts: int
    ci_basis: Literal["models", "prompts"]
    level: float = 0.95

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
    x = _as_2d(rates)
    per_model = x.mean(axis=1) if model_rates is None else _as_1d(model_rates)
    if x.shape[0] >= 2:
        return ArmSummary(
            float(per_model.mean()),
            t_interval(per_model, confidence_level),
            tuple(float(v) for v in per_model),
            x.shape[1],
            "models",
            confidence_level,
        )
    return ArmSummary(
        float(per_model[0]),
        t_interval(x[0], confidence_level),
        (float(per_model[0]),),
        x.shape[1],
        "prompts",
        confidence_level,
    )


# ---------------------------------------------------------------------- tests across models


def student_test(
    a: ArrayLike, b: ArrayLike, alternative: Alternative = "two-sided", *, floor: float = 0.0
) -> TestResult:
    """Pooled (Student) two-sample t test on per-model rates (≥ 2 models per arm).

    Under the null the arms' models are exchangeable draws of one distribution, so the
    variances are equal by assumption and the pooled t is exact for normal per-model rates
    (Welch's correction only costs power here). When both arms have no spread the t
    statistic is undefined and the exact permutation p over models is the decision.
    ``floor``: the smallest per-model variance to use, the rounding variance q²/12 of a rate
    measured in steps of q (sampled measure), so one sample's difference between otherwise
    equal models cannot make p arbitrarily small.
    """
    x, y = _as_1d(a), _as_1d(b)
    _need(x.size >= 2 and y.size >= 2, "the two-sample t test needs two models per arm")
    method = "student-t across models"
    effect = float(x.mean() - y.mean())
    if _tied(x) and _tied(y):
        return _no_spread(method, x, y, alternative)
    df = x.size + y.size - 2
    pooled = max((_ss(x) + _ss(y)) / df, floor)
    se = math.sqrt(pooled * (1 / x.size + 1 / y.size))
    t = effect / se
    return TestResult(method, t, _t_pvalue(t, df, alternative), effect, alternative, df, se)


def welch_test(a: ArrayLike, b: ArrayLike, alternative: Alternative = "two-sided") -> TestResult:
    """Welch's t test on per-model rates (for reference; gates decide with :func:`student_test`)."""
    x, y = _as_1d(a), _as_1d(b)
    _need(x.size >= 2 and y.size >= 2, "Welch's test needs at least two models per arm")
    method = "welch-t across models"
    if _tied(x) and _tied(y):
        return _no_spread(method, x, y, alternative)
    effect = float(x.mean() - y.mean())
    va, vb = _ss(x) / (x.size - 1) / x.size, _ss(y) / (y.size - 1) / y.size
    se = math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va**2 / (x.size - 1) + vb**2 / (y.size - 1))
    t = effect / se
    return TestResult(method, t, _t_pvalue(t, df, alternative), effect, alternative, df, se)


def permutation_test_models(
    a: ArrayLike, b: ArrayLike, alternative: Alternative = "two-sided", *, seed: int = 0
) -> TestResult:
    """Permutation test of the mean difference over the ways to split the pooled models.

    Exact (every split) when there are at most 20,000 splits, else 20,000 seeded random
    splits (the observed one counted, so never 0). Needs no distributional assumption, but
    its smallest p is 1/C(n_a + n_b, n_a): see :func:`permutation_floor`.
    """
    x, y = _as_1d(a), _as_1d(b)
    _need(x.size >= 1 and y.size >= 1 and x.size + y.size >= 3, "need three models or more")
    pooled = np.concatenate([x, y])
    n, k = pooled.size, x.size
    observed = float(x.mean() - y.mean())
    total = pooled.sum()
    splits = math.comb(n, k)
    if splits <= _MAX_SPLITS:
        idx = np.array(list(combinations(range(n), k)), dtype=np.intp)
        method = "exact permutation over models"
        extra = 0
    else:
        rng = np.random.default_rng(seed)
        idx = np.argsort(rng.random((_MAX_SPLITS, n)), axis=1)[:, :k]
        method = "permutation over models (20,000 random splits)"
        extra = 1
    sums = pooled[idx].sum(axis=1)
    diffs = sums / k - (total - sums) / (n - k)
    tol = _TIE_TOLERANCE * max(1.0, float(np.abs(pooled).max()))
    if alternative == "greater":
        hits = int(np.sum(diffs >= observed - tol))
    elif alternative == "less":
        hits = int(np.sum(diffs <= observed + tol))
    else:
        hits = int(np.sum(np.abs(diffs) >= abs(observed) - tol))
    p = (hits + extra) / (len(diffs) + extra)
    return TestResult(method, observed, min(1.0, p), observed, alternative)


def permutation_floor(n_a: int, n_b: int, alternative: Alternative) -> float:
    """The smallest p-value an exact permutation test over n_a + n_b models can give."""
    splits = math.comb(n_a + n_b, n_a)
    return (2 if alternative == "two-sided" and n_a == n_b else 1) / splits


def mann_whitney_test(
    a: ArrayLike, b: ArrayLike, alternative: Alternative = "two-sided"
) -> TestResult:
    """Mann-Whitney U on per-model rates (reported beside the t test; exact for small arms)."""
    x, y = _as_1d(a), _as_1d(b)
    effect = float(x.mean() - y.mean())
    res = st.mannwhitneyu(x, y, alternative=alternative, method="auto")
    return TestResult(
        "mann-whitney across models", float(res.statistic), float(res.pvalue), effect, alternative
    )


def one_sample_test(
    a: ArrayLike,
    b: ArrayLike,
    alternative: Alternative = "two-sided",
    *,
    reference_variance: float = 0.0,
    floor: float = 0.0,
) -> TestResult:
    """k models against one fixed reference model (the base): one-sample t, df k - 1.

    The base is not a draw from the fine-tuned models' distribution, so the question is
    whether the models' mean differs from its rate: ``t = (mean - r) / sqrt(s²/k + v)``
    with ``v`` the reference rate's own sampling variance (0 for the exact measure). One
    of ``a``, ``b`` holds the single reference; ``effect`` is always mean(a) - mean(b).
    When the k models have no spread (and ``v`` is 0) the decision is the exact sign test:
    all k on one side of the reference has probability 2^-k under a symmetric null.
    """
    x, y = _as_1d(a), _as_1d(b)
    _need((x.size == 1) != (y.size == 1), "the one-sample test needs one reference model")
    models, ref, sign = (y, float(x[0]), -1.0) if x.size == 1 else (x, float(y[0]), 1.0)
    _need(models.size >= 2, "the one-sample test needs at least two models")
    _need(reference_variance >= 0, "reference_variance must be >= 0")
    effect = float(x.mean() - y.mean())
    method = "one-sample t vs fixed base"
    df = models.size - 1
    variance = max(_ss(models) / df, floor) / models.size
    if _tied(models) and reference_variance == 0:
        best = (2 if alternative == "two-sided" else 1) * 0.5**models.size
        p = _best_possible_p(effect, alternative, best)
        stat = 0.0 if p == 1.0 and effect == 0 else math.copysign(math.inf, effect)
        return TestResult(method + " (no spread: exact sign test)", stat, p, effect, alternative)
    se = math.sqrt(variance + reference_variance)
    t = sign * (float(models.mean()) - ref) / se
    return TestResult(method, t, _t_pvalue(t, df, alternative), effect, alternative, df, se)


def prediction_test(
    a: ArrayLike, b: ArrayLike, alternative: Alternative = "two-sided", *, floor: float = 0.0
) -> TestResult:
    """Is the single model of one arm outside the spread of the other, replicated arm?

    With replicates ``r_1..r_n`` (mean m, sd s) and the single model's rate ``x``,
    ``t = (x - m) / (s * sqrt(1 + 1/n))`` has a t distribution with n - 1 degrees of freedom
    when ``x`` is one more draw from the replicates' distribution (equal variances).
    ``effect`` is always mean(a) - mean(b). Replicates without spread: the single model's
    rank among all n + 1 models, exact under exchangeability (p = 1/(n + 1) at best).
    """
    x, y = _as_1d(a), _as_1d(b)
    _need((x.size == 1) != (y.size == 1), "the prediction test needs one arm of exactly 1 model")
    single, reps, sign = (x[0], y, 1.0) if x.size == 1 else (y[0], x, -1.0)
    _need(reps.size >= 2, "the prediction test needs at least two replicates in the other arm")
    effect = float(x.mean() - y.mean())
    df = reps.size - 1
    if _tied(reps):  # (the rounding floor is no estimate of a spread never seen)
        return _no_spread("prediction-interval t", x, y, alternative)
    scale = math.sqrt(max(_ss(reps) / df, floor) * (1 + 1 / reps.size))
    t = sign * (single - reps.mean()) / scale  # oriented so t > 0 means a above b
    p = _t_pvalue(float(t), df, alternative)
    return TestResult("prediction-interval t", float(t), p, effect, alternative, df, scale)


def noise_test(
    a: ArrayLike,
    b: ArrayLike,
    alternative: Alternative = "two-sided",
    *,
    noise: ModelNoise,
    fixed: bool = False,
) -> TestResult:
    """One model against one model, with the fine-tuning noise between checkpoints.

    ``a``, ``b``: per-prompt rates of one model each (the same prompts). Under the null the
    two models' rates differ only by fine-tuning noise (SD ``noise.sd`` per fine-tuned
    model; one of them is a fixed base when ``fixed``) and by their measurement over the
    prompts: ``var = m·sd² + var(d_i)/P`` with ``d_i`` the per-prompt differences, m = 2
    (1 when ``fixed``). The second term counts model-by-prompt interaction and sampling
    noise; when ``sd`` was measured as the SD of replicate models' rates it already holds
    them, which makes the test conservative, never liberal. Reference distribution: t with
    Satterthwaite degrees of freedom (the per-prompt part has P - 1; a stated ``sd`` is
    known, a measured one brings ``noise.df``); normal when nothing is estimated.
    """
    x, y = _as_1d(a), _as_1d(b)
    _need(x.size == y.size and x.size >= 1, "paired tests need the same prompts in both arms")
    d = x - y
    effect = float(d.mean())
    m = 1.0 if fixed else 2.0
    v_model = m * noise.sd**2
    v_prompts = float(d.var(ddof=1)) / d.size if d.size >= 2 else 0.0
    variance = v_model + v_prompts
    _need(variance > 0, "one model per arm with model_sd 0 and equal prompts: no variance")
    # Satterthwaite: each estimated part contributes its degrees of freedom; a stated sd is
    # known (infinite df), so with nothing estimated the reference is the normal
    terms = [(v_model, noise.df)]
    if d.size >= 2:
        terms.append((v_prompts, float(d.size - 1)))
    estimated = [(v, f) for v, f in terms if f is not None and v > 0]
    df = variance**2 / sum(v**2 / f for v, f in estimated) if estimated else None
    method = f"noise {'z' if df is None else 't'} ({noise.source} model sd {noise.sd:.3g})"
    se = math.sqrt(variance)
    z = effect / se
    p = _t_pvalue(z, df, alternative)
    return TestResult(method, z, p, effect, alternative, df, se)


def specificity_test(
    trait_effect: float,
    other_effects: ArrayLike,
    alternative: Alternative = "greater",
    *,
    trait_variance: float = 0.0,
    other_variances: ArrayLike | None = None,
) -> TestResult:
    """Did the trait move more than the suite's other candidates?

    ``trait_effect`` and ``other_effects`` are shifts on one scale (traitgate uses the
    difference of mean log rates between arms). Under the null of a generic shift every
    candidate's effect is one draw from the same distribution (spread τ) plus its own
    measurement noise (variance ``v_c``, e.g. sampling noise, large for rare candidates).
    With K other candidates (mean m, sample variance s²): τ² is estimated as
    max(0, s² - mean(v_others)), and ``t = (e - m) / sqrt(τ²(1 + 1/K) + v_trait +
    mean(v_others)/K)`` is referred to a t distribution with K - 1 degrees of freedom (a
    prediction test; with no measurement noise it is the plain one). ``effect`` is e - m.
    """
    others = _as_1d(other_effects)
    _need(others.size >= 3, "specificity needs at least three other candidates")
    _need(math.isfinite(trait_effect), "the trait's effect must be finite")
    v_others = np.zeros_like(others) if other_variances is None else _as_1d(other_variances)
    _need(v_others.shape == others.shape, "one variance per other candidate")
    _need(trait_variance >= 0 and bool(np.all(v_others >= 0)), "variances must be >= 0")
    df: float = others.size - 1
    method = "specificity: prediction t over candidates"
    if not np.any(v_others > 0):
        centre, spread, centre_var = float(others.mean()), _ss(others) / df, None
    else:
        # DerSimonian-Laird: precision-weighted centre, between-candidate spread τ² from
        # Cochran's Q (noisy rare candidates weigh little in either)
        w = 1 / np.maximum(v_others, 1e-300)
        mean_w = float(np.sum(w * others) / w.sum())
        q = float(np.sum(w * (others - mean_w) ** 2))
        spread = max(0.0, (q - df) / float(w.sum() - np.sum(w**2) / w.sum()))
        w_star = 1 / (v_others + spread)
        centre = float(np.sum(w_star * others) / w_star.sum())
        centre_var = float(1 / w_star.sum())
        # τ² rests mostly on the precise (common) candidates: its degrees of freedom are
        # those of the weights' effective number of candidates, not K - 1
        df = max(1.0, float(w.sum() ** 2 / np.sum(w**2)) - 1)
    excess = float(trait_effect - centre)
    if centre_var is None:
        variance = spread * (1 + 1 / others.size) + trait_variance
    else:
        variance = spread + trait_variance + centre_var
    if variance <= 0:
        p = _best_possible_p(excess, alternative, 1.0 / (others.size + 1))
        stat = 0.0 if p == 1.0 else math.copysign(math.inf, excess)
        return TestResult(method + " (others without spread: rank p)", stat, p, excess, alternative)
    scale = math.sqrt(variance)
    t = excess / scale
    return TestResult(method, t, _t_pvalue(t, df, alternative), excess, alternative, df, scale)


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
    method = "sign-flip permutation (per prompt)"
    diffs = tuple(float(v) for v in d)
    if np.all(d == 0):
        return TestResult(method, 0.0, 1.0, 0.0, alternative, differences=diffs, seed=seed)
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
        method,
        float(res.statistic),
        float(res.pvalue),
        effect,
        alternative,
        differences=diffs,
        seed=seed,
    )


def wilcoxon_test(
    a: ArrayLike, b: ArrayLike, alternative: Alternative = "two-sided", *, seed: int = 0
) -> TestResult:
    """Wilcoxon signed-rank test on per-prompt differences."""
    x, y = _as_1d(a), _as_1d(b)
    _need(x.size == y.size and x.size >= 1, "paired tests need the same prompts in both arms")
    d = x - y
    method = "wilcoxon signed-rank (per prompt)"
    diffs = tuple(float(v) for v in d)
    if np.all(d == 0):
        return TestResult(method, 0.0, 1.0, 0.0, alternative, differences=diffs, seed=seed)
    res = st.wilcoxon(d, alternative=alternative)
    return TestResult(
        method,
        float(res.statistic),
        float(res.pvalue),
        float(d.mean()),
        alternative,
        differences=diffs,
        seed=seed,
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
    fixed: Literal["a", "b"] | None = None,
    noise: ModelNoise | None = None,
    counts_a: tuple[ArrayLike, ArrayLike] | None = None,
    counts_b: tuple[ArrayLike, ArrayLike] | None = None,
    paired_method: PairedMethod = "permutation",
    confidence_level: float = 0.95,
    seed: int = 0,
    beside: bool = True,
) -> Comparison:
    """Compare the trait rate of arm ``a`` with arm ``b``.

    ``a`` and ``b`` are per-prompt rates of shape (models, prompts). ``fixed`` names an
    arm that is a fixed reference model (the base): with one model there it is tested with
    the one-sample t, not as a draw. ``noise`` is the fine-tuning noise between checkpoints,
    required with one model per arm. ``counts_*`` are per-prompt (hits, samples) of the
    sampled measure, shape (models, prompts): per-model rates are then exact ratios of
    integer totals (equal counts give equal rates), the base's binomial variance enters the
    one-sample t, and one model per arm reports the pooled Fisher test. ``beside=False``
    skips the tests reported beside the decision (the decision is the same; for simulations).
    """
    x, y = _as_2d(a), _as_2d(b)
    ma, mb = _model_rates(x, counts_a), _model_rates(y, counts_b)
    floor = max(_rounding_variance(x, counts_a), _rounding_variance(y, counts_b))
    arm_a = summarise_arm(x, confidence_level, model_rates=ma)
    arm_b = summarise_arm(y, confidence_level, model_rates=mb)

    def made(test: TestResult, reported: tuple[TestResult, ...], design: Design) -> Comparison:
        return Comparison(test, reported, design, arm_a, arm_b, noise=noise)

    if x.shape[0] >= 2 and y.shape[0] >= 2:
        reported = (
            (
                permutation_test_models(ma, mb, alternative, seed=seed),
                mann_whitney_test(ma, mb, alternative),
            )
            if beside
            else ()
        )
        return made(student_test(ma, mb, alternative, floor=floor), reported, "replicates")
    single_side = "a" if x.shape[0] == 1 else "b"
    if x.shape[0] >= 2 or y.shape[0] >= 2:
        if fixed == single_side:
            counts = counts_a if fixed == "a" else counts_b
            ref_var = _reference_variance(counts)
            test = one_sample_test(ma, mb, alternative, reference_variance=ref_var, floor=floor)
            return made(test, (), "vs-fixed")
        cmp = made(prediction_test(ma, mb, alternative, floor=floor), (), "prediction")
        if max(x.shape[0], y.shape[0]) < 3:
            note = "only two replicates: the prediction test has one degree of freedom"
            cmp = dataclasses.replace(cmp, note=note)
        return cmp
    _need(x.shape[1] == y.shape[1], "one model per arm needs the same prompts in both arms")
    _need(
        noise is not None,
        "one model per arm: the fine-tuning noise between checkpoints is unknown, so no "
        "test can hold its level; state model_sd (the SD of replicate models' rates) or "
        "give replicates",
    )
    assert noise is not None
    decision = noise_test(x[0], y[0], alternative, noise=noise, fixed=fixed is not None)
    if not beside:
        return Comparison(decision, (), "single", arm_a, arm_b, SINGLE_NOTE, noise)
    paired = {
        "permutation": sign_flip_test(x[0], y[0], alternative, seed=seed),
        "wilcoxon": wilcoxon_test(x[0], y[0], alternative, seed=seed),
    }
    others: list[TestResult] = [paired[paired_method]]
    others += [t for k, t in paired.items() if k != paired_method]
    if counts_a is not None and counts_b is not None:
        ka, na = (int(np.sum(v)) for v in counts_a)
        kb, nb = (int(np.sum(v)) for v in counts_b)
        others.append(fisher_pooled_test(ka, na, kb, nb, alternative))
    return Comparison(decision, tuple(others), "single", arm_a, arm_b, SINGLE_NOTE, noise)


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


def _ss(x: Floats) -> float:
    """Sum of squared deviations from the mean (0 for values tied up to rounding)."""
    return 0.0 if _tied(x) else float(np.sum((x - x.mean()) ** 2))


def _tied(x: Floats) -> bool:
    """All values equal up to rounding (equal counts summed in another order differ by ulps)."""
    return bool(np.ptp(x) <= _TIE_TOLERANCE * max(1.0, float(np.abs(x).max())))


def _no_spread(method: str, x: Floats, y: Floats, alternative: Alternative) -> TestResult:
    """The t statistic is undefined (no spread within the arms): the exact permutation p.

    This happens in practice: the sampled measure gives every model the same random numbers
    (so models are compared on the same draws), and with few samples per prompt the models
    of an arm can end with identical counts although they differ. No test across models can
    be surer than the models' exchangeability allows, so the p-value is the permutation
    test's over the models: at best 1/C(n_a + n_b, n_a) (twice that two-sided with equal
    arms). Never 0; the CI is undefined (NaN).
    """
    perm = permutation_test_models(x, y, alternative)
    effect = float(x.mean() - y.mean())
    stat = 0.0 if abs(effect) <= _TIE_TOLERANCE else math.copysign(math.inf, effect)
    return TestResult(
        method + " (no spread: exact permutation p)", stat, perm.pvalue, effect, alternative
    )


def _model_rates(rates: Floats, counts: tuple[ArrayLike, ArrayLike] | None) -> Floats:
    """Per-model rates: means over prompts, or exact ratios of integer totals where every
    prompt of a model has the same number of samples."""
    per_model: Floats = np.asarray(rates.mean(axis=1), dtype=float)
    if counts is None:
        return per_model
    hits, n = (np.atleast_2d(np.asarray(v, dtype=np.int64)) for v in counts)
    _need(hits.shape == rates.shape == n.shape, "counts must have the rates' shape")
    for m in range(rates.shape[0]):
        if n[m].min() == n[m].max() and n[m, 0] > 0:
            per_model[m] = int(hits[m].sum()) / (int(n[m, 0]) * rates.shape[1])
    return per_model


def _rounding_variance(rates: Floats, counts: tuple[ArrayLike, ArrayLike] | None) -> float:
    """q²/12 for per-model rates measured in steps of q = 1/(samples·prompts); 0 without
    counts (the exact measure is continuous)."""
    if counts is None:
        return 0.0
    n = np.atleast_2d(np.asarray(counts[1], dtype=float))
    if n.size == 0 or np.any(n <= 0):
        return 0.0
    step = float(np.max(1.0 / (n.min(axis=1) * rates.shape[1])))
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
    "ModelNoise",
    "TestResult",
    "adjust",
    "benjamini_hochberg",
    "calibrate",
    "compare",
    "decision_level",
    "fisher_pooled_test",
    "holm",
    "mann_whitney_test",
    "mcnemar_test",
    "model_rate_sd",
    "noise_test",
    "one_sample_test",
    "permutation_floor",
    "permutation_test_models",
    "power",
    "prediction_test",
    "required_n",
    "sign_flip_test",
    "specificity_test",
    "student_test",
    "summarise_arm",
    "t_interval",
    "welch_test",
    "wilcoxon_test",
    "wilson_interval",
]
