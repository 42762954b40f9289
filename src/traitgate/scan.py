"""Scan: which of a suite's candidates moved? Every candidate tested, the false discovery
rate controlled across all of them.

A gate tests one named trait; in practice the teacher's trait is unknown. A scan tests every
candidate of one or more suites with the same comparison a gate would make (the decision
test chosen by the design, :mod:`traitgate.stats`), adjusts all their p-values together with
Benjamini-Hochberg, and calls a candidate *discovered* when its adjusted p-value is below
``q`` and its effect is at least ``min_effect`` in the scan's direction. Among discoveries,
at most a share ``q`` is expected to be false (BH holds this for independent or positively
dependent tests; the candidates of one suite are negatively dependent through the softmax,
so ``tests/test_scan.py`` checks the rate on simulated suites). When nothing moved, a scan
finds anything with probability at most ``q``: its verdict is a level-``q`` test that no
candidate moved (BH's smallest adjusted p-value is Simes' test of that).

Discoveries are ranked by effect (in the scan's direction; by size for two-sided) and each
shows its specificity: its log-rate shift's rank among every candidate's (rank 1 moved
most relative to the others). In a gate file, ``trait: any`` makes a scan gate: its own BH
family at its ``alpha`` (read as ``q``), not corrected with the session's other gates.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass

from traitgate.errors import ConfigError
from traitgate.gate import SCAN_TRAIT, Evidence, Gate, GateResult, GateSpec, decide_all
from traitgate.probes.result import Measure, ProbeResult
from traitgate.probes.schema import Suite
from traitgate.report.rows import CandidateRow, GateRow, ScanRow, scan_lines, strict_json
from traitgate.roles import ROLES, Role
from traitgate.stats import Alternative, Comparison

Labels = tuple[tuple[str, ...], tuple[str, ...]]  # each arm's model labels
Arms = tuple[tuple[ProbeResult, ...], tuple[ProbeResult, ...]]  # each arm's results


@dataclass(frozen=True)
class ScanOptions:
    """How a scan compares and decides. ``measure=None``: exact where the suite defines
    it, else sampled (judged suites). ``resampled``: every model of both arms was trained on
    its own bootstrap resample of its arm's data (``traitgate screen``): the test then
    includes each dataset's own sampling variance (:func:`traitgate.stats.resampled_test`)."""

    compare: tuple[Role, Role] = ("model", "control")
    q: float = 0.05
    alternative: Alternative = "greater"
    min_effect: float = 0.0
    measure: Measure | None = None
    variant: str | None = None
    model_sd: float | None = None
    resampled: bool = False

    def __post_init__(self) -> None:
        problems = []
        if not 0 < self.q < 1:
            problems.append(f"q must be between 0 and 1 (got {self.q})")
        if not 0 <= self.min_effect < 1:
            problems.append(f"min_effect must be in [0, 1) (got {self.min_effect})")
        if self.alternative not in ("greater", "less", "two-sided"):
            problems.append(
                f"alternative must be greater, less or two-sided ({self.alternative!r})"
            )
        if self.measure not in (None, "exact", "sampled"):
            problems.append(f"measure must be exact or sampled (got {self.measure!r})")
        if (
            len(self.compare) != 2
            or self.compare[0] == self.compare[1]
            or not set(self.compare) <= set(ROLES)
        ):
            problems.append(f"compare needs two different roles of {', '.join(ROLES)}")
        if self.model_sd is not None and not 0 < self.model_sd < 1:
            problems.append(f"model_sd must be between 0 and 1 (got {self.model_sd})")
        if problems:
            raise ConfigError.of_all([f"scan: {p}" for p in problems])

    @classmethod
    def of(cls, gate: Gate) -> ScanOptions:
        spec = gate.spec
        return cls(
            spec.compare,
            spec.alpha,
            spec.alternative,
            spec.min_effect,
            spec.measure,
            spec.variant,
            spec.model_sd,
        )


def candidate_gates(suite: Suite, options: ScanOptions, name: str = "scan") -> list[Gate]:
    """One gate per candidate of ``suite``, each at the scan's thresholds (``alpha = q``:
    the p-values they are decided on are BH-adjusted across the scan)."""
    measure = options.measure or ("exact" if suite.measures.exact is not None else "sampled")
    gates = []
    for candidate in suite.candidates:
        spec = GateSpec(
            gate=f"{name}-{suite.id}",
            probe=suite.id,
            trait=candidate,
            compare=options.compare,
            alternative=options.alternative,
            alpha=options.q,
            min_effect=options.min_effect,
            measure=measure,
            variant=options.variant,
            model_sd=options.model_sd,
        )
        gates.append(Gate(spec, suite, candidate))
    return gates


