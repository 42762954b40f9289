"""Statistics checked against known truths: simulated nulls must reject at most at alpha
(within three Monte-Carlo standard errors), known effects must be detected. Seeds are fixed."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as hs
from scipy import stats as st

from traitgate import stats

ALPHA = 0.05
SIMS = 1000


def hierarchical(
    rng: np.random.Generator,
    models: int,
    prompts: int,
    *,
    mean: float = 0.10,
    model_sd: float = 0.02,
    prompt_sd: float = 0.01,
    prompt_effects: np.ndarray | None = None,
) -> np.ndarray:
    """Per-prompt rates of `models` models: a fine-tuning offset per model, a shared
    per-prompt offset (the same prompts for every model) and per-prompt noise."""
    shared = np.zeros(prompts) if prompt_effects is None else prompt_effects
    offsets = rng.normal(0, model_sd, size=(models, 1))
    noise = rng.normal(0, prompt_sd, size=(models, prompts))
    return mean + shared + offsets + noise


def assert_calibrated(result: stats.Calibration) -> None:
    assert result.rejection_rate <= result.upper_bound, (
        f"false-positive rate {result.rejection_rate:.3f} exceeds "
        f"{result.upper_bound:.3f} (alpha {result.alpha})"
    )


# ---------------------------------------------------------------------- calibration


def test_welch_across_models_is_calibrated_under_the_null() -> None:
    def pvalue(rng: np.random.Generator) -> float:
        shared = rng.normal(0, 0.03, 20)
        a = hierarchical(rng, 4, 20, prompt_effects=shared)
        b = hierarchical(rng, 4, 20, prompt_effects=shared)
        return stats.compare(a, b, "greater").pvalue

    assert_calibrated(stats.calibrate(pvalue, simulations=SIMS, alpha=ALPHA, seed=1))


def test_prediction_test_is_calibrated_under_the_null() -> None:
    def pvalue(rng: np.random.Generator) -> float:
        a = hierarchical(rng, 1, 20)
        b = hierarchical(rng, 4, 20)
        cmp = stats.compare(a, b, "two-sided")
        assert cmp.design == "prediction"
        return cmp.pvalue

    assert_calibrated(stats.calibrate(pvalue, simulations=SIMS, alpha=ALPHA, seed=2))


def test_prediction_test_is_calibrated_with_replicates_in_the_candidate_arm() -> None:
    def pvalue(rng: np.random.Generator) -> float:
        return stats.compare(hierarchical(rng, 5, 10), hierarchical(rng, 1, 10), "less").pvalue

    assert_calibrated(stats.calibrate(pvalue, simulations=SIMS, alpha=ALPHA, seed=3))


@pytest.mark.parametrize("method", ["permutation", "wilcoxon"])
def test_paired_prompt_tests_are_calibrated_for_the_same_model(method: str) -> None:
    # one model per arm, no model-level difference: per-prompt differences are symmetric
    def pvalue(rng: np.random.Generator) -> float:
        shared = rng.normal(0, 0.05, 10)
        a = 0.1 + shared + rng.normal(0, 0.01, 10)
        b = 0.1 + shared + rng.normal(0, 0.01, 10)
        if method == "permutation":  # 2**10 sign patterns: the exact test
            return stats.sign_flip_test(a, b, "greater", n_resamples=1024).pvalue
        return stats.wilcoxon_test(a, b, "greater").pvalue

    assert_calibrated(stats.calibrate(pvalue, simulations=SIMS, alpha=ALPHA, seed=4))


def test_fisher_pooled_is_calibrated_for_independent_samples() -> None:
    def pvalue(rng: np.random.Generator) -> float:
        n = 400
        return stats.fisher_pooled_test(
            int(rng.binomial(n, 0.1)), n, int(rng.binomial(n, 0.1)), n, "greater"
        ).pvalue

    assert_calibrated(stats.calibrate(pvalue, simulations=SIMS, alpha=ALPHA, seed=5))


def test_holm_controls_the_family_wise_error_rate() -> None:
    def pvalue(rng: np.random.Generator) -> float:
        # the family rejects anything iff its smallest adjusted p-value is below alpha
        return float(stats.holm(rng.uniform(size=8)).min())

    assert_calibrated(stats.calibrate(pvalue, simulations=SIMS * 2, alpha=ALPHA, seed=6))


def test_benjamini_hochberg_controls_the_false_discovery_rate() -> None:
    rng = np.random.default_rng(7)
    fdp = []
    for _ in range(SIMS):
        null = rng.uniform(size=6)
        true = st.norm.sf(rng.normal(3.0, 1.0, size=4))  # real effects
        adjusted = stats.benjamini_hochberg(np.concatenate([null, true]))
        rejected = adjusted < ALPHA
        fdp.append(rejected[:6].sum() / max(1, rejected.sum()))
    fdr = float(np.mean(fdp))
    se = float(np.std(fdp) / math.sqrt(SIMS))
    assert fdr <= ALPHA + 3 * se


# ---------------------------------------------------------------------- why replicates


def test_one_model_per_arm_mistakes_fine_tuning_noise_for_an_effect() -> None:
    """Two controls fine-tuned alike differ 'significantly' across prompts when one model
    per arm is compared; with replicates the test is calibrated. This is why the
    fine-tuned model is the unit of analysis."""

    def single(rng: np.random.Generator) -> float:
        # what compare() decides with for one model per arm (fewer resamples, for speed)
        a, b = hierarchical(rng, 1, 30), hierarchical(rng, 1, 30)
        return stats.sign_flip_test(a[0], b[0], n_resamples=2000).pvalue

    def replicated(rng: np.random.Generator) -> float:
        return stats.compare(hierarchical(rng, 4, 30), hierarchical(rng, 4, 30)).pvalue

    def with_noise(rng: np.random.Generator) -> float:
        # one model per arm, with the fine-tuning noise stated (the simulation's model_sd)
        a, b = hierarchical(rng, 1, 30), hierarchical(rng, 1, 30)
        return stats.compare(a, b, noise=stats.ModelNoise(0.02), beside=False).pvalue

    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="model_sd"):  # refused without the noise
        stats.compare(hierarchical(rng, 1, 30), hierarchical(rng, 1, 30))
    naive = stats.calibrate(single, simulations=300, alpha=ALPHA, seed=8)
    sound = stats.calibrate(replicated, simulations=SIMS, alpha=ALPHA, seed=8)
    assert naive.rejection_rate > 0.5  # far above alpha: fine-tuning noise looks like signal
    assert_calibrated(sound)
    assert_calibrated(stats.calibrate(with_noise, simulations=SIMS, alpha=ALPHA, seed=8))


def resampled_arm(
    rng: np.random.Generator, runs: int, data_sd: float, seed_sd: float, mean: float = 0.10
) -> np.ndarray:
    """Per-prompt rates of ``runs`` models, each trained on its own bootstrap resample of one
    dataset: the dataset's deviation from its source (SD ``data_sd``, shared by the arm),
    each resample's about the dataset (the same SD: the bootstrap's premise) and each
    seed's (``seed_sd``)."""
    dataset = rng.normal(0, data_sd)
    offsets = dataset + rng.normal(0, data_sd, (runs, 1)) + rng.normal(0, seed_sd, (runs, 1))
    return mean + offsets + rng.normal(0, 0.002, (runs, 12))


