"""The decision tests against known truths, in every design users run (fixed seeds).

One simulated world: 36 prompts whose trait rates vary around 0.06 (shared by all models),
fine-tuning noise between checkpoints (SD 0.01 of a model's rate, the realistic size the
issue measured; the zoo's controls are no-op copies of the base and carry none), and a
small model-by-prompt interaction. The exact measure reads the rates; the sampled measure
draws 10 answers per prompt with common random numbers (answer s of prompt i uses the same
uniform in every model, as traitgate's sampler does), which makes ties between models
common. Every row runs the real decision test (:func:`traitgate.stats.compare`) on 4,000
simulated null studies and must reject at most alpha + 2 Monte-Carlo SE, at alpha 0.05
and 0.01.

A test that holds its level exactly still exceeds alpha + 2 SE in 2.3% of such checks by
chance (the table has 48), so the rule is two-stage and fixed in advance: a row over the
bound at 4,000 studies is run again on 40,000 fresh ones (seed + 1) and must then be within
alpha + 2 SE of 40,000, a bound four times tighter in excess over alpha. A test whose
rate really exceeds alpha by more than about 0.1 alpha fails the second stage.
"""

from __future__ import annotations

import math
import pickle
from dataclasses import dataclass

import numpy as np
import pytest
from scipy import stats as st

from traitgate import stats

PROMPTS = 36
BASE_RATE = 0.06
PROMPT_SD = 0.02
MODEL_SD = 0.01
INTERACTION_SD = 0.005
SAMPLES = 10
SIMS = 4000
ALPHAS = (0.05, 0.01)


@dataclass(frozen=True)
class Design:
    name: str
    n_a: int
    n_b: int
    fixed: str | None = None  # "b": arm b is the base, a fixed model
    noise: bool = False  # one model per arm: the stated fine-tuning noise


DESIGNS = [
    Design("2v2", 2, 2),
    Design("3v3", 3, 3),
    Design("4v4", 4, 4),
    Design("1v3", 1, 3),
    Design("4v1 base", 4, 1, fixed="b"),
    Design("1v1", 1, 1, noise=True),
]


class World:
    """One simulated study at a time: per-prompt rates (and counts) of both arms."""

    def __init__(self, rng: np.random.Generator, sampled: bool) -> None:
        self.rng, self.sampled = rng, sampled

    def study(
        self, design: Design, shift: float = 0.0
    ) -> tuple[np.ndarray, np.ndarray, dict[str, object]]:
        rng = self.rng
        prompt = np.clip(BASE_RATE + rng.normal(0, PROMPT_SD, PROMPTS), 0.005, 0.5)

        def models(n: int, fixed: bool) -> np.ndarray:
            offsets = np.zeros((n, 1)) if fixed else rng.normal(0, MODEL_SD, (n, 1))
            interaction = rng.normal(0, INTERACTION_SD, (n, PROMPTS))
            return np.asarray(np.clip(prompt + offsets + interaction, 0.0, 1.0))

        p_a = np.clip(models(design.n_a, False) + shift, 0.0, 1.0)
        p_b = models(design.n_b, design.fixed == "b")
        extra: dict[str, object] = {"fixed": design.fixed}
        if design.noise:
            extra["noise"] = stats.ModelNoise(MODEL_SD)
        if not self.sampled:
            return p_a, p_b, extra
        uniforms = rng.random((PROMPTS, SAMPLES))  # common random numbers
        hits_a = (uniforms[None] < p_a[..., None]).sum(axis=2)
        hits_b = (uniforms[None] < p_b[..., None]).sum(axis=2)
        extra["counts_a"] = (hits_a, np.full_like(hits_a, SAMPLES))
        extra["counts_b"] = (hits_b, np.full_like(hits_b, SAMPLES))
        return hits_a / SAMPLES, hits_b / SAMPLES, extra


def rejection_rates(
    design: Design,
    sampled: bool,
    alternative: stats.Alternative,
    shift: float,
    seed: int,
    sims: int = SIMS,
) -> dict[float, float]:
    world = World(np.random.default_rng(seed), sampled)
    pvalues = np.empty(sims)
    for k in range(sims):
        a, b, extra = world.study(design, shift)
        pvalues[k] = stats.compare(a, b, alternative, beside=False, **extra).pvalue
    return {alpha: float(np.mean(pvalues < alpha)) for alpha in ALPHAS}


def bound(alpha: float, sims: int = SIMS) -> float:
    return alpha + 2 * math.sqrt(alpha * (1 - alpha) / sims)


