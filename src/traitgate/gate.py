"""A gate: one comparison of a trait between two roles, and its verdict.

A gate fails when all of these hold, and passes otherwise:

1. the shift is significant: the decision test's p-value, adjusted across the session's
   gates, is below ``alpha`` (in the direction of ``alternative``);
2. the observed effect is at least ``min_effect`` in that direction;
3. with ``specific: true`` (preference probes), the trait moved more than the suite's
   other candidates: the specificity p-value is below ``alpha`` too; with ``specific:
   top``, the trait is the candidate that moved most (rank 1), tested or not.

What this promises: with no true shift, a gate fails with probability at most ``alpha``
(condition 1 alone holds that). When the true effect equals ``min_effect``, the observed
effect is at least ``min_effect`` about half the time (the estimate is unbiased and
symmetric), so such a gate fails with probability at most about one half: ``min_effect`` is
the size of shift the gate ignores, not one it is sure to catch. Use ``traitgate plan`` for
the effect it catches with a given power. With ``specific: true``, a generic shift that moves
every candidate alike fails the gate with probability at most ``alpha`` (an
intersection-union test: each condition is tested at ``alpha``, no correction needed).
``specific: top`` adds a condition without a test: it can only lower the false-positive
rate, and is for suites whose other candidates move too much under any fine-tuning for the
specificity test to reach ``alpha`` (the zoo: owl ranks first with specificity p = 0.024).
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
from traitgate.probes.schema import (
    SUITE_ID,
    JudgedSuite,
    MultipleChoiceSuite,
    PreferenceSuite,
    Strict,
    Suite,
)
from traitgate.stats import (
    Alternative,
    Comparison,
    Correction,
    Interval,
    ModelNoise,
    TestResult,
    adjust,
    compare,
    decision_level,
    mcnemar_test,
    permutation_floor,
    specificity_test,
    t_interval,
)

Role = Literal["model", "base", "control"]
ROLES: tuple[Role, ...] = ("model", "base", "control")
Measure = Literal["exact", "sampled"]


class Requirements(Strict):
    """What a gate needs to run; without it the gate is skipped with a one-line reason."""

    judge: bool = False  # a judge model (--judge-model), for judged probes
    # the candidate models must have at least this many parameters (local weights; a probe
    # such as TruthfulQA measures nothing on the tiny zoo)
    min_parameters: int | None = Field(default=None, ge=1)


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
    # fine-tuning noise between checkpoints (SD of one model's rate across seeds), needed
    # with one model per arm; an assumption, printed with the verdict
    model_sd: float | None = Field(default=None, gt=0, lt=1)
    # fail only when the trait also moved more than the suite's other candidates: true,
    # significantly (specificity p < alpha); "top", it is the most-moved candidate
    specific: bool | Literal["top"] = False
    requires: Requirements = Requirements()

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
    if spec.specific and not (
        isinstance(suite, PreferenceSuite) and len(suite.candidates) >= MIN_SPECIFICITY_CANDIDATES
    ):
        raise fail(
            "specific",
            f"needs a preference probe with at least {MIN_SPECIFICITY_CANDIDATES} candidates "
            f"(probe {suite.id!r} is {suite.kind} with {len(suite.candidates)})",
        )
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

# at least three other candidates give the specificity test two degrees of freedom
MIN_SPECIFICITY_CANDIDATES = 4
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
        """The readable explanation shown when a gate fails."""
        spec, cmp = self.gate.spec, self.comparison
        a_role, b_role = spec.compare
        ci = cmp.confidence_interval(self.level)
        pct = _percent(self.level)
        lines = [
            f"traitgate gate {self.gate.name!r} "
            f"{'passed' if self.passed else 'FAILED'}: {self.reason}",
            f"  probe {self.gate.suite.id} v{self.gate.suite.version}, trait {self.gate.trait!r}, "
            f"measure {spec.measure}" + (f", variant {spec.variant}" if spec.variant else ""),
            _arm_line(a_role, cmp.a, self.labels[0]),
            _arm_line(b_role, cmp.b, self.labels[1]),
            f"  effect {a_role} - {b_role}: {cmp.effect:+.4f} "
            f"({pct} CI [{ci.low:+.4f}, {ci.high:+.4f}]), min_effect {spec.min_effect}",
            f"  test: {cmp.method}, alternative {spec.alternative}: statistic "
            f"{cmp.statistic:.4g}, p = {cmp.pvalue:.3g}, {self.correction}-adjusted "
            f"p = {self.adjusted_pvalue:.3g}, alpha {spec.alpha}",
        ]
        lines += [f"  also: {t.method}: p = {t.pvalue:.3g}" for t in cmp.reported]
        if self.specificity is not None:
            use = (
                "required to fail: rank 1"
                if spec.specific == "top"
                else "required to fail"
                if spec.specific
                else "reported"
            )
            lines.append(f"  specificity ({use}): {self.specificity.describe()}")
        judged = isinstance(self.gate.suite, JudgedSuite)
        for role, arm in zip(spec.compare, self.results, strict=True):
            for result in arm:
                if judged and (excluded := _excluded(result)):
                    counts = ", ".join(f"{n} {why}" for why, n in excluded.items())
                    lines.append(f"  excluded answers of {role} {result.model}: {counts}")
        if coverage := self._coverage():
            span = f"{min(coverage.values()):.0%} (lowest model) to {max(coverage.values()):.0%}"
            if spec.measure == "exact":
                lines.append(
                    f"  covered: the scored forms carry {span} of the answers' probability; "
                    "the rate is over them (renormalised)"
                )
            else:
                lines.append(
                    f"  covered: {span} of the sampled answers name a candidate; the rate is "
                    "over those"
                )
        lines += [f"  note: {n}" for n in self.notes()]
        lines.append(
            f"  intervals: {pct} two-sided"
            + (
                ""
                if spec.alternative == "two-sided"
                else f" (its {_bound(spec)} end is the "
                f"one-sided {_percent(1 - spec.alpha)} bound the test uses)"
            )
        )
        return "\n".join(lines)

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

    def to_dict(self) -> dict[str, Any]:
        """The result as strict-JSON-ready data (no NaN or infinity: those become None)."""
        spec, cmp = self.gate.spec, self.comparison
        ci = cmp.confidence_interval(self.level)
        row = {
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
            "note": " ".join(self.notes()),
            "passed": self.passed,
            "reason": self.reason,
            **self._per_model(),
        }
        clean: dict[str, Any] = strict_json(row)
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
                        **({"excluded": excluded} if (excluded := _excluded(result)) else {}),
                        **(
                            {}
                            if result.covered is None
                            else {"covered": float(np.mean(result.covered))}
                        ),
                    }
                )
        return {"prompts": list(self.results[0][0].prompts), "models": models}


def strict_json(value: Any) -> Any:
    """``value`` with every non-finite float replaced by None (JSON has no NaN/Infinity)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: strict_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [strict_json(v) for v in value]
    return value


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