@pytest.mark.parametrize(("data_sd", "seed_sd"), [(0.02, 0.0), (0.02, 0.02), (0.005, 0.02)])
def test_resampled_runs_hold_the_level_for_the_datas_source(data_sd: float, seed_sd: float) -> None:
    """Two datasets from one source, 4 runs each on resamples of them: the resampled test
    holds its level whether the data's sampling noise or the seed's dominates (exactly at
    alpha when there is no seed noise), and the plain pooled t, which averages the shared
    dataset deviation away with the runs, rejects far too often when that deviation is
    large (the screen's runs on the zoo: docs/screen-study.md)."""

    def pvalue(rng: np.random.Generator, resampled: bool) -> float:
        a = resampled_arm(rng, 4, data_sd, seed_sd)
        b = resampled_arm(rng, 4, data_sd, seed_sd)
        cmp = stats.compare(a, b, "greater", resampled=resampled, beside=False)
        assert cmp.design == ("resampled" if resampled else "replicates")
        return cmp.pvalue

    sound = stats.calibrate(lambda r: pvalue(r, True), simulations=2000, alpha=ALPHA, seed=11)
    assert_calibrated(sound)
    if seed_sd == 0:  # exact: not merely conservative
        assert sound.rejection_rate > ALPHA - 3 * math.sqrt(ALPHA * (1 - ALPHA) / 2000)
    plain = stats.calibrate(lambda r: pvalue(r, False), simulations=2000, alpha=ALPHA, seed=11)
    if data_sd >= seed_sd:
        assert plain.rejection_rate > 2 * ALPHA, plain.rejection_rate