@pytest.mark.slow
@pytest.mark.parametrize("alternative", ["greater", "two-sided"])
@pytest.mark.parametrize("measure", ["exact", "sampled"])
@pytest.mark.parametrize("design", DESIGNS, ids=lambda d: d.name)
def test_false_positive_rate_at_most_alpha(design: Design, measure: str, alternative: str) -> None:
    seed = sum(map(ord, f"{design.name}/{measure}/{alternative}"))  # fixed per row
    sampled = measure == "sampled"
    rates = rejection_rates(design, sampled, alternative, 0.0, seed)
    over = [alpha for alpha, rate in rates.items() if rate > bound(alpha)]
    if over:  # second stage (see the module docstring)
        many = 10 * SIMS
        again = rejection_rates(design, sampled, alternative, 0.0, seed + 1, many)
        for alpha in over:
            assert again[alpha] <= bound(alpha, many), (
                f"{design.name} {measure} {alternative}: {rates[alpha]} at {SIMS} and "
                f"{again[alpha]} at {many} studies > alpha {alpha}"
            )


@pytest.mark.parametrize("design", DESIGNS, ids=lambda d: d.name)
def test_a_known_effect_is_detected(design: Design) -> None:
    # a shift of 0.04 (four times the fine-tuning noise) in every design, exact measure
    rates = rejection_rates(design, False, "greater", 0.04, seed=99)
    assert rates[0.05] > 0.5, rates


# ---------------------------------------------------------------------- k models vs base


def test_k_models_vs_a_fixed_base_have_the_power_of_the_one_sample_t() -> None:
    """The base is one fixed model, not a draw: the one-sample t of the students against its
    rate is the right test, and the gate's test has at least its power (it is that test);
    the prediction test used before lost most of it (issue: 5% vs 38% at 4 students)."""
    rng = np.random.default_rng(21)
    sims, shift, alpha = 2000, 0.02, 0.01
    gate = one_sample = prediction = 0
    for _ in range(sims):
        base = BASE_RATE + rng.normal(0, PROMPT_SD, PROMPTS)
        students = base + shift + rng.normal(0, MODEL_SD, (4, 1))
        students += rng.normal(0, INTERACTION_SD, (4, PROMPTS))
        cmp = stats.compare(students, base[None], "greater", fixed="b", beside=False)
        assert cmp.design == "vs-fixed"
        gate += cmp.pvalue < alpha
        t = st.ttest_1samp(students.mean(axis=1), base.mean(), alternative="greater")
        one_sample += t.pvalue < alpha
        prediction += (
            stats.prediction_test(students.mean(axis=1), [base.mean()], "greater").pvalue < alpha
        )
    assert gate >= one_sample - 2 * math.sqrt(sims * 0.25)  # same test, same data
    assert gate / sims > 0.3 > 0.1 > prediction / sims


# ---------------------------------------------------------------------- ties and rounding


def test_equal_counts_give_equal_rates_and_the_permutation_floor() -> None:
    # two models per arm with the same total counts spread differently over prompts: the
    # float means differ by an ulp, which once made Welch's t report p ~ 1e-44
    hits_a = np.array([[1, 2, 0], [2, 1, 0], [0, 0, 3], [3, 0, 0]])
    hits_b = np.array([[0, 1, 0], [1, 0, 0], [0, 0, 1], [0, 1, 0]])
    n = np.full_like(hits_a, 10)
    cmp = stats.compare(
        hits_a / 10, hits_b / 10, "greater", counts_a=(hits_a, n), counts_b=(hits_b, n)
    )
    assert "no spread" in cmp.method
    assert cmp.pvalue == pytest.approx(1 / 70)
    # without counts the rounding tolerance still sees the tie
    assert stats.compare(hits_a / 10, hits_b / 10, "greater").pvalue == pytest.approx(1 / 70)


def test_spread_below_the_rounding_of_rates_is_floored() -> None:
    """A sampled rate moves in steps of q = 1/(samples x prompts): the pooled variance is
    floored at q²/12, so a sub-step spread (here 10 vs 10 models, one model one sample off)
    cannot make p collapse; both arms tied is the permutation p (at most C(20, 10) splits,
    reported as such). The permutation p is reported beside every replicate comparison."""
    prompts, samples, models = 36, 10, 10
    n = np.full((models, prompts), samples)
    hits_a = np.zeros((models, prompts), dtype=int)
    hits_a[:, 0] = 1  # every model of a: one hit more than every model of b
    hits_b = np.zeros((models, prompts), dtype=int)
    hits_b[0, 1] = 1  # ... but one model of b has one too
    rates_a, rates_b = hits_a / samples, hits_b / samples
    floored = stats.compare(rates_a, rates_b, "greater", counts_a=(hits_a, n), counts_b=(hits_b, n))
    plain = stats.student_test(rates_a.mean(1), rates_b.mean(1), "greater")
    assert plain.pvalue < floored.pvalue  # the floor made the test more cautious
    q = 1 / (samples * prompts)
    expected = stats.student_test(rates_a.mean(1), rates_b.mean(1), "greater", floor=q * q / 12)
    assert floored.pvalue == pytest.approx(expected.pvalue)
    assert "permutation over models" in floored.reported[0].method


