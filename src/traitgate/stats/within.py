"""Tests within one pair of models (per prompt or item): reported beside the decision,
conditional on those two checkpoints."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats as st

from traitgate.stats._core import (
    Alternative,
    TestResult,
    _as_1d,
    _mean_difference,
    _need,
    _t_pvalue,
)


def paired_t_test(a: ArrayLike, b: ArrayLike, alternative: Alternative = "two-sided") -> TestResult:
    """Paired t test over items (samples of a benchmark, or prompts): the mean of the
    per-item differences a - b over its standard error, n - 1 degrees of freedom.
    Conditional on the two models: it asks whether these two models differ on items drawn
    like these. When every difference is the same (no spread), the exact sign test over the
    non-zero differences decides."""
    x, y = _as_1d(a), _as_1d(b)
    _need(x.size == y.size and x.size >= 2, "a paired test needs the same two or more items")
    d = x - y
    effect, n = float(d.mean()), d.size
    sd = float(d.std(ddof=1))
    method = "paired t over items"
    if not sd > 0:
        nonzero = int(np.count_nonzero(d))
        if nonzero == 0:
            return TestResult(method, 0.0, 1.0, 0.0, alternative, n - 1.0, 0.0)
        # every item moved alike: sign test on the non-zero differences (all one sign)
        up = int(np.sum(d > 0))
        p = float(st.binomtest(up, nonzero, 0.5, alternative=alternative).pvalue)
        return TestResult(
            method + " (no spread: exact sign test)", float(up), p, effect, alternative
        )
    se = sd / float(np.sqrt(n))
    t = effect / se
    return TestResult(
        method, t, _t_pvalue(t, n - 1.0, alternative), effect, alternative, n - 1.0, se
    )


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