# ---------------------------------------------------------------------- known effects


def test_welch_detects_a_real_shift_across_replicates() -> None:
    def pvalue(rng: np.random.Generator) -> float:
        return stats.compare(
            hierarchical(rng, 4, 20, mean=0.20), hierarchical(rng, 4, 20), "greater"
        ).pvalue

    assert stats.calibrate(pvalue, simulations=200, alpha=0.01, seed=9).rejection_rate > 0.95


def test_resampled_runs_find_a_source_that_differs() -> None:
    """A source that moves the rate by 0.06 with data SD 0.01 and seed SD 0.01 (4 runs per
    arm): t noncentrality 0.06 / sqrt(0.0002 * 2.5) = 2.7 with 6 df, one-sided power at
    0.05 about 0.8 (scipy's noncentral t), measured above 0.7 (and the resampled test's
    reported companion, the plain pooled t, is the one its docstring says). One run in an
    arm measures no spread: refused."""

    def pvalue(rng: np.random.Generator) -> float:
        a = resampled_arm(rng, 4, 0.01, 0.01, mean=0.16)
        cmp = stats.compare(a, resampled_arm(rng, 4, 0.01, 0.01), "greater", resampled=True)
        assert [t.method for t in cmp.reported] == ["student-t across models"]
        return cmp.pvalue

    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="resampled runs need two or more models per arm"):
        stats.compare(resampled_arm(rng, 1, 0.01, 0.01), resampled_arm(rng, 4, 0.01, 0.01),
                      resampled=True)  # fmt: skip
    expected = st.nct.sf(st.t.ppf(0.95, 6), 6, 0.06 / math.sqrt(0.0002 * 2.5))
    assert 0.75 < expected < 0.85
    assert stats.calibrate(pvalue, simulations=1000, alpha=0.05, seed=12).rejection_rate > 0.7


def test_prediction_test_detects_a_single_model_far_outside_the_controls() -> None:
    def pvalue(rng: np.random.Generator) -> float:
        return stats.compare(
            hierarchical(rng, 1, 20, mean=0.25), hierarchical(rng, 6, 20), "greater"
        ).pvalue

    assert stats.calibrate(pvalue, simulations=200, alpha=0.01, seed=10).rejection_rate > 0.9


def test_sign_flip_detects_a_consistent_per_prompt_shift() -> None:
    rng = np.random.default_rng(11)
    base = rng.uniform(0.05, 0.15, 30)
    result = stats.sign_flip_test(base + 0.03 + rng.normal(0, 0.01, 30), base, "greater")
    assert result.pvalue < 1e-3
    low, high = result.confidence_interval(0.95)
    assert low < 0.03 < high
    assert result.effect == pytest.approx(0.03, abs=0.01)