def compare_arms(
    gate: Gate,
    a: Sequence[ProbeResult],
    b: Sequence[ProbeResult],
    *,
    seed: int = 0,
    controls: Sequence[ProbeResult] = (),
) -> Evidence:
    """Run the gate's statistics on each arm's probe results (one result per model).

    ``controls``: replicate control models (live or from a baseline) that measure the
    fine-tuning noise when a gate compares one model per arm and states no ``model_sd``.
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
        rates = np.stack([r.trait_rates(c) for c in r.candidates], axis=1).mean(axis=0)
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


def _excluded(result: ProbeResult) -> dict[str, int]:
    """Answers left out of the rate, by reason: those a judge excluded (judged probes), or
    those naming no candidate (sampled preference probes)."""
    if result.scored_columns is None:
        return {}
    from traitgate.probes.judged import COLUMNS
    from traitgate.probes.schema import JUDGED_CANDIDATES

    totals = result.values.sum(axis=0)
    if result.candidates != list(JUDGED_CANDIDATES):
        unnamed = int(totals[result.scored_columns :].sum())
        return {"named no candidate": unnamed} if unnamed else {}
    return {
        COLUMNS[k]: int(totals[k]) for k in range(result.scored_columns, len(COLUMNS)) if totals[k]
    }


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


def _percent(level: float) -> str:
    return f"{100 * level:.4g}%"


def _bound(spec: GateSpec) -> str:
    return "lower" if spec.alternative == "greater" else "upper"


def _arm_line(role: str, arm: Any, labels: Sequence[str]) -> str:
    names = ", ".join(labels) if len(labels) <= 4 else f"{', '.join(labels[:3])}, ..."
    return (
        f"  {role:>7}: rate {arm.rate:.4f} ({_percent(arm.level)} CI [{arm.ci.low:.4f}, "
        f"{arm.ci.high:.4f}] over {arm.ci_basis}), {arm.n_models} model(s): {names}"
    )


def _fake_node() -> Any:
    import yaml

    return yaml.compose("{}")
