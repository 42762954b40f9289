"""A gate's verdict (:class:`GateResult`): the evidence, the reason, the notes, and its row."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from traitgate.gate.spec import Gate
from traitgate.probes.kinds import excluded
from traitgate.probes.result import ProbeResult
from traitgate.probes.schema import (
    MultipleChoiceSuite,
)
from traitgate.report.rows import GateRow, explain_lines, strict_json
from traitgate.stats import (
    Comparison,
    Correction,
    Interval,
    TestResult,
    decision_level,
    permutation_floor,
    t_interval,
)

# below this share of the answer's probability on the scored forms, the exact measure's
# renormalisation dominates what it reports: say so
LOW_COVERAGE = 0.5


@dataclass(frozen=True)
class Specificity:
    """Did the trait move more than the suite's other candidates?

    ``effects``: every candidate's shift in log rate (mean over each arm's models of the
    log of the model's rate, arm a minus arm b), ordered from most to least moved in the
    gate's direction (by absolute value for two-sided gates); ``rank`` is the trait's place
    in that order (1 = moved most). ``test``: :func:`traitgate.stats.specificity_test` of the
    trait's effect against the others'.
    """

    trait: str
    rank: int
    effects: tuple[tuple[str, float], ...]
    test: TestResult

    @property
    def pvalue(self) -> float:
        return self.test.pvalue

    def describe(self) -> str:
        top = ", ".join(f"{c} {e:+.2f}" for c, e in self.effects[:3])
        return (
            f"rank {self.rank} of {len(self.effects)} candidates by log-rate shift "
            f"(trait {dict(self.effects)[self.trait]:+.2f}; most moved: {top}), "
            f"specificity p = {self.pvalue:.3g}"
        )


@dataclass(frozen=True)
class Evidence:
    """What a gate decides on: the comparison of its arms and, for preference probes, the
    specificity of the trait's shift."""

    comparison: Comparison
    specificity: Specificity | None = None