def test_welch_interval_covers_the_true_difference() -> None:
    rng = np.random.default_rng(12)
    covered = 0
    for _ in range(400):
        cmp = stats.compare(hierarchical(rng, 5, 10, mean=0.15), hierarchical(rng, 5, 10))
        ci = cmp.confidence_interval(0.9)
        covered += ci.low <= 0.05 <= ci.high
    assert abs(covered / 400 - 0.9) < 3 * math.sqrt(0.9 * 0.1 / 400)


# ---------------------------------------------------------------------- the comparison


def test_compare_picks_the_test_from_the_number_of_models() -> None:
    rng = np.random.default_rng(13)
    two, one = hierarchical(rng, 3, 8), hierarchical(rng, 1, 8)
    assert stats.compare(two, two + 0.01).design == "replicates"
    assert stats.compare(two, two + 0.01).method == "student-t across models"
    assert [t.method for t in stats.compare(two, two + 0.01).reported] == [
        "exact permutation over models",
        "mann-whitney across models",
    ]
    assert stats.compare(one, two).design == "prediction"
    assert stats.compare(two, one).design == "prediction"
    assert stats.compare(two, one, fixed="b").design == "vs-fixed"  # one base: a fixed model
    assert stats.compare(one, two, fixed="b").design == "prediction"  # 2 bases: replicates
    hundred = np.full((1, 8), 100)
    single = stats.compare(
        one,
        one + 0.01,
        counts_a=(np.full((1, 8), 5), hundred),
        counts_b=(np.full((1, 8), 9), hundred),
        noise=stats.ModelNoise(0.01),
    )
    assert single.design == "single"
    assert single.method.startswith("noise t (stated model sd 0.01)")
    assert "fine-tuning noise" in single.note
    assert [t.method.split(" ")[0] for t in single.reported] == ["sign-flip", "wilcoxon", "fisher"]


def test_prediction_statistic_matches_its_formula() -> None:
    controls = np.array([0.10, 0.12, 0.11, 0.09])
    result = stats.prediction_test([0.16], controls, "greater")
    expected_t = (0.16 - controls.mean()) / (controls.std(ddof=1) * math.sqrt(1 + 1 / 4))
    assert result.statistic == pytest.approx(expected_t)
    assert result.pvalue == pytest.approx(st.t.sf(expected_t, 3))
    # swapping the arms flips the sign of the effect, not the evidence
    swapped = stats.prediction_test(controls, [0.16], "less")
    assert swapped.effect == pytest.approx(-result.effect)
    assert swapped.pvalue == pytest.approx(result.pvalue)


def test_identical_arms_give_no_evidence() -> None:
    rates = np.array([[0.1, 0.2, 0.3]])
    assert stats.compare(rates, rates, noise=stats.ModelNoise(0.01)).pvalue == 1.0
    three = np.array([[0.1, 0.2], [0.1, 0.2]])
    assert stats.compare(three, three).pvalue == 1.0


def _permutation_pvalue(a: list[float], b: list[float], alternative: str) -> float:
    """Exact permutation p of the mean difference over every split of the pooled models."""
    from itertools import combinations

    pooled = np.array(a + b)
    observed = np.mean(a) - np.mean(b)
    diffs = []
    for idx in combinations(range(len(pooled)), len(a)):
        mask = np.zeros(len(pooled), dtype=bool)
        mask[list(idx)] = True
        diffs.append(pooled[mask].mean() - pooled[~mask].mean())
    d = np.array(diffs)
    tol = 1e-12
    if alternative == "greater":
        return float(np.mean(d >= observed - tol))
    if alternative == "less":
        return float(np.mean(d <= observed + tol))
    return float(np.mean(np.abs(d) >= abs(observed) - tol))


