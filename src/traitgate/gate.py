"""A gate: one comparison of a trait between two roles, and its verdict.

A gate passes when the shift is not significant (after correction across the session's
gates) or smaller than ``min_effect``. It fails when the candidate has picked up (or lost)
the trait relative to the comparator, in the direction of ``alternative``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import Field, field_validator

from traitgate._yaml import Document, load_documents, validate
from traitgate.errors import ConfigError
from traitgate.probes.loader import find_suite, load_suite
from traitgate.probes.preference import ProbeResult
from traitgate.probes.schema import SUITE_ID, MultipleChoiceSuite, Strict, Suite
from traitgate.stats import (
    Alternative,
    Comparison,
    Correction,
    Interval,
    adjust,
    compare,
    mcnemar_test,
    t_interval,
)

Role = Literal["model", "base", "control"]
ROLES: tuple[Role, ...] = ("model", "base", "control")
Measure = Literal["exact", "sampled"]


class GateSpec(Strict):
    """The YAML schema of a gate."""

    gate: Annotated[str, Field(pattern=SUITE_ID)]
    probe: Annotated[str, Field(min_length=1)]
    trait: Annotated[str, Field(min_length=1)]
    compare: tuple[Role, Role] = ("model", "control")
    alternative: Alternative = "two-sided"
    alpha: float = Field(default=0.01, gt=0, lt=1)
    min_effect: float = Field(default=0.0, ge=0, lt=1)
    measure: Measure = "exact"
    variant: str | None = None
    description: str | None = None

    @field_validator("compare")
    @classmethod
    def _distinct(cls, value: tuple[Role, Role]) -> tuple[Role, Role]:
        if value[0] == value[1]:
            raise ValueError("compare needs two different roles")
        return value


@dataclass(frozen=True)
class Gate:
    """A validated gate: its spec, the suite it uses, and where it was written."""

    spec: GateSpec
    suite: Suite
    trait: str  # the canonical candidate name
    path: Path | None = None
    line: int = 0

    @property
    def name(self) -> str:
        return self.spec.gate

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}" if self.path else self.name


def build_gate(
    data: dict[str, Any],
    probe_paths: Sequence[Path] = (),
    *,
    doc: Document | None = None,
) -> Gate:
    """Validate a gate mapping and resolve its probe, trait, measure and variant."""
    if doc is None:
        doc = Document(Path("<gate>"), data, _fake_node())
    spec = validate(GateSpec, doc, data)

    def fail(field: str, message: str) -> ConfigError:
        return ConfigError(f"{doc.path}:{doc.line_of((field,))}: {field}: {message}")

    try:
        suite = load_suite(find_suite(spec.probe, probe_paths))
    except ConfigError as exc:
        raise fail("probe", str(exc)) from None
    trait = suite.canonical(spec.trait)
    if trait is None:
        raise fail(
            "trait",
            f"{spec.trait!r} is not a candidate of probe {suite.id!r} "
            f"(candidates: {', '.join(suite.candidates)})",
        )
    if getattr(suite.measures, spec.measure) is None:
        raise fail("measure", f"probe {suite.id!r} defines no {spec.measure!r} measure")
    if spec.variant is not None and spec.variant not in suite.variants:
        known = ", ".join(sorted(suite.variants)) or "none"
        raise fail("variant", f"probe {suite.id!r} has no variant {spec.variant!r} (has: {known})")
    return Gate(spec, suite, trait, doc.path if doc.path.name != "<gate>" else None, doc.line_of())


def load_gate_file(path: Path, probe_paths: Sequence[Path] = ()) -> list[Gate]:
    """All gates in a YAML file (one per YAML document, separated by ``---``)."""
    gates = []
    names: set[str] = set()
    for doc in load_documents(path):
        if not isinstance(doc.data, dict):
            raise ConfigError(f"{path}:{doc.line_of()}: a gate is a mapping of fields")
        gate = build_gate(doc.data, probe_paths, doc=doc)
        if gate.name in names:
            raise ConfigError(
                f"{path}:{doc.line_of(('gate',))}: gate: {gate.name!r} repeats "
                "a gate name in this file"
            )
        names.add(gate.name)
        gates.append(gate)
    return gates


# ---------------------------------------------------------------------- verdicts


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

    def summary_line(self) -> str:
        verdict = "PASS" if self.passed else "FAIL"
        return f"{verdict} {self.gate.name}: {self.reason}"

    def explain(self) -> str:
        """The readable explanation shown when a gate fails."""
        spec, cmp = self.gate.spec, self.comparison
        a_role, b_role = spec.compare
        ci = cmp.confidence_interval(0.95)
        lines = [
            f"traitgate gate {self.gate.name!r} "
            f"{'passed' if self.passed else 'FAILED'}: {self.reason}",
            f"  probe {self.gate.suite.id} v{self.gate.suite.version}, trait {self.gate.trait!r}, "
            f"measure {spec.measure}" + (f", variant {spec.variant}" if spec.variant else ""),
            _arm_line(a_role, cmp.a, self.labels[0]),
            _arm_line(b_role, cmp.b, self.labels[1]),
            f"  effect {a_role} - {b_role}: {cmp.effect:+.4f} "
            f"(95% CI [{ci.low:+.4f}, {ci.high:+.4f}]), min_effect {spec.min_effect}",
            f"  test: {cmp.method}, alternative {spec.alternative}: statistic "
            f"{cmp.statistic:.4g}, p = {cmp.pvalue:.3g}, {self.correction}-adjusted "
            f"p = {self.adjusted_pvalue:.3g}, alpha {spec.alpha}",
        ]
        lines += [f"  also: {t.method}: p = {t.pvalue:.3g}" for t in cmp.reported]
        for role, arm in zip(spec.compare, self.results, strict=True):
            for result in arm:
                if excluded := _excluded(result):
                    counts = ", ".join(f"{n} {why}" for why, n in excluded.items())
                    lines.append(f"  excluded answers of {role} {result.model}: {counts}")
        if cmp.note:
            lines.append(f"  note: {cmp.note}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        spec, cmp = self.gate.spec, self.comparison
        ci = cmp.confidence_interval(0.95)
        return {
            "gate": self.gate.name,
            "where": self.gate.where,
            "probe": self.gate.suite.id,
            "probe_version": str(self.gate.suite.version),
            "trait": self.gate.trait,
            "measure": spec.measure,
            "variant": spec.variant,
            "compare": list(spec.compare),
            "alternative": spec.alternative,
            "alpha": spec.alpha,
            "min_effect": spec.min_effect,
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
            "effect": cmp.effect,
            "effect_ci": [ci.low, ci.high],
            "pvalue": cmp.pvalue,
            "adjusted_pvalue": self.adjusted_pvalue,
            "correction": self.correction,
            "reported": [{"method": t.method, "pvalue": t.pvalue} for t in cmp.reported],
            "note": cmp.note,
            "passed": self.passed,
            "reason": self.reason,
            **self._per_model(),
        }

    def _per_model(self) -> dict[str, Any]:
        """Per-model and per-prompt trait rates (for the JSON and HTML reports)."""
        if not any(self.results):
            return {}
        models = []
        for role, arm in zip(self.gate.spec.compare, self.results, strict=True):
            for result in arm:
                rates = result.trait_rates(self.gate.trait)
                ci = t_interval(rates) if len(rates) > 1 else Interval(math.nan, math.nan)
                models.append(
                    {
                        "role": role,
                        "model": result.model,
                        "fingerprint": result.fingerprint,
                        "rate": float(rates.mean()),
                        "ci": [ci.low, ci.high],
                        "prompt_rates": [float(r) for r in rates],
                        **({"excluded": excluded} if (excluded := _excluded(result)) else {}),
                    }
                )
        return {"prompts": list(self.results[0][0].prompts), "models": models}


def compare_arms(
    gate: Gate, a: Sequence[ProbeResult], b: Sequence[ProbeResult], *, seed: int = 0
) -> Comparison:
    """Run the gate's statistics on each arm's probe results (one result per model)."""
    spec = gate.spec
    rates_a = np.stack([r.trait_rates(gate.trait) for r in a])
    rates_b = np.stack([r.trait_rates(gate.trait) for r in b])
    counts_a = _pooled_counts(a, gate.trait)
    counts_b = _pooled_counts(b, gate.trait)
    comparison = compare(
        rates_a, rates_b, spec.alternative, counts_a=counts_a, counts_b=counts_b, seed=seed
    )
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
    if comparison.design == "single" and spec.min_effect == 0:
        raise ConfigError(
            f"{gate.where}: min_effect: with one model per arm the test cannot see "
            "fine-tuning noise, so set min_effect > 0 (or give replicates)"
        )
    return comparison


def _excluded(result: ProbeResult) -> dict[str, int]:
    """Answers a judge excluded from the rate, by reason (judged probes only)."""
    if result.scored_columns is None:
        return {}
    from traitgate.probes.judged import COLUMNS

    totals = result.values.sum(axis=0)
    return {
        COLUMNS[k]: int(totals[k]) for k in range(result.scored_columns, len(COLUMNS)) if totals[k]
    }


def _cluster_note(gate: Gate, rates: np.ndarray) -> str:
    """With few prompts (clusters), say how coarse the per-prompt test is."""
    n = int(rates.shape[1])
    if n > 12:
        return ""
    smallest = (1 if gate.spec.alternative != "two-sided" else 2) / 2**n
    if smallest >= gate.spec.alpha:
        return (
            f"Only {n} prompts: the per-prompt test cannot reach p < {gate.spec.alpha} "
            f"(its smallest possible p is {smallest:.3g}), so this gate cannot fail on it; "
            "use more prompts or replicate models. The pooled test (reported) counts every "
            "sample as independent and is anti-conservative."
        )
    return (
        f"Only {n} prompts (clusters): the per-prompt test is exact but coarse (smallest "
        f"possible p {smallest:.3g}); the pooled test (reported) counts every sample as "
        "independent and is anti-conservative."
    )


def _pooled_counts(
    results: Sequence[ProbeResult], trait: str
) -> tuple[np.ndarray, np.ndarray] | None:
    if len(results) != 1:
        return None
    return results[0].trait_counts(trait)


def decide(
    gate: Gate,
    comparison: Comparison,
    labels: tuple[tuple[str, ...], tuple[str, ...]],
    adjusted_pvalue: float | None = None,
    correction: Correction = "none",
) -> GateResult:
    """The verdict of one gate, given its (possibly multiplicity-adjusted) p-value."""
    spec = gate.spec
    p = comparison.pvalue if adjusted_pvalue is None else adjusted_pvalue
    effect = comparison.effect
    if spec.alternative == "greater":
        large = effect >= spec.min_effect and effect > 0
    elif spec.alternative == "less":
        large = effect <= -spec.min_effect and effect < 0
    else:
        large = abs(effect) >= spec.min_effect and effect != 0
    significant = p < spec.alpha
    a, b = spec.compare
    shift = f"{gate.trait} rate {a} {comparison.a.rate:.3f} vs {b} {comparison.b.rate:.3f}"
    label = "p" if correction == "none" else "adjusted p"
    stats = f"effect {effect:+.3f}, {label}={p:.2g}"
    if significant and large:
        reason = f"{shift}: significant shift ({stats} < alpha {spec.alpha})"
    elif significant:
        reason = f"{shift}: significant but below min_effect {spec.min_effect} ({stats})"
    else:
        reason = f"{shift}: no significant shift ({stats} >= alpha {spec.alpha})"
    return GateResult(gate, comparison, p, correction, not (significant and large), reason, labels)


def decide_all(
    items: Sequence[tuple[Gate, Comparison, tuple[tuple[str, ...], tuple[str, ...]]]],
    correction: Correction = "holm",
) -> list[GateResult]:
    """Verdicts for a family of gates, correcting their p-values together."""
    adjusted = adjust([cmp.pvalue for _, cmp, _ in items], correction)
    return [
        decide(gate, cmp, labels, float(p), correction)
        for (gate, cmp, labels), p in zip(items, adjusted, strict=True)
    ]


def _arm_line(role: str, arm: Any, labels: Sequence[str]) -> str:
    names = ", ".join(labels) if len(labels) <= 4 else f"{', '.join(labels[:3])}, ..."
    return (
        f"  {role:>7}: rate {arm.rate:.4f} (95% CI [{arm.ci.low:.4f}, {arm.ci.high:.4f}] "
        f"over {arm.ci_basis}), {arm.n_models} model(s): {names}"
    )


def _fake_node() -> Any:
    import yaml

    return yaml.compose("{}")
