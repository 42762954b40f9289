"""A traitgate session: the models of each role, and every probe result computed on them.

The session owns the work schedule. Each (model, probe, measure, variant) runs once; the
models are visited one at a time (load, run every probe it needs, release), so a session
with many large replicates never holds more than one model in memory.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from traitgate.errors import ConfigError, TraitgateError
from traitgate.gate import ROLES, Gate, GateResult, Role, build_gate, compare_arms, decide_all
from traitgate.models import Backend, ModelSpec, load_backend
from traitgate.probes.preference import Measure, ProbeResult, run_preference
from traitgate.probes.schema import Suite
from traitgate.stats import Correction

Loader = Callable[[ModelSpec], Backend]
ROLE_OPTIONS = {"model": "--model", "base": "--base-model", "control": "--control-model"}
ROLE_INI = {
    "model": "traitgate_model",
    "base": "traitgate_base_model",
    "control": "traitgate_control_model",
}


RunKey = tuple[str, str, str, str | None]  # suite id, version, measure, variant


@dataclass(frozen=True)
class ProbeRun:
    """One probe measurement to make on a model: a suite, a measure and a variant."""

    suite: Suite
    measure: Measure
    variant: str | None = None

    @property
    def key(self) -> RunKey:
        return (self.suite.id, str(self.suite.version), self.measure, self.variant)

    @classmethod
    def of(cls, gate: Gate) -> ProbeRun:
        return cls(gate.suite, gate.spec.measure, gate.spec.variant)


@dataclass
class TraitSession:
    roles: Mapping[Role, Sequence[ModelSpec]]
    unresolved: Mapping[Role, TraitgateError] = field(default_factory=dict)
    seed: int = 0
    device: str = "auto"
    correction: Correction = "holm"
    probe_paths: Sequence[Path] = ()
    loader: Loader | None = None
    log: Callable[[str], None] = field(default=lambda _msg: None)
    _results: dict[tuple[str, RunKey], ProbeResult | TraitgateError] = field(default_factory=dict)

    def models(self, role: Role) -> list[ModelSpec]:
        specs = list(self.roles.get(role, ()))
        if not specs and role in self.unresolved:
            raise self.unresolved[role]
        if not specs:
            raise ConfigError(
                f"no {role} model given: pass {ROLE_OPTIONS[role]} (repeatable, globs allowed) "
                f"or set {ROLE_INI[role]} in the pytest ini file"
            )
        return specs

    # ------------------------------------------------------------------ running probes
    def prefetch(self, work: Sequence[tuple[Role, ProbeRun]]) -> None:
        """Compute every (role, probe run) result not yet known, one model at a time.

        A model that cannot be loaded, or a probe it cannot run (say, a candidate its
        tokenizer does not know), is remembered as that result's error: the gates that need
        it fail with it, the others go on.
        """
        needed: dict[str, tuple[ModelSpec, dict[RunKey, ProbeRun]]] = {}
        for role, run in work:
            for spec in self.roles.get(role, ()):
                if (spec.location, run.key) not in self._results:
                    needed.setdefault(spec.location, (spec, {}))[1].setdefault(run.key, run)
        for index, (spec, runs) in enumerate(needed.values(), start=1):
            self.log(f"[{index}/{len(needed)}] {spec.label}: {len(runs)} probe run(s)")
            try:
                backend = self._load(spec)
            except TraitgateError as exc:
                for key in runs:
                    self._results[(spec.location, key)] = exc
                continue
            try:
                for key, run in runs.items():
                    started = time.perf_counter()
                    try:
                        self._results[(spec.location, key)] = run_preference(
                            run.suite, backend, run.measure, variant=run.variant, seed=self.seed
                        )
                    except TraitgateError as exc:
                        self._results[(spec.location, key)] = exc
                    self.log(
                        f"    {'/'.join(str(k) for k in key if k is not None)}: "
                        f"{time.perf_counter() - started:.1f}s"
                    )
            finally:
                backend.close()

    def results(self, role: Role, run: ProbeRun) -> list[ProbeResult]:
        """Probe results of every model of ``role`` (computed if needed)."""
        specs = self.models(role)
        self.prefetch([(role, run)])
        out = []
        for spec in specs:
            result = self._results[(spec.location, run.key)]
            if isinstance(result, TraitgateError):
                raise result
            out.append(result)
        return out

    def _load(self, spec: ModelSpec) -> Backend:
        if self.loader is not None:
            return self.loader(spec)
        return load_backend(spec, device=self.device)

    # ------------------------------------------------------------------ gates
    def evaluate(self, gates: Sequence[Gate]) -> dict[int, GateResult | TraitgateError]:
        """Verdicts for a family of gates, keyed by position; a gate's own error is kept
        as its outcome and does not stop the others. p-values are corrected together."""
        outcomes: dict[int, GateResult | TraitgateError] = {}
        runnable = []
        for i, gate in enumerate(gates):
            try:
                for role in gate.spec.compare:
                    self.models(role)
                runnable.append(i)
            except TraitgateError as exc:
                outcomes[i] = exc
        self.prefetch(
            [(role, ProbeRun.of(gates[i])) for i in runnable for role in gates[i].spec.compare]
        )
        family = []
        for i in runnable:
            gate = gates[i]
            try:
                a_role, b_role = gate.spec.compare
                run = ProbeRun.of(gate)
                comparison = compare_arms(
                    gate, self.results(a_role, run), self.results(b_role, run), seed=self.seed
                )
                labels = (self._labels(a_role), self._labels(b_role))
                family.append((i, gate, comparison, labels))
            except TraitgateError as exc:
                outcomes[i] = exc
        verdicts = decide_all([(g, c, lab) for _, g, c, lab in family], self.correction)
        for (i, *_), verdict in zip(family, verdicts, strict=True):
            outcomes[i] = verdict
        return outcomes

    def compare(
        self,
        probe: str,
        trait: str,
        compare: tuple[Role, Role] = ("model", "control"),
        **options: object,
    ) -> GateResult:
        """One ad-hoc gate (for Python tests); not corrected with other gates."""
        name = re.sub(r"[^a-z0-9_-]+", "-", f"{Path(probe).stem}-{trait}".lower()).strip("-")
        gate = build_gate(
            {
                "gate": name or "gate",
                "probe": probe,
                "trait": trait,
                "compare": list(compare),
                **options,
            },
            self.probe_paths,
        )
        outcome = self.evaluate([gate])[0]
        if isinstance(outcome, TraitgateError):
            raise outcome
        return outcome

    def _labels(self, role: Role) -> tuple[str, ...]:
        return tuple(s.label for s in self.models(role))

    def describe_models(self) -> list[str]:
        """One line per role, naming each model and its weights fingerprint."""
        lines = []
        for role in ROLES:
            specs = self.roles.get(role, ())
            if specs:
                names = ", ".join(f"{s.label} [{s.fingerprint()[:12]}]" for s in specs)
                lines.append(f"{role} ({len(specs)}): {names}")
        return lines


__all__ = ["ProbeRun", "TraitSession"]