@pytest.mark.parametrize("alternative", ["greater", "two-sided", "less"])
@pytest.mark.parametrize(("n_a", "n_b"), [(4, 4), (3, 5), (1, 3), (3, 1)])
def test_arms_without_spread_get_the_exact_permutation_p_never_zero(
    alternative: str, n_a: int, n_b: int
) -> None:
    # Seen on the zoo with 2 samples per prompt: the sampled measure gives every model the
    # same random numbers, so each arm's 4 models had identical owl counts; Welch's t was
    # infinite and the p-value 0, which no test on 4 + 4 models can justify.
    a, b = [0.07] * n_a, [0.05] * n_b
    result = stats.compare(np.array(a)[:, None], np.array(b)[:, None], alternative)  # type: ignore[arg-type]
    expected = _permutation_pvalue(a, b, alternative)
    assert result.pvalue == pytest.approx(expected)
    assert result.pvalue > 0
    if alternative != "less":
        assert result.pvalue == pytest.approx(
            (2 if alternative == "two-sided" and n_a == n_b else 1) / math.comb(n_a + n_b, n_a)
        )


def test_result_objects_are_scipy_shaped() -> None:
    result = stats.welch_test([0.1, 0.2, 0.15], [0.3, 0.35, 0.32], "less")
    assert {"statistic", "pvalue", "effect", "method"} <= set(dir(result))
    assert "welch" in repr(result)
    ci = result.confidence_interval(0.99)
    assert ci.low < result.effect < ci.high
    with pytest.raises(ValueError, match="confidence_level"):
        result.confidence_interval(1.5)


def test_bad_inputs_raise_clear_errors() -> None:
    with pytest.raises(ValueError, match="finite"):
        stats.compare([[math.nan, 0.1]], [[0.1, 0.2]])
    with pytest.raises(ValueError, match="same prompts"):
        stats.compare([[0.1, 0.2]], [[0.1, 0.2, 0.3]], noise=stats.ModelNoise(0.01))
    with pytest.raises(ValueError, match="alpha"):
        stats.power(0.1, 0.1, 5, alpha=1.5)


# ---------------------------------------------------------------------- power


@pytest.mark.parametrize(("effect", "sd", "n"), [(0.03, 0.02, 4), (0.05, 0.04, 6)])
def test_power_matches_simulated_rejection_rate(effect: float, sd: float, n: int) -> None:
    analytic = stats.power(effect, sd, n, alpha=0.05, alternative="greater")

    def pvalue(rng: np.random.Generator) -> float:
        a, b = rng.normal(effect, sd, n), rng.normal(0, sd, n)
        return float(st.ttest_ind(a, b, alternative="greater").pvalue)

    simulated = stats.calibrate(pvalue, simulations=2000, alpha=0.05, seed=14).rejection_rate
    assert abs(simulated - analytic) < 4 * math.sqrt(analytic * (1 - analytic) / 2000)


def test_required_n_is_the_smallest_sufficient_n() -> None:
    n = stats.required_n(0.03, 0.02, target_power=0.8)
    assert stats.power(0.03, 0.02, n) >= 0.8 > stats.power(0.03, 0.02, n - 1)
    # the exact measure (no binomial noise) needs fewer models than the sampled one
    exact = stats.model_rate_sd(0.1, prompts=30, samples=None, prompt_sd=0.05, model_sd=0.01)
    sampled = stats.model_rate_sd(0.1, prompts=30, samples=10, prompt_sd=0.05, model_sd=0.01)
    assert stats.required_n(0.02, exact) < stats.required_n(0.02, sampled)


# ---------------------------------------------------------------------- Wilson, corrections


def test_wilson_coverage_is_near_nominal() -> None:
    coverages = []
    for p in np.linspace(0.02, 0.98, 49):
        n = 60
        k = np.arange(n + 1)
        covers = [
            stats.wilson_interval(int(i), n).low <= p <= stats.wilson_interval(int(i), n).high
            for i in k
        ]
        coverages.append(float(st.binom.pmf(k, n, p)[covers].sum()))
    assert 0.94 <= float(np.mean(coverages)) <= 0.96
    assert min(coverages) > 0.88


