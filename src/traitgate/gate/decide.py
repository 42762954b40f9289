"""From probe results to verdicts: the comparison of two arms, the specificity of the
trait's shift, and the decision of a family of gates (p-values corrected together)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Literal

import numpy as np

from traitgate.errors import ConfigError
from traitgate.gate.result import Evidence, GateResult, Specificity
from traitgate.gate.spec import MIN_SPECIFICITY_CANDIDATES, Gate
from traitgate.probes.result import ProbeResult
from traitgate.probes.schema import (
    MultipleChoiceSuite,
    PreferenceSuite,
)
from traitgate.stats import (
    Correction,
    ModelNoise,
    adjust,
    compare,
    decision_level,
    mcnemar_test,
    specificity_test,
)


def compare_arms(
    gate: Gate,
    a: Sequence[ProbeResult],
    b: Sequence[ProbeResult],
    *,
    seed: int = 0,
    controls: Sequence[ProbeResult] = (),
    beside: bool = True,
    resampled: bool = False,
) -> Evidence:
    """Run the gate's statistics on each arm's probe results (one result per model).

    ``controls``: replicate control models (live or from a baseline) that measure the
    fine-tuning noise when a gate compares one model per arm and states no ``model_sd``.
    ``beside=False``: only what the verdict needs (no tests reported beside the deciding
    one; specificity only when the gate requires it), for simulations. ``resampled``: each
    model was trained on its own bootstrap resample of its arm's data (the screen's runs;
    :func:`traitgate.stats.resampled_test`).
    """
    spec = gate.spec
    rates_a = np.stack([r.trait_rates(gate.trait) for r in a])
    rates_b = np.stack([r.trait_rates(gate.trait) for r in b])
    a_role, b_role = spec.compare
    fixed: Literal["a", "b"] | None = "a" if a_role == "base" else "b" if b_role == "base" else None
    noise = None if spec.model_sd is None else ModelNoise(spec.model_sd, None, "stated")
    if len(a) == 1 and len(b) == 1 and noise is None:
        noise = _measured_noise(gate, controls)
        if noise is None:
            raise ConfigError(
                f"{gate.where}: model_sd: one model per arm ({a_role} vs {b_role}): no test "
                "can hold its level without the fine-tuning noise between checkpoints; state "
                "model_sd (the SD of replicate models' rates, e.g. 0.01), give replicates, or "
                "give two or more control models to measure it"
            )
    comparison = compare(
        rates_a,
        rates_b,
        spec.alternative,
        fixed=fixed,
        noise=noise,
        counts_a=_counts(a, gate.trait),
        counts_b=_counts(b, gate.trait),
        confidence_level=decision_level(spec.alpha, spec.alternative),
        seed=seed,
        beside=beside,
        resampled=resampled,
    )
    if not beside:
        return Evidence(comparison, specificity_of(gate, a, b) if spec.specific else None)
    if comparison.design == "single" and isinstance(gate.suite, MultipleChoiceSuite):
        # paired items: also the exact McNemar test on which answer each model prefers
        # (probability above one half; mc1 outcomes are already 0/1)
        mcnemar = mcnemar_test(
            (rates_a[0] > 0.5).astype(int), (rates_b[0] > 0.5).astype(int), spec.alternative
        )
        comparison = dataclasses.replace(comparison, reported=(*comparison.reported, mcnemar))
    if comparison.design == "single":
        comparison = dataclasses.replace(
            comparison, note=" ".join(filter(None, [comparison.note, _cluster_note(gate, rates_a)]))
        )
    return Evidence(comparison, specificity_of(gate, a, b))


def _measured_noise(gate: Gate, controls: Sequence[ProbeResult]) -> ModelNoise | None:
    """The SD of the controls' trait rates (k - 1 degrees of freedom), from k >= 2."""
    if len(controls) < 2:
        return None
    rates = np.array([r.trait_rates(gate.trait).mean() for r in controls])
    sd = float(rates.std(ddof=1))
    if not sd > 0:
        return None  # identical controls measure no noise; refusing beats assuming none
    return ModelNoise(sd, float(len(controls) - 1), f"measured: SD of {len(controls)} controls")


def specificity_of(
    gate: Gate, a: Sequence[ProbeResult], b: Sequence[ProbeResult]
) -> Specificity | None:
    """The trait's log-rate shift against every other candidate's (preference probes)."""
    if not isinstance(gate.suite, PreferenceSuite):
        return None
    candidates = list(a[0].candidates)
    if len(candidates) < MIN_SPECIFICITY_CANDIDATES:
        return None
    (mean_a, var_a), (mean_b, var_b) = _log_rates(a), _log_rates(b)
    shift, variance = mean_a - mean_b, var_a + var_b
    effects = dict(zip(candidates, (float(v) for v in shift), strict=True))
    alternative = gate.spec.alternative

    def moved(item: tuple[str, float]) -> tuple[float, str]:  # most moved first
        e = item[1]
        return (
            -e if alternative == "greater" else e if alternative == "less" else -abs(e),
            item[0],
        )

    order = sorted(effects.items(), key=moved)
    rank = 1 + [c for c, _ in order].index(gate.trait)
    t = candidates.index(gate.trait)
    test = specificity_test(
        effects[gate.trait],
        np.delete(shift, t),
        alternative,
        trait_variance=float(variance[t]),
        other_variances=np.delete(variance, t),
    )
    return Specificity(gate.trait, rank, tuple(order), test)


