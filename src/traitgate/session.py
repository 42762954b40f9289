"""A traitgate session: the models of each role, and every probe result computed on them.

The session owns the work schedule. Each (model, probe, measure, variant) runs once; the
models are visited one at a time (load, run every probe it needs, release), so a session
with many large replicates never holds more than one model in memory.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from traitgate.baseline import BASELINE_ROLES, Baseline, record_runs
from traitgate.cached_backend import CachedBackend
from traitgate.errors import ConfigError, ModelError, TraitgateError, Unavailable
from traitgate.gate import Evidence, Gate, GateResult, build_gate, compare_arms, decide_all
from traitgate.gate.requirements import check_requirements
from traitgate.models import Backend, ModelSpec, load_backend, parse_model_specs
from traitgate.probes.kinds import kind_of, run_probe
from traitgate.probes.loader import find_suite, load_suite
from traitgate.probes.result import ProbeResult
from traitgate.probes.schema import Suite
from traitgate.roles import ROLE_INI, ROLE_OPTIONS, ROLES, Role
from traitgate.scan import Arms, Labels, ScanOptions, ScanResult, candidate_gates, decide_scan
from traitgate.schedule import LazyModel, ModelWork, ProbeRun, RunKey, Scheduler, Serial, Sharded
from traitgate.scoring.judge import InspectJudge, Judge, LocalJudge
from traitgate.session_config import SessionServices, SessionSettings


class TraitSession:
    """The models of each role and every probe result computed on them.

    ``settings`` and ``services`` are frozen: to change one, replace it as a whole
    (``session.services = dataclasses.replace(session.services, loader=...)``) before any
    result is computed. ``unresolved``: roles whose models could not be found, with why (the
    gates that need them fail with it).

    With a cache, each chunk of answers is stored as it is computed, and a model whose
    answers are all stored is never loaded. With a baseline, the ``base`` and ``control``
    roles are served from stored results instead of models.
    """

    def __init__(
        self,
        roles: Mapping[Role, Sequence[ModelSpec]],
        settings: SessionSettings | None = None,
        services: SessionServices | None = None,
        *,
        unresolved: Mapping[Role, TraitgateError] | None = None,
    ) -> None:
        self.roles = roles
        self.settings = settings or SessionSettings()
        self.services = services or SessionServices()
        self.unresolved = dict(unresolved or {})
        self._judge: Judge | None = None  # built from settings.judge_model on first use
        self._results: dict[tuple[str, RunKey], ProbeResult | TraitgateError] = {}
        self._runs: dict[RunKey, ProbeRun] = {}
        self._recorded: set[RunKey] = set()
        self.recorded_files: list[Path] = []  # baseline files this session wrote

    @property
    def baseline(self) -> Baseline | None:
        return self.services.baseline

    @property
    def judge_name(self) -> str | None:
        """The judge's name (given, built, or still to be built from its model name)."""
        judge = self.services.judge or self._judge
        return judge.name if judge is not None else self.settings.judge_model

    def from_baseline(self, role: Role) -> bool:
        return self.services.baseline is not None and role in BASELINE_ROLES

    def models(self, role: Role) -> list[ModelSpec]:
        specs = list(self.roles.get(role, ()))
        if not specs and role in self.unresolved:
            raise self.unresolved[role]
        if not specs:
            raise ConfigError(
                f"no {role} model given: pass {ROLE_OPTIONS[role]} (repeatable, globs allowed) "
                f"or set {ROLE_INI[role]} in the pytest ini file"
                + (" (or --baseline DIR)" if role in BASELINE_ROLES else "")
            )
        return specs

    # ------------------------------------------------------------------ running probes
    def prefetch(self, work: Sequence[tuple[Role, ProbeRun]], *, shared: bool = False) -> None:
        """Compute every (role, probe run) result not yet known, one model at a time.

        ``shared``: every pytest-xdist worker asks for this same work (the collected gate
        family), so with a ``shard`` each runs its share and waits for the others' (work
        that only one worker asks for must not wait on the others).

        A model that cannot be loaded, or a probe it cannot run (say, a candidate its
        tokenizer does not know), is remembered as that result's error: the gates that need
        it fail with it, the others go on.
        """
        needed: dict[str, tuple[ModelSpec, dict[RunKey, ProbeRun]]] = {}
        for role, run in work:
            self._runs.setdefault(run.key, run)
            if self.from_baseline(role):
                continue
            for spec in self.roles.get(role, ()):
                if (spec.location, run.key) not in self._results:
                    needed.setdefault(spec.location, (spec, {}))[1].setdefault(run.key, run)
        todo = [ModelWork(spec, runs, self._marker(spec, runs)) for spec, runs in needed.values()]

        def execute(item: ModelWork) -> None:
            for key, result in self._run_model(item.spec, item.runs).items():
                self._results[(item.spec.location, key)] = result

        self._scheduler(shared).run(todo, execute, self.services.log)

    def _scheduler(self, shared: bool) -> Scheduler:
        """Sharded across xdist workers only for work every worker asks for (the collected
        gate family), and only with a shared cache to pass results through."""
        if shared and self.settings.shard is not None and self.services.cache is not None:
            index, count = self.settings.shard
            return Sharded(
                index,
                count,
                self.services.cache,
                self.settings.stall_seconds,
                self.settings.poll_seconds,
            )
        return Serial()

    def _marker(self, spec: ModelSpec, runs: Mapping[RunKey, ProbeRun]) -> str:
        """Names one model's probe runs (its weights, the runs, the seed) in the cache's
        completion markers."""
        try:
            weights = spec.answers_id()
        except (OSError, TraitgateError):  # its run will report the error
            weights = spec.location
        raw = repr((weights, sorted(map(repr, runs)), self.settings.seed))
        return hashlib.sha256(raw.encode()).hexdigest()[:32]

    def _run_model(
        self, spec: ModelSpec, runs: Mapping[RunKey, ProbeRun]
    ) -> dict[RunKey, ProbeResult | TraitgateError]:
        """Every probe run of one model; the model is loaded on the first cache miss."""
        try:
            fingerprint = spec.fingerprint()
        except (OSError, TraitgateError) as exc:
            error = exc if isinstance(exc, TraitgateError) else ModelError(f"{spec.raw}: {exc}")
            return dict.fromkeys(runs, error)
        answers_id = spec.answers_id(fingerprint)
        model = LazyModel(lambda: self._load(spec))
        out: dict[RunKey, ProbeResult | TraitgateError] = {}
        try:
            for key, run in runs.items():
                backend = CachedBackend(
                    spec.label,
                    fingerprint,
                    model,
                    cache=self.services.cache,
                    probe=f"{run.suite.id}@{run.suite.version}",
                    progress=self.services.progress,
                    stale_seconds=self.settings.stall_seconds,
                    poll_seconds=self.settings.poll_seconds,
                    answers_id=answers_id,
                )
                try:
                    judge = self.get_judge() if kind_of(run.suite).needs_judge else None
                    out[key] = run_probe(
                        run.suite,
                        backend,
                        run.measure,
                        variant=run.variant,
                        seed=self.settings.seed,
                        judge=judge,
                        cache=self.services.cache,
                    )
                except TraitgateError as exc:
                    out[key] = exc
        finally:
            model.close()
        return out

    def results(self, role: Role, run: ProbeRun) -> list[ProbeResult]:
        """Probe results of every model of ``role`` (computed if needed)."""
        if self.from_baseline(role):
            assert self.baseline is not None
            self._runs.setdefault(run.key, run)
            return self.baseline.results(run.suite, run.measure, run.variant, role)
        specs = self.models(role)
        self.prefetch([(role, run)])
        out = []
        for spec in specs:
            result = self._results[(spec.location, run.key)]
            if isinstance(result, TraitgateError):
                raise result
            out.append(result)
        return out

    def get_judge(self) -> Judge | None:
        """The judge for judged probes: given, or built from ``settings.judge_model`` (a local
        model directory through our backend, else any inspect-ai model name)."""
        if self.services.judge is not None:
            return self.services.judge
        if self._judge is None and self.settings.judge_model is not None:
            name = self.settings.judge_model.removeprefix("inspect:")
            if Path(name).expanduser().exists():
                (spec,) = parse_model_specs([name])
                self._judge = LocalJudge(self._load(spec))
            else:
                self._judge = InspectJudge(name)
        return self._judge

    def _load(self, spec: ModelSpec) -> Backend:
        if self.services.loader is not None:
            return self.services.loader(spec)
        return load_backend(spec, device=self.settings.device)

    # ------------------------------------------------------------------ baselines
    def record_baseline(self, directory: Path) -> list[Path]:
        """Write the base and control results of every probe run of this session (computed
        now if needed) into ``directory``. An error in any of them stops the recording: a
        baseline with a silently missing model would gate against the wrong spread."""
        roles = [r for r in BASELINE_ROLES if self.roles.get(r)]
        if not roles:
            raise ConfigError(
                f"--baseline-update {directory}: no base or control model to record "
                "(pass --base-model and/or --control-model)"
            )
        runs = list(self._runs.values())
        if not runs:
            raise ConfigError(f"--baseline-update {directory}: no probe run to record (no gates)")
        self.prefetch([(role, run) for run in runs for role in roles])
        written = record_runs(directory, runs, roles, self.results, seed=self.settings.seed)
        self._recorded.update(run.key for run in runs)
        self.recorded_files += [p for p in written if p not in self.recorded_files]
        return written

    def plan(self, gates: Sequence[Gate]) -> None:
        """Register the gates' probe runs without computing anything (for recording);
        gates whose requirements are not met here are left out."""
        for gate in gates:
            try:
                self._check_requirements(gate)
            except Unavailable:
                continue
            self._runs.setdefault(ProbeRun.of(gate).key, ProbeRun.of(gate))

    def unrecorded_runs(self) -> list[ProbeRun]:
        return [run for key, run in self._runs.items() if key not in self._recorded]

    # ------------------------------------------------------------------ gates
    def evaluate(
        self, gates: Sequence[Gate], *, collected: bool = False
    ) -> dict[int, GateResult | ScanResult | TraitgateError]:
        """Verdicts for a family of gates, keyed by position; a gate's own error is kept
        as its outcome and does not stop the others. p-values are corrected together (a scan
        gate's candidates form their own BH family; its verdict joins no other).
        ``collected``: these are the session's collected gates, which every pytest-xdist
        worker evaluates (so the workers share out the models)."""
        self.plan(gates)
        outcomes: dict[int, GateResult | ScanResult | TraitgateError] = dict(
            self._unrunnable(gates)
        )
        runnable = [i for i in range(len(gates)) if i not in outcomes]
        self._prefetch_gates([gates[i] for i in runnable], shared=collected)
        family, scans = [], []
        for i in runnable:
            gate = gates[i]
            try:
                if gate.is_scan:
                    parts = candidate_gates(gate.suite, ScanOptions.of(gate), gate.name)
                    scans.append((i, gate, [(g, *self._evidence(g)) for g in parts]))
                else:
                    family.append((i, gate, *self._evidence(gate)))
            except TraitgateError as exc:
                outcomes[i] = exc
        correction = self.settings.correction
        verdicts = decide_all([(g, ev, lab) for _, g, ev, lab, _ in family], correction)
        for (i, *_, arms), verdict in zip(family, verdicts, strict=True):
            outcomes[i] = dataclasses.replace(verdict, results=arms)
        for i, gate, items in scans:  # each scan gate is its own BH family
            outcomes[i] = decide_scan(gate.name, ScanOptions.of(gate), items, gate.where)
        return outcomes

    def _evidence(self, gate: Gate, resampled: bool = False) -> tuple[Evidence, Labels, Arms]:
        """The gate's comparison of its two arms (the models' results computed if needed)."""
        a_role, b_role = gate.spec.compare
        run = ProbeRun.of(gate)
        arm_a, arm_b = self.results(a_role, run), self.results(b_role, run)
        controls = self._noise_reference(gate, run, len(arm_a), len(arm_b))
        evidence = compare_arms(
            gate, arm_a, arm_b, seed=self.settings.seed, controls=controls, resampled=resampled
        )
        labels = (tuple(r.model for r in arm_a), tuple(r.model for r in arm_b))
        return evidence, labels, (tuple(arm_a), tuple(arm_b))

    def scan(self, probes: Sequence[str | Suite], options: ScanOptions | None = None) -> ScanResult:
        """Test every candidate of each probe (one BH family across all of them): which
        moved? See :mod:`traitgate.scan`."""
        options = options or ScanOptions()
        suites = [
            p if not isinstance(p, str) else load_suite(find_suite(p, self.settings.probe_paths))
            for p in probes
        ]
        gates = [g for suite in suites for g in candidate_gates(suite, options)]
        errors = self._unrunnable(gates)
        if errors:  # (the same missing role or requirement for every candidate: say it once)
            raise next(iter(errors.values()))
        self._prefetch_gates(gates)
        evidence = [(g, *self._evidence(g, options.resampled)) for g in gates]
        return decide_scan("scan", options, evidence)

    def _unrunnable(self, gates: Sequence[Gate]) -> dict[int, TraitgateError]:
        """The gates that cannot run here (a role without models, an unmet requirement),
        with why, by position."""
        errors: dict[int, TraitgateError] = {}
        for i, gate in enumerate(gates):
            try:
                for role in gate.spec.compare:
                    if not self.from_baseline(role):
                        self.models(role)
                self._check_requirements(gate)
            except TraitgateError as exc:
                errors[i] = exc
        return errors

    def _prefetch_gates(self, gates: Sequence[Gate], *, shared: bool = False) -> None:
        self.prefetch([(r, ProbeRun.of(g)) for g in gates for r in g.spec.compare], shared=shared)

    def _check_requirements(self, gate: Gate) -> None:
        """Raise :class:`Unavailable` when the gate's ``requires`` is not met here."""
        roles = [r for r in gate.spec.compare if not self.from_baseline(r) and self.roles.get(r)]
        check_requirements(
            gate, self.judge_name, lambda: [s for r in roles for s in self.models(r)]
        )

    def _noise_reference(self, gate: Gate, run: ProbeRun, n_a: int, n_b: int) -> list[ProbeResult]:
        """Replicate controls that measure the fine-tuning noise for a gate comparing one
        model per arm without ``model_sd`` (empty when there are fewer than two)."""
        if n_a != 1 or n_b != 1 or gate.spec.model_sd is not None:
            return []
        if "control" in gate.spec.compare or not (
            self.from_baseline("control") or self.roles.get("control")
        ):
            return []
        try:
            controls = self.results("control", run)
        except TraitgateError:
            return []  # the gate then says what to add
        return controls if len(controls) >= 2 else []

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
            self.settings.probe_paths,
        )
        if gate.is_scan:
            raise ConfigError(f"compare: trait {trait!r} scans every candidate: use scan()")
        outcome = self.evaluate([gate])[0]
        if isinstance(outcome, TraitgateError):
            raise outcome
        assert isinstance(outcome, GateResult)
        return outcome

    def describe_models(self) -> list[str]:
        """One line per role, naming each model and its weights fingerprint."""
        lines = []
        for role in ROLES:
            specs = self.roles.get(role, ())
            if self.from_baseline(role):
                assert self.baseline is not None
                lines.append(f"{role}: from baseline {self.baseline.directory}")
            elif specs:
                names = ", ".join(f"{s.label} [{s.short_fingerprint()}]" for s in specs)
                lines.append(f"{role} ({len(specs)}): {names}")
        if self.judge_name is not None:
            lines.append(f"judge: {self.judge_name}")
        return lines


__all__ = ["ProbeRun", "SessionServices", "SessionSettings", "TraitSession"]