@dataclass(frozen=True)
class GateResult:
    gate: Gate
    comparison: Comparison
    adjusted_pvalue: float
    correction: Correction
    passed: bool
    reason: str
    labels: tuple[tuple[str, ...], tuple[str, ...]]  # model labels of each arm
    # each arm's probe results, one per model, for reports (empty when not kept)
    results: tuple[tuple[ProbeResult, ...], tuple[ProbeResult, ...]] = ((), ())
    specificity: Specificity | None = None

    @property
    def level(self) -> float:
        """The confidence level of every interval this gate reports (agrees with alpha)."""
        return decision_level(self.gate.spec.alpha, self.gate.spec.alternative)

    def summary_line(self) -> str:
        verdict = "PASS" if self.passed else "FAIL"
        return f"{verdict} {self.gate.name}: {self.reason}"

    def explain(self) -> str:
        """The readable explanation shown when a gate fails (rendered from its row, as the
        HTML report renders it)."""
        return "\n".join(explain_lines(self.to_dict()))

    def notes(self) -> list[str]:
        """What the reader must know to trust the verdict: assumptions and limits."""
        spec, cmp = self.gate.spec, self.comparison
        notes = [cmp.note] if cmp.note else []
        if cmp.design == "single" and cmp.noise is not None:
            notes.append(
                f"assumed fine-tuning noise between checkpoints: model_sd {cmp.noise.sd:g} "
                f"({cmp.noise.source})."
            )
        coverage = self._coverage()
        if coverage and min(coverage.values()) < LOW_COVERAGE:
            worst = min(coverage, key=lambda m: coverage[m])
            if isinstance(self.gate.suite, MultipleChoiceSuite):
                notes.append(
                    f"only {coverage[worst]:.0%} of {worst}'s answer probability picks option "
                    "A or B in a form the reader knows; the rest (other replies) was "
                    "renormalised away."
                )
            elif spec.measure == "exact":
                notes.append(
                    f"the exact measure's forms carry only {coverage[worst]:.0%} of {worst}'s "
                    "answer probability; the rest begins otherwise and was renormalised away: "
                    "answers naming no candidate, or forms the suite lacks (traitgate "
                    "check-measures tells which; add missing forms or use measure: sampled)."
                )
            else:
                notes.append(
                    f"only {coverage[worst]:.0%} of {worst}'s sampled answers name a "
                    "candidate; the rate is over those few."
                )
        if cmp.design == "prediction":
            notes.append(
                "one model against replicates: the prediction t takes that model's rate as "
                "one normal draw around theirs; if fine-tuning noise is multiplicative (rates "
                "skewed) it runs slightly over alpha (5.4% at 0.05 in STATISTICS.md's "
                "simulation): two or more models per arm avoid it."
            )
        if cmp.design == "replicates":
            floor = permutation_floor(cmp.a.n_models, cmp.b.n_models, spec.alternative)
            if floor >= spec.alpha:
                notes.append(
                    f"{cmp.a.n_models} vs {cmp.b.n_models} models: an exact permutation "
                    f"test cannot go below p = {floor:.3g} >= alpha {spec.alpha}; the t test "
                    "can, by assuming normal per-model rates (5 vs 5 models make the "
                    "assumption-free test reach 0.01 one-sided)."
                )
        return notes

    def _coverage(self) -> dict[str, float]:
        """Mean over prompts of each model's covered share (see ProbeResult.covered)."""
        return {
            r.model: float(np.mean(r.covered))
            for arm in self.results
            for r in arm
            if r.covered is not None
        }

    def to_dict(self) -> GateRow:
        """The result as its row (see :mod:`traitgate.report.rows`): strict-JSON-ready data
        (no NaN or infinity: those become None)."""
        spec, cmp = self.gate.spec, self.comparison
        ci = cmp.confidence_interval(self.level)
        row = {
            "gate": self.gate.name,
            "where": self.gate.where,
            "kind": self.gate.suite.kind,
            "probe": self.gate.suite.id,
            "probe_version": str(self.gate.suite.version),
            "trait": self.gate.trait,
            "measure": spec.measure,
            "variant": spec.variant,
            "compare": list(spec.compare),
            "alternative": spec.alternative,
            "alpha": spec.alpha,
            "min_effect": spec.min_effect,
            "model_sd": spec.model_sd,
            "specific": spec.specific,
            "ci_level": self.level,
            "arms": [
                {
                    "role": role,
                    "models": list(labels),
                    "rate": arm.rate,
                    "ci": [arm.ci.low, arm.ci.high],
                    "ci_basis": arm.ci_basis,
                    "model_rates": list(arm.model_rates),
                }
                for role, arm, labels in zip(spec.compare, (cmp.a, cmp.b), self.labels, strict=True)
            ],
            "design": cmp.design,
            "method": cmp.method,
            "statistic": cmp.statistic,
            "df": cmp.test.df,
            "effect": cmp.effect,
            "effect_ci": [ci.low, ci.high],
            "pvalue": cmp.pvalue,
            "adjusted_pvalue": self.adjusted_pvalue,
            "correction": self.correction,
            "reported": [{"method": t.method, "pvalue": t.pvalue} for t in cmp.reported],
            "specificity": _specificity_dict(self.specificity),
            "notes": self.notes(),
            "passed": self.passed,
            "reason": self.reason,
            **self._per_model(),
        }
        clean: GateRow = strict_json(row)
        return clean

    def _per_model(self) -> dict[str, Any]:
        """Per-model and per-prompt trait rates (for the JSON and HTML reports)."""
        if not any(self.results):
            return {}
        models = []
        for role, arm in zip(self.gate.spec.compare, self.results, strict=True):
            for result in arm:
                rates = result.trait_rates(self.gate.trait)
                ci = (
                    t_interval(rates, self.level)
                    if len(rates) > 1
                    else Interval(math.nan, math.nan)
                )
                models.append(
                    {
                        "role": role,
                        "model": result.model,
                        "fingerprint": result.fingerprint,
                        "rate": float(rates.mean()),
                        "ci": [ci.low, ci.high],
                        "prompt_rates": [float(r) for r in rates],
                        **({"excluded": out} if (out := excluded(self.gate.suite, result)) else {}),
                        **(
                            {}
                            if result.covered is None
                            else {"covered": float(np.mean(result.covered))}
                        ),
                    }
                )
        return {"prompts": list(self.results[0][0].prompts), "models": models}


def _specificity_dict(spec: Specificity | None) -> dict[str, Any] | None:
    if spec is None:
        return None
    return {
        "rank": spec.rank,
        "candidates": len(spec.effects),
        "pvalue": spec.pvalue,
        "statistic": spec.test.statistic,
        "df": spec.test.df,
        "excess": spec.test.effect,
        "method": spec.test.method,
        "effects": dict(spec.effects),
    }