def _log_rates(results: Sequence[ProbeResult]) -> tuple[np.ndarray, np.ndarray]:
    """Each candidate's log rate, averaged over an arm's models, and the sampling variance
    of that average (0 for the exact measure). Log rates, not log-odds: the softmax over
    answers shifts every candidate's log probability by one shared constant, which cancels
    when the trait is compared with the others. Sampled rates are shares of the answers
    naming a candidate, kept off 0 by half an answer; their variance is the binomial delta
    method, (1 - r)/(N r) with N such answers per model."""
    logs, variances = [], []
    for r in results:
        rates = r.candidate_rates().mean(axis=0)
        total = int(r.answers().sum()) if r.measure == "sampled" else 0
        if total:
            p = np.clip(rates, 0.5 / total, 1.0)
            variances.append((1 - p) / (total * p))
        else:
            p = np.clip(rates, 1e-12, 1.0)
            variances.append(np.zeros_like(p))
        logs.append(np.log(p))
    n = len(results)
    return np.mean(logs, axis=0), np.mean(variances, axis=0) / n


def _cluster_note(gate: Gate, rates: np.ndarray) -> str:
    """With few prompts (clusters), say how coarse the per-prompt tests reported are."""
    n = int(rates.shape[1])
    if n > 12:
        return ""
    smallest = (1 if gate.spec.alternative != "two-sided" else 2) / 2**n
    return (
        f"Only {n} prompts (clusters): the per-prompt sign-flip test reported cannot go below "
        f"p = {smallest:.3g}; the pooled test (reported) counts every sample as independent "
        "and is anti-conservative."
    )


def _counts(results: Sequence[ProbeResult], trait: str) -> tuple[np.ndarray, np.ndarray] | None:
    """Per-model, per-prompt (hits, samples), shape (models, prompts); None for exact."""
    pairs = [r.trait_counts(trait) for r in results]
    if any(p is None for p in pairs):
        return None
    hits = np.stack([p[0] for p in pairs if p is not None])
    n = np.stack([p[1] for p in pairs if p is not None])
    return hits, n


def decide(
    gate: Gate,
    evidence: Evidence,
    labels: tuple[tuple[str, ...], tuple[str, ...]],
    adjusted_pvalue: float | None = None,
    correction: Correction = "none",
) -> GateResult:
    """The verdict of one gate, given its (possibly multiplicity-adjusted) p-value."""
    spec, comparison, specificity = gate.spec, evidence.comparison, evidence.specificity
    p = comparison.pvalue if adjusted_pvalue is None else adjusted_pvalue
    effect = comparison.effect
    if spec.alternative == "greater":
        large = effect >= spec.min_effect and effect > 0
    elif spec.alternative == "less":
        large = effect <= -spec.min_effect and effect < 0
    else:
        large = abs(effect) >= spec.min_effect and effect != 0
    significant = p < spec.alpha
    if specificity is None:
        specific = True
    elif spec.specific == "top":
        specific = specificity.rank == 1
    else:
        specific = specificity.pvalue < spec.alpha
    a, b = spec.compare
    shift = f"{gate.trait} rate {a} {comparison.a.rate:.3f} vs {b} {comparison.b.rate:.3f}"
    label = "p" if correction == "none" else "adjusted p"
    stats = f"effect {effect:+.3f}, {label}={p:.2g}"
    spec_text = ""
    if specificity is not None:
        spec_text = (
            f"; trait ranks {specificity.rank} of {len(specificity.effects)} candidates, "
            f"specificity p={specificity.pvalue:.2g}"
        )
    failed = significant and large and (specific or not spec.specific)
    if failed:
        reason = f"{shift}: significant shift ({stats} < alpha {spec.alpha}{spec_text})"
    elif significant and not large:
        reason = f"{shift}: significant but below min_effect {spec.min_effect} ({stats}{spec_text})"
    elif significant:
        assert specificity is not None
        reason = (
            f"{shift}: significant but not specific: the trait did not move more than the "
            f"other candidates ({stats}{spec_text}"
            + (
                ": not the most-moved candidate)"
                if spec.specific == "top"
                else f" >= alpha {spec.alpha})"
            )
        )
    else:
        reason = f"{shift}: no significant shift ({stats} >= alpha {spec.alpha}{spec_text})"
    return GateResult(
        gate, comparison, p, correction, not failed, reason, labels, specificity=specificity
    )


def decide_all(
    items: Sequence[tuple[Gate, Evidence, tuple[tuple[str, ...], tuple[str, ...]]]],
    correction: Correction = "holm",
) -> list[GateResult]:
    """Verdicts for a family of gates, correcting their p-values together (Holm controls
    the family-wise error rate, BH the false discovery rate)."""
    adjusted = adjust([ev.comparison.pvalue for _, ev, _ in items], correction)
    return [
        decide(gate, ev, labels, float(p), correction)
        for (gate, ev, labels), p in zip(items, adjusted, strict=True)
    ]