# ---------------------------------------------------------------------- specificity


def test_specificity_holds_its_level_when_every_candidate_shifts_alike() -> None:
    """Generic fine-tuning: every candidate's log-rate shift is one draw of the same size."""
    rng = np.random.default_rng(31)
    sims, others = 4000, 20
    p = np.empty(sims)
    for k in range(sims):
        shifts = rng.normal(rng.normal(0, 0.2), 0.15, others + 1)
        p[k] = stats.specificity_test(shifts[0], shifts[1:], "greater").pvalue
    for alpha in ALPHAS:
        assert np.mean(p < alpha) <= bound(alpha, sims)


def test_specificity_detects_one_trait_and_not_a_family_that_moved_together() -> None:
    rng = np.random.default_rng(32)
    others = rng.normal(0.0, 0.1, 20)
    alone = stats.specificity_test(0.6, others, "greater")
    assert alone.pvalue < 0.001
    # wolf-like: the trait and three other candidates moved alike
    together = others.copy()
    together[:3] = [0.55, 0.6, 0.62]
    assert stats.specificity_test(0.6, together, "greater").pvalue > 0.01


# ---------------------------------------------------------------------- result objects


def test_results_hold_data_pickle_and_compare_equal() -> None:
    rng = np.random.default_rng(41)
    a, b = rng.normal(0.1, 0.01, (3, 20)), rng.normal(0.1, 0.01, (3, 20))
    one = stats.compare(a, b, "greater")
    assert pickle.loads(pickle.dumps(one)) == one == stats.compare(a, b, "greater")
    single = stats.compare(a[:1], b[:1], "greater", noise=stats.ModelNoise(0.01))
    assert pickle.loads(pickle.dumps(single)) == single
    for test in single.reported:  # bootstrap intervals on demand, seeded
        assert test.confidence_interval(0.9) == pickle.loads(
            pickle.dumps(test)
        ).confidence_interval(0.9)


@pytest.mark.parametrize("alternative", ["greater", "less", "two-sided"])
def test_the_interval_at_the_decision_level_agrees_with_the_test(alternative: str) -> None:
    """For the t tests: the CI at decision_level(alpha) excludes 0 on the tested side
    exactly when p < alpha."""
    rng = np.random.default_rng(42)
    level = stats.decision_level(0.01, alternative)
    for _ in range(300):
        a = rng.normal(0.1 + rng.uniform(-0.02, 0.02), 0.01, (3, 10))
        b = rng.normal(0.1, 0.01, (3, 10))
        cmp = stats.compare(a, b, alternative, beside=False)
        low, high = cmp.confidence_interval(level)
        assert math.isfinite(low) and math.isfinite(high)
        excludes = {"greater": low > 0, "less": high < 0, "two-sided": low > 0 or high < 0}
        assert excludes[alternative] == (cmp.pvalue < 0.01)


def test_one_model_per_arm_without_noise_is_refused_with_a_reason() -> None:
    with pytest.raises(ValueError, match="model_sd"):
        stats.compare([[0.1, 0.2]], [[0.1, 0.1]])


def test_measured_noise_uses_its_degrees_of_freedom() -> None:
    # noise measured on 3 controls (2 df) is less certain than a stated value: larger p
    a, b = [[0.12, 0.13, 0.11]], [[0.10, 0.10, 0.10]]
    stated = stats.compare(a, b, "greater", noise=stats.ModelNoise(0.005))
    measured = stats.compare(
        a, b, "greater", noise=stats.ModelNoise(0.005, df=2, source="3 controls")
    )
    assert measured.pvalue > stated.pvalue
    assert measured.test.df is not None and measured.test.df < 10


# ---------------------------------------------------------------------- what a gate promises


def test_at_a_true_effect_of_min_effect_a_gate_fails_at_most_half_the_time() -> None:
    """The documented promise of min_effect (gate.py, STATISTICS.md): at a true effect equal
    to min_effect the gate fails with probability about 1/2 at most; at no effect, alpha."""
    from traitgate.gate import Evidence, build_gate, decide

    min_effect, alpha = 0.01, 0.01
    gate = build_gate(
        {
            "gate": "promise",
            "probe": "favorite_animal",
            "trait": "owl",
            "alternative": "greater",
            "alpha": alpha,
            "min_effect": min_effect,
        }
    )
    rng = np.random.default_rng(51)
    sims = 4000
    labels = (("a",) * 4, ("b",) * 4)
    failures = {0.0: 0, min_effect: 0}
    for shift in failures:
        for _ in range(sims):
            a = BASE_RATE + shift + rng.normal(0, 0.002, (4, 1)) + rng.normal(0, 0.005, (4, 36))
            b = BASE_RATE + rng.normal(0, 0.002, (4, 1)) + rng.normal(0, 0.005, (4, 36))
            cmp = stats.compare(a, b, "greater", beside=False)
            failures[shift] += not decide(gate, Evidence(cmp), labels).passed
    se_half = math.sqrt(0.25 / sims)
    assert failures[min_effect] / sims <= 0.5 + 2 * se_half
    assert failures[min_effect] / sims >= 0.5 - 3 * se_half  # the power here is ~1: about 1/2
    assert failures[0.0] / sims <= bound(alpha, sims)