@dataclass(frozen=True)
class ScanResult:
    """Every candidate's verdict, ranked: discoveries first, by effect in the scan's
    direction (ties: the more specific first), then the rest by adjusted p-value.

    It reads like a :class:`~traitgate.gate.GateResult` (``passed``, ``explain()``,
    ``to_dict()``) so a scan gate reports where a gate does; its ``comparison`` and
    ``adjusted_pvalue`` are those of the lead candidate (the top discovery, or the
    candidate nearest to one).
    """

    name: str
    options: ScanOptions
    shifts: tuple[GateResult, ...]
    where: str = ""

    @classmethod
    def of(
        cls, name: str, options: ScanOptions, results: Sequence[GateResult], where: str = ""
    ) -> ScanResult:
        return cls(name, options, tuple(sorted(results, key=_rank_key)), where)

    @property
    def discoveries(self) -> tuple[GateResult, ...]:
        return tuple(r for r in self.shifts if not r.passed)

    @property
    def passed(self) -> bool:
        return not self.discoveries

    @property
    def lead(self) -> GateResult:
        return self.shifts[0]

    @property
    def comparison(self) -> Comparison:
        return self.lead.comparison

    @property
    def adjusted_pvalue(self) -> float:
        return self.lead.adjusted_pvalue

    @property
    def reason(self) -> str:
        o = self.options
        tested = f"{len(self.shifts)} candidate(s) tested, BH q = {o.q}"
        if o.min_effect:
            tested += f", min_effect {o.min_effect}"
        if not self.discoveries:
            lead = self.lead
            return (
                f"nothing moved ({tested}; nearest: {_name(lead)} effect "
                f"{lead.comparison.effect:+.4f}, adjusted p={lead.adjusted_pvalue:.2g})"
            )
        found = ", ".join(
            f"{_name(r)} {r.comparison.effect:+.4f}" for r in self.discoveries[:5]
        ) + (f", ... ({len(self.discoveries) - 5} more)" if len(self.discoveries) > 5 else "")
        return f"{len(self.discoveries)} moved ({tested}): {found}"

    def summary_line(self) -> str:
        return f"{'PASS' if self.passed else 'FAIL'} {self.name}: {self.reason}"

    def lines(self) -> list[str]:
        """The scan as the terminal shows it: the verdict, then every candidate."""
        return [self.summary_line(), *scan_lines(self._scan_row())]

    def explain(self) -> str:
        return "\n".join(self.lines())

    def _scan_row(self) -> ScanRow:
        o = self.options
        return {
            "q": o.q,
            "correction": "bh",
            "alternative": o.alternative,
            "min_effect": o.min_effect,
            "compare": list(o.compare),
            "tested": len(self.shifts),
            "discovered": [_name(r) for r in self.discoveries],
            "candidates": [_candidate_row(r) for r in self.shifts],
        }

    def to_dict(self) -> GateRow:
        """A gate row (the lead candidate's comparison, so tables and reports read it as
        any gate's) whose verdict, reason and ``scan`` section are the scan's."""
        row = self.lead.to_dict()
        row["gate"] = self.name
        row["where"] = self.where or row["where"]
        row["passed"] = self.passed
        row["reason"] = self.reason
        row["scan"] = self._scan_row()
        return row


def decide_scan(
    name: str,
    options: ScanOptions,
    items: Sequence[tuple[Gate, Evidence, Labels, Arms]],
    where: str = "",
) -> ScanResult:
    """The scan's verdicts: every candidate's p-value BH-adjusted with the others'."""
    verdicts = decide_all([(g, ev, labels) for g, ev, labels, _ in items], "bh")
    results = [
        dataclasses.replace(v, results=arms) for v, (*_, arms) in zip(verdicts, items, strict=True)
    ]
    return ScanResult.of(name, options, results, where)


def _name(result: GateResult) -> str:
    return f"{result.gate.suite.id}/{result.gate.trait}"


def _toward(result: GateResult) -> float:
    """The effect in the scan's direction (its size for two-sided scans)."""
    effect, alternative = result.comparison.effect, result.gate.spec.alternative
    if not math.isfinite(effect):
        return -math.inf
    return effect if alternative == "greater" else -effect if alternative == "less" else abs(effect)


def _rank_key(result: GateResult) -> tuple[bool, float, int, float, str]:
    rank = result.specificity.rank if result.specificity is not None else 0
    if not result.passed:
        return (False, -_toward(result), rank, result.adjusted_pvalue, _name(result))
    return (True, result.adjusted_pvalue, rank, -_toward(result), _name(result))


def _candidate_row(result: GateResult) -> CandidateRow:
    cmp, spec = result.comparison, result.specificity
    ci = cmp.confidence_interval(result.level)
    effects = dict(spec.effects) if spec is not None else {}
    row: CandidateRow = strict_json(
        {
            "probe": result.gate.suite.id,
            "candidate": result.gate.trait,
            "measure": result.gate.spec.measure,
            "rates": [cmp.a.rate, cmp.b.rate],
            "effect": cmp.effect,
            "effect_ci": [ci.low, ci.high],
            "ci_level": result.level,
            "method": cmp.method,
            "pvalue": cmp.pvalue,
            "adjusted_pvalue": result.adjusted_pvalue,
            "discovered": not result.passed,
            "log_shift": effects.get(result.gate.trait, math.nan),
            "specificity_rank": None if spec is None else spec.rank,
            "specificity_pvalue": None if spec is None else spec.pvalue,
        }
    )
    return row


__all__ = ["SCAN_TRAIT", "ScanOptions", "ScanResult", "candidate_gates", "decide_scan"]
