"""Tests across models (the unit of analysis): replicates vs replicates, models vs a fixed
base, one model vs replicates, one vs one with stated noise, and the specificity test."""

from __future__ import annotations

import math
from itertools import combinations

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats as st

from traitgate.stats._core import (
    _MAX_SPLITS,
    _TIE_TOLERANCE,
    Alternative,
    Floats,
    ModelNoise,
    TestResult,
    _as_1d,
    _best_possible_p,
    _mean,
    _need,
    _ss,
    _t_pvalue,
    _tied,
)


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
    return _pooled_t("student-t across models", x, y, alternative, floor, runs_only=True)


def resampled_test(
    a: ArrayLike, b: ArrayLike, alternative: Alternative = "two-sided", *, floor: float = 0.0
) -> TestResult:
    """Pooled t for arms of models each fine-tuned on its own bootstrap resample of its
    arm's dataset (``traitgate screen``'s runs), asking about the data's source, not the
    finite datasets in hand.

    Model i of an arm: ``r_i = mu + d + e_i``, with ``d`` the dataset's own sampling
    deviation (variance D, shared by the arm's models) and ``e_i`` the resample's and the
    seed's (variance V = D + S: a bootstrap resample varies about the dataset as the dataset
    did about its source). The arm's mean has variance D + V/n <= V (1 + 1/n), and the
    models' spread estimates V, so ``t = (mean_a - mean_b) / sqrt(s² (2 + 1/n_a + 1/n_b))``
    (s² pooled, df n_a + n_b - 2) holds its level whatever D and S are: exactly when S = 0,
    conservatively otherwise. The pooled t (:func:`student_test`) divides only by the
    number of models and runs over alpha when D > 0: it answers for the datasets as they
    are. Models without spread: the exact permutation p, as there.
    """
    x, y = _as_1d(a), _as_1d(b)
    _need(
        x.size >= 2 and y.size >= 2,
        "resampled runs need two or more models per arm (their spread measures the data's "
        "sampling noise)",
    )
    return _pooled_t("student-t across resampled runs", x, y, alternative, floor, runs_only=False)


def _pooled_t(
    method: str, x: Floats, y: Floats, alternative: Alternative, floor: float, *, runs_only: bool
) -> TestResult:
    """The pooled t with each arm's mean given variance s²/n (``runs_only``: the models
    are the only noise) or s²(1 + 1/n) (each arm also carries its dataset's own deviation,
    bounded by one model's variance: :func:`resampled_test`)."""
    tied_x, tied_y = _tied(x), _tied(y)
    if tied_x and tied_y:
        return _no_spread(method, x, y, alternative)
    effect = _mean(x) - _mean(y)
    df = x.size + y.size - 2
    pooled = max((_ss(x, tied_x) + _ss(y, tied_y)) / df, floor)
    se = math.sqrt(pooled * ((0 if runs_only else 2) + 1 / x.size + 1 / y.size))
    t = effect / se
    return TestResult(method, t, _t_pvalue(t, df, alternative), effect, alternative, df, se)


def welch_test(a: ArrayLike, b: ArrayLike, alternative: Alternative = "two-sided") -> TestResult:
    """Welch's t test on per-model rates (for reference; gates decide with :func:`student_test`)."""
    x, y = _as_1d(a), _as_1d(b)
    _need(x.size >= 2 and y.size >= 2, "Welch's test needs at least two models per arm")
    method = "welch-t across models"
    if _tied(x) and _tied(y):
        return _no_spread(method, x, y, alternative)
    effect = _mean(x) - _mean(y)
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
    effect = _mean(x) - _mean(y)
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
    effect = _mean(x) - _mean(y)
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
    effect = _mean(x) - _mean(y)
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
    effect = _mean(x) - _mean(y)
    stat = 0.0 if abs(effect) <= _TIE_TOLERANCE else math.copysign(math.inf, effect)
    return TestResult(
        method + " (no spread: exact permutation p)", stat, perm.pvalue, effect, alternative
    )