@given(n=hs.integers(1, 2000), data=hs.data(), level=hs.floats(0.5, 0.999))
def test_wilson_interval_properties(n: int, data: hs.DataObject, level: float) -> None:
    k = data.draw(hs.integers(0, n))
    low, high = stats.wilson_interval(k, n, level)
    assert 0.0 <= low <= k / n <= high <= 1.0
    mirror = stats.wilson_interval(n - k, n, level)
    assert mirror.low == pytest.approx(1 - high, abs=1e-12)


pvalues = hs.lists(
    hs.one_of(hs.floats(0, 1, allow_nan=False), hs.sampled_from([0.0, 0.01, 0.5, 1.0])),
    min_size=1,
    max_size=30,
)


@given(pvalues)
def test_holm_and_bh_properties(ps: list[float]) -> None:
    p = np.array(ps)
    h, b = stats.holm(p), stats.benjamini_hochberg(p)
    assert np.all(h >= p - 1e-12) and np.all(h <= 1)
    assert np.all(b >= p - 1e-12) and np.all(b <= h + 1e-12)
    order = np.argsort(p, kind="stable")
    assert np.all(np.diff(h[order]) >= -1e-12)  # adjustment keeps the order
    # BH is scipy's arithmetic, bit for bit (ties included: equal p-values, equal results)
    from scipy.stats import false_discovery_control

    assert np.array_equal(b, false_discovery_control(p, method="bh"))


@pytest.mark.filterwarnings("ignore:Precision loss:RuntimeWarning")
@settings(max_examples=50, deadline=None)
@given(
    hs.lists(hs.floats(0, 1, allow_nan=False), min_size=2, max_size=10),
    hs.lists(hs.floats(0, 1, allow_nan=False), min_size=2, max_size=10),
)
def test_welch_pvalue_is_a_probability_and_effect_is_the_mean_difference(
    a: list[float], b: list[float]
) -> None:
    result = stats.compare(np.array(a)[:, None], np.array(b)[:, None], "greater")
    assert 0.0 <= result.pvalue <= 1.0
    assert result.effect == pytest.approx(np.mean(a) - np.mean(b))


def test_calibrate_reports_the_rejection_rate_of_uniform_pvalues() -> None:
    result = stats.calibrate(lambda rng: float(rng.uniform()), simulations=4000, seed=15)
    assert abs(result.rejection_rate - 0.05) < 4 * math.sqrt(0.05 * 0.95 / 4000)


def test_mcnemar_holds_its_level_on_correlated_paired_items() -> None:
    # two models that agree on most items and have the same accuracy: a simulated null
    rng = np.random.default_rng(11)
    sims, items, alpha = 2000, 200, 0.05
    rejections = 0
    for _ in range(sims):
        difficulty = rng.uniform(0, 1, items)
        a = (rng.uniform(0, 1, items) < difficulty).astype(int)
        flip = rng.uniform(0, 1, items) < 0.2  # B differs from A on 20% of items, symmetrically
        b = np.where(flip, rng.integers(0, 2, items), a)
        rejections += stats.mcnemar_test(a, b).pvalue < alpha
    rate = rejections / sims
    assert rate <= alpha + 3 * np.sqrt(alpha * (1 - alpha) / sims), rate


def test_mcnemar_detects_a_known_shift_and_reports_the_discordant_pairs() -> None:
    rng = np.random.default_rng(12)
    a = (rng.uniform(0, 1, 300) < 0.6).astype(int)
    b = a.copy()
    wrong = rng.choice(np.flatnonzero(a == 1), size=30, replace=False)
    b[wrong] = 0  # B loses 30 items A gets right, gains none
    result = stats.mcnemar_test(a, b, "greater")
    assert result.statistic == 30 and result.pvalue == pytest.approx(0.5**30)
    assert result.effect == pytest.approx(0.1)
    assert stats.mcnemar_test(a, a).pvalue == 1.0
    with pytest.raises(ValueError, match="0/1"):
        stats.mcnemar_test([0.5], [1])