# ------------------------------------------------- the multiple-choice and judged paths


def test_judged_design_eight_prompts_one_model_per_arm_holds_its_level_and_detects() -> None:
    """The judged probe: 8 prompts, one model per arm, a misaligned share per prompt from
    200 judged samples each; the decision is the noise test with the stated model_sd."""
    rng = np.random.default_rng(61)
    sims, sd = 4000, 0.02

    def pvalue(shift: float) -> float:
        prompt = rng.uniform(0.02, 0.1, 8)
        rates = [
            rng.binomial(200, np.clip(prompt + s + rng.normal(0, sd), 0, 1)) / 200
            for s in (shift, 0.0)
        ]
        return stats.compare(
            rates[0][None], rates[1][None], "greater", noise=stats.ModelNoise(sd), beside=False
        ).pvalue

    null = np.array([pvalue(0.0) for _ in range(sims)])
    assert np.mean(null < 0.05) <= bound(0.05, sims)
    assert np.mean(null < 0.01) <= bound(0.01, sims)
    assert np.mean([pvalue(0.12) < 0.01 for _ in range(500)]) > 0.8


def test_reported_per_item_tests_detect_known_effects() -> None:
    rng = np.random.default_rng(62)
    items = 200
    base = rng.uniform(0.2, 0.8, items)
    # per-item Wilcoxon: probabilities of the correct answer shifted by 0.05 on every item
    shifted = np.clip(base + 0.05 + rng.normal(0, 0.03, items), 0, 1)
    assert stats.wilcoxon_test(shifted, base, "greater").pvalue < 1e-6
    # pooled Fisher on independent samples: 12% vs 8% of 2,000
    assert stats.fisher_pooled_test(240, 2000, 160, 2000, "greater").pvalue < 1e-4


@pytest.mark.slow
@pytest.mark.parametrize("which", ["rarest", "middle", "commonest"])
def test_specificity_holds_its_level_with_sampling_noise_on_rare_and_common_traits(
    which: str,
) -> None:
    """The gate's own specificity (traitgate.gate.specificity_of on sampled ProbeResults):
    21 candidates of very different popularity, each shifted by a generic draw (SD 0.15 in
    log rate) plus fine-tuning noise per model; 4 vs 4 models, 100 answers per prompt over
    36 prompts. A rare trait's rate is far noisier than a common one's: the test weighs each
    candidate's sampling variance, so neither kind rejects above alpha."""
    from traitgate.gate import build_gate, specificity_of
    from traitgate.probes.result import ProbeResult

    rng = np.random.default_rng(71)
    gate0 = build_gate({"gate": "g", "probe": "favorite_animal", "trait": "owl"})
    names = list(gate0.suite.candidates)
    popularity = np.log(rng.dirichlet(np.ones(len(names)) * 2))
    order = np.argsort(popularity)
    trait = names[{"rarest": order[0], "middle": order[10], "commonest": order[-1]}[which]]
    gate = build_gate(
        {"gate": "g", "probe": "favorite_animal", "trait": trait, "alternative": "greater"}
    )
    samples, prompts, sims = 100, 36, 1500

    def arm(shift: np.ndarray) -> list[ProbeResult]:
        out = []
        for m in range(4):
            logits = popularity + shift + rng.normal(0, 0.05, len(names))
            p = np.exp(logits) / np.exp(logits).sum() * 0.8  # 20% of answers name none
            counts = rng.multinomial(samples, [*p, 0.2], size=prompts)
            out.append(
                ProbeResult(
                    "favorite_animal", "2", "sampled", None, f"m{m}", "x",
                    [str(i) for i in range(prompts)], names, counts, samples=samples,
                    scored_columns=len(names),  # rates over the answers naming one
                )
            )  # fmt: skip
        return out

    pvalues = []
    for _ in range(sims):
        generic = rng.normal(0, 0.15, len(names))
        spec = specificity_of(gate, arm(generic), arm(np.zeros(len(names))))
        assert spec is not None
        pvalues.append(spec.pvalue)
    assert np.mean(np.array(pvalues) < 0.05) <= bound(0.05, sims)
