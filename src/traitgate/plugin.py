"""pytest plugin: options, gate-file collection, the ``traitgate`` fixture and the summary.

Hooks and options only; the work happens in :mod:`traitgate.session`.

Gate files are ``gate_*.yaml`` (or ``gate_*.yml``) under the test paths. All gate items
collected in a session form one family: their p-values are corrected together (Holm by
default), so a gate's verdict is known once every gate's statistics are. The first gate item
to run therefore evaluates the whole family; each probe still runs once per model. Under
pytest-xdist every worker collects the same family; with a cache, each worker runs its
share of the models (and, with several GPUs, on its own GPU) and reads the others' results
from the shared cache, so every worker computes the same (seeded, deterministic) verdicts;
the controller gathers the rows for the summary table.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from traitgate import progress
from traitgate.baseline import BASELINE_ROLES, Baseline
from traitgate.cache import DEFAULT_DIR as DEFAULT_CACHE_DIR
from traitgate.cache import Cache
from traitgate.errors import ConfigError, TraitgateError, Unavailable
from traitgate.gate import ROLES, Gate, GateResult, Role, load_gate_file
from traitgate.models.spec import ModelSpec, parse_model_specs
from traitgate.probes.loader import find_suite, load_suite
from traitgate.probes.preference import ProbeResult
from traitgate.progress import Task
from traitgate.session import ROLE_INI, ROLE_OPTIONS, ProbeRun, TraitSession

SESSION_KEY = pytest.StashKey[TraitSession]()
OUTCOMES_KEY = pytest.StashKey[dict[str, GateResult | Exception]]()
PROPERTY = "traitgate"
DEFAULT_GATE_FILES = ["gate_*.yaml", "gate_*.yml"]


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("traitgate", "traitgate: behavioural trait gates")
    help_models = (
        "{role} model(s): a local HF directory, a PEFT adapter directory, a weights file "
        "(with --model-architecture), hf:org/name or inspect:provider/model. Repeat or glob "
        "(quoted) for replicates."
    )
    for role in ROLES:
        group.addoption(
            ROLE_OPTIONS[role],
            action="append",
            default=[],
            dest=f"traitgate_{role}",
            metavar="PATH",
            help=help_models.format(role="candidate" if role == "model" else role),
        )
        parser.addini(
            ROLE_INI[role],
            f"default {role} model(s), relative to the ini file",
            type="args",
            default=[],
        )
    group.addoption(
        "--model-architecture",
        dest="traitgate_architecture",
        metavar="DIR",
        help="config + tokenizer directory for bare weights files",
    )
    group.addoption(
        "--seed",
        dest="traitgate_seed",
        type=int,
        default=None,
        help="seed for sampling and resampling (default 0)",
    )
    group.addoption(
        "--device",
        dest="traitgate_device",
        default=None,
        help="torch device: auto (default), cpu, cuda, cuda:1, mps",
    )
    group.addoption(
        "--traitgate-correction",
        dest="traitgate_correction",
        default=None,
        choices=["holm", "bh", "none"],
        help="multiple-testing correction across the session's gates (default holm)",
    )
    group.addoption(
        "--probe-path",
        dest="traitgate_probe_paths",
        action="append",
        default=[],
        metavar="DIR",
        help="directory of probe suites, searched before built-ins",
    )
    group.addoption(
        "--judge-model",
        dest="traitgate_judge_model",
        default=None,
        metavar="MODEL",
        help="judge for judged probes: an inspect-ai model (openai/gpt-4o, anthropic/..., "
        "openai-api/... for a vLLM server) or a local model directory",
    )
    group.addoption(
        "--cache-dir",
        dest="traitgate_cache_dir",
        default=None,
        metavar="DIR",
        help="where answers are cached (default .traitgate_cache beside the ini file); a killed "
        "run restarted with the same cache recomputes nothing already stored",
    )
    group.addoption(
        "--no-cache",
        dest="traitgate_no_cache",
        action="store_true",
        help="neither read nor write the answer cache",
    )
    group.addoption(
        "--baseline",
        dest="traitgate_baseline",
        default=None,
        metavar="DIR",
        help="serve the base and control roles from a stored baseline instead of models",
    )
    group.addoption(
        "--baseline-update",
        dest="traitgate_baseline_update",
        default=None,
        metavar="DIR",
        help="record the base and control results of every probe run into DIR (only on this "
        "flag; without --model, only records)",
    )
    group.addoption(
        "--report",
        dest="traitgate_report",
        default=None,
        metavar="DIR",
        help="write results.json and report.html (figures per gate) into DIR",
    )
    parser.addini("traitgate_seed", "default seed", default="0")
    parser.addini("traitgate_device", "default torch device", default="auto")
    parser.addini("traitgate_correction", "holm, bh or none", default="holm")
    parser.addini("traitgate_probe_paths", "probe suite directories", type="paths", default=[])
    parser.addini("traitgate_cache_dir", "answer cache directory", default=DEFAULT_CACHE_DIR)
    parser.addini("traitgate_judge_model", "judge model for judged probes", default="")
    parser.addini(
        "traitgate_worker_wait",
        "under pytest-xdist: seconds a worker waits on a stalled cache for a model another "
        "worker owns before running it itself",
        default="300",
    )
    parser.addini(
        "traitgate_gate_files",
        "glob patterns of gate files",
        type="args",
        default=DEFAULT_GATE_FILES,
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "traitgate: a traitgate gate")
    config.pluginmanager.register(SummaryCollector(config), "traitgate-summary")
    try:
        config.stash[SESSION_KEY] = _session_from_config(config)
    except TraitgateError as exc:
        raise pytest.UsageError(f"traitgate: {exc}") from None


def session_of(config: pytest.Config) -> TraitSession:
    """The traitgate session of a pytest run. A conftest can adjust it in its own
    ``pytest_configure`` (marked ``trylast``), e.g. ``session_of(config).judge = MyJudge()``
    for a judge that is not a model name (a scripted judge in tests)."""
    return config.stash[SESSION_KEY]


def _session_from_config(config: pytest.Config) -> TraitSession:
    ini_dir = config.inipath.parent if config.inipath else config.rootpath
    invocation = config.invocation_params.dir
    arch_opt = config.getoption("traitgate_architecture")
    architecture = Path(arch_opt).resolve() if arch_opt else None
    roles: dict[Role, list[ModelSpec]] = {}
    unresolved: dict[Role, TraitgateError] = {}
    baseline_dir = config.getoption("traitgate_baseline")
    update_dir = config.getoption("traitgate_baseline_update")
    if baseline_dir and update_dir:
        raise ConfigError("--baseline and --baseline-update cannot be combined")
    baseline = Baseline(invocation / baseline_dir) if baseline_dir else None
    for role in ROLES:
        cli = config.getoption(f"traitgate_{role}")
        if baseline is not None and role in BASELINE_ROLES:
            if cli:
                raise ConfigError(
                    f"{ROLE_OPTIONS[role]} and --baseline both give the {role} role; "
                    "use one of them"
                )
            continue  # ini defaults are replaced by the baseline
        if cli:  # the user asked for these now: a typo is a usage error at start-up
            roles[role] = parse_model_specs(cli, base_dir=invocation, architecture=architecture)
            continue
        try:  # ini defaults fail only the gates that need them (e.g. demo models not built)
            ini = config.getini(ROLE_INI[role])
            roles[role] = parse_model_specs(ini, base_dir=ini_dir, architecture=architecture)
        except TraitgateError as exc:
            unresolved[role] = ConfigError(f"{ROLE_INI[role]} (ini default): {exc}")
    seed_value = config.getoption("traitgate_seed")
    if seed_value is None:
        try:
            seed_value = int(config.getini("traitgate_seed"))
        except ValueError:
            raise ConfigError("traitgate_seed in the ini file must be an integer") from None
    correction = config.getoption("traitgate_correction") or config.getini("traitgate_correction")
    if correction not in ("holm", "bh", "none"):
        raise ConfigError(f"traitgate_correction: must be holm, bh or none (got {correction!r})")
    probe_paths = [Path(p).resolve() for p in config.getoption("traitgate_probe_paths")]
    probe_paths += [Path(p) for p in config.getini("traitgate_probe_paths")]
    default_probes = config.rootpath / "probes"
    if default_probes.is_dir() and default_probes not in probe_paths:
        probe_paths.append(default_probes)
    for path in probe_paths:
        if not path.is_dir():
            raise ConfigError(f"--probe-path {path}: not a directory")

    terminal = _Terminal(config)
    cache = None
    if not config.getoption("traitgate_no_cache"):
        option = config.getoption("traitgate_cache_dir")
        # the default lives beside the ini file, else where pytest was started: not in the
        # rootdir, which pytest may infer from model paths (e.g. / for --model /data/run)
        cache_dir = (
            invocation / option if option else ini_dir / config.getini("traitgate_cache_dir")
        )
        if not option and config.inipath is None:
            cache_dir = invocation / config.getini("traitgate_cache_dir")
        cache = Cache(cache_dir, lazy=True)
    worker = _xdist_worker()
    device = config.getoption("traitgate_device") or config.getini("traitgate_device")
    if worker is not None and device == "auto":
        from traitgate.models.hf import worker_device  # imports torch: only under xdist

        device = worker_device(device, worker[0], _cuda_devices())
    try:
        stall = float(config.getini("traitgate_worker_wait"))
    except ValueError:
        raise ConfigError("traitgate_worker_wait in the ini file must be a number") from None
    return TraitSession(
        roles=roles,
        unresolved=unresolved,
        seed=seed_value,
        device=device,
        shard=worker if cache is not None else None,
        stall_seconds=stall,
        correction=correction,
        probe_paths=probe_paths,
        log=terminal.log,
        cache=cache,
        progress=terminal.progress,
        baseline=baseline,
        judge_model=_judge_model(config, invocation, ini_dir),
    )


def _xdist_worker() -> tuple[int, int] | None:
    """(index, count) of this pytest-xdist worker, from the variables xdist sets; None in
    the controller or a run without xdist."""
    name = os.environ.get("PYTEST_XDIST_WORKER", "")
    count = os.environ.get("PYTEST_XDIST_WORKER_COUNT", "")
    if not (name.startswith("gw") and name[2:].isdigit() and count.isdigit()):
        return None
    return (int(name[2:]), int(count)) if int(count) > 1 else None


def _cuda_devices() -> int:
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def _judge_model(config: pytest.Config, invocation: Path, ini_dir: Path) -> str | None:
    """The judge option: a local path is made absolute (relative to where it was given)."""
    value = config.getoption("traitgate_judge_model")
    base = invocation
    if not value:
        value, base = config.getini("traitgate_judge_model"), ini_dir
    if not value:
        return None
    local = base / Path(value).expanduser()
    return str(local) if local.exists() else str(value)


class _Terminal:
    """Progress output that reaches the terminal through pytest's output capture: a live
    bar per (model, probe) on a terminal, one line per (model, probe) in CI logs, nothing
    under -q. (Under pytest-xdist, workers' progress is not shown.)"""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config

    def _disabled_capture(self) -> Any:
        capture = self.config.pluginmanager.get_plugin("capturemanager")
        return capture.global_and_fixture_disabled() if capture else contextlib.nullcontext()

    def log(self, message: str) -> None:
        # looked up on use: the terminal reporter registers after pytest_configure may run
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is None or self.config.get_verbosity() < 0:
            return
        with self._disabled_capture():
            reporter.write_line(f"traitgate: {message}")

    def progress(self, description: str, total: int) -> Task:
        if self.config.get_verbosity() < 0:
            return progress.silent(description, total)
        with self._disabled_capture():
            tty = sys.stderr.isatty()
        if tty:
            return progress.BarTask(description, total, self)  # type: ignore[arg-type]
        return progress.LineTask(f"    {description}", total, self.log)

    # the file tqdm writes to
    @property
    def encoding(self) -> str:
        return getattr(sys.stderr, "encoding", None) or "utf-8"

    def write(self, text: str) -> None:
        with self._disabled_capture():
            sys.stderr.write(text)

    def flush(self) -> None:
        with self._disabled_capture():
            sys.stderr.flush()


def pytest_report_header(config: pytest.Config) -> list[str]:
    session = config.stash.get(SESSION_KEY, None)
    if session is None or not any(session.roles.values()):
        return []
    try:
        models = session.describe_models()
    except (OSError, TraitgateError) as exc:
        models = [f"(fingerprints unavailable: {exc})"]
    return [
        f"traitgate: seed={session.seed} device={session.device} correction={session.correction}",
        *(f"  {line}" for line in models),
    ]


# ---------------------------------------------------------------------- collection


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    patterns = parent.config.getini("traitgate_gate_files")
    if file_path.suffix in (".yaml", ".yml") and any(file_path.match(p) for p in patterns):
        return GateFile.from_parent(parent, path=file_path)
    return None


class GateFile(pytest.File):
    def collect(self) -> Iterator[pytest.Item]:
        session = self.config.stash[SESSION_KEY]
        try:
            gates = load_gate_file(self.path, session.probe_paths)
        except TraitgateError as exc:
            raise self.CollectError(f"traitgate: {exc}") from None
        for gate in gates:
            yield GateItem.from_parent(self, name=gate.name, gate=gate)


class GateFailed(Exception):
    def __init__(self, result: GateResult) -> None:
        super().__init__(result.summary_line())
        self.result = result


class GateItem(pytest.Item):
    def __init__(self, *, gate: Gate, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.gate = gate
        self.add_marker("traitgate")

    def runtest(self) -> None:
        outcome = _family_outcomes(self.session)[self.nodeid]
        if isinstance(outcome, _RecordedOnly | Unavailable):  # a reason, not a verdict
            raise pytest.skip.Exception(str(outcome), _use_item_location=True)
        if isinstance(outcome, Exception):
            self.user_properties.append(
                (PROPERTY, json.dumps({"gate": self.gate.name, "error": str(outcome)}))
            )
            raise outcome
        self.user_properties.append((PROPERTY, json.dumps(outcome.to_dict())))
        # JUnit XML shows these as <property> elements of the test case
        self.user_properties += [
            ("traitgate_effect", f"{outcome.comparison.effect:.6g}"),
            ("traitgate_pvalue", f"{outcome.comparison.pvalue:.6g}"),
            ("traitgate_adjusted_pvalue", f"{outcome.adjusted_pvalue:.6g}"),
        ]
        if not outcome.passed:
            raise GateFailed(outcome)

    def repr_failure(
        self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None
    ) -> str | Any:
        if isinstance(excinfo.value, GateFailed):
            return excinfo.value.result.explain()
        if isinstance(excinfo.value, TraitgateError):
            return f"traitgate: {excinfo.value}"
        return super().repr_failure(excinfo)

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, self.gate.line - 1, f"gate {self.gate.name}"


class _RecordedOnly(Exception):
    """The outcome of a gate under --baseline-update without a candidate: nothing gated."""


def _family_outcomes(session: pytest.Session) -> dict[str, GateResult | Exception]:
    """Evaluate every collected gate once, correcting their p-values together; with
    --baseline-update, record the comparators' results too."""
    config = session.config
    stash = config.stash
    if OUTCOMES_KEY not in stash:
        items = [i for i in session.items if isinstance(i, GateItem)]
        ts = stash[SESSION_KEY]
        update = _path_option(config, "traitgate_baseline_update")
        outcomes: dict[int, GateResult | Exception]
        try:
            if update is not None and not ts.roles.get("model"):
                ts.plan([i.gate for i in items])
                written = ts.record_baseline(update)
                note = _RecordedOnly(
                    f"--baseline-update without --model: recorded {len(written)} baseline "
                    f"file(s) in {update}; no gate evaluated"
                )
                outcomes = dict.fromkeys(range(len(items)), note)
            else:
                outcomes = dict(ts.evaluate([i.gate for i in items], collected=True))
                if update is not None:
                    ts.record_baseline(update)
        except TraitgateError as exc:  # the recording failed: every gate says why
            outcomes = dict.fromkeys(
                range(len(items)), ConfigError(f"baseline not recorded: {exc}")
            )
        except Exception as exc:  # a bug or e.g. a CUDA failure: report it once per gate
            outcomes = dict.fromkeys(range(len(items)), exc)
        stash[OUTCOMES_KEY] = {item.nodeid: outcomes[k] for k, item in enumerate(items)}
    return stash[OUTCOMES_KEY]


def _path_option(config: pytest.Config, name: str) -> Path | None:
    value = config.getoption(name)
    return None if value is None else config.invocation_params.dir / value


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Record baselines of probe runs that Python gates added after the YAML gates."""
    ts = session.config.stash.get(SESSION_KEY, None)
    update = _path_option(session.config, "traitgate_baseline_update")
    if ts is None or update is None or not ts.unrecorded_runs():
        return
    try:
        ts.record_baseline(update)
    except TraitgateError as exc:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(f"traitgate: baseline not recorded: {exc}", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


# ---------------------------------------------------------------------- fixture


class TraitgateFixture:
    """What Python gates get as ``traitgate``: comparisons recorded in the summary table."""

    def __init__(self, session: TraitSession, node: pytest.Item) -> None:
        self.session = session
        self._node = node

    def compare(
        self,
        probe: str,
        trait: str,
        compare: tuple[Role, Role] = ("model", "control"),
        **options: Any,
    ) -> GateResult:
        """Run one comparison (a gate written in Python); its p-value is not corrected
        with the YAML gates. Options are the gate fields: alternative, alpha, min_effect,
        measure, variant."""
        result = self.session.compare(probe, trait, compare, **options)
        row = result.to_dict()
        row["gate"] = f"{self._node.name}:{probe}/{result.gate.trait}"
        self._node.user_properties.append((PROPERTY, json.dumps(row)))
        return result

    def check(
        self,
        probe: str,
        trait: str,
        compare: tuple[Role, Role] = ("model", "control"),
        **options: Any,
    ) -> GateResult:
        """Like :meth:`compare`, and fail the test with the explanation if the gate fails."""
        result = self.compare(probe, trait, compare, **options)
        if not result.passed:
            pytest.fail(result.explain(), pytrace=False)
        return result

    def results(
        self, role: Role, probe: str, measure: str = "exact", variant: str | None = None
    ) -> list[ProbeResult]:
        """Raw per-model probe results of a role, for custom statistics."""
        suite = load_suite(find_suite(probe, self.session.probe_paths))
        if measure not in ("exact", "sampled"):
            raise ConfigError(f"measure must be exact or sampled (got {measure!r})")
        return self.session.results(role, ProbeRun(suite, measure, variant))  # type: ignore[arg-type]


@pytest.fixture
def traitgate(request: pytest.FixtureRequest) -> TraitgateFixture:
    """Compare models on probe suites from a Python test (see TraitgateFixture)."""
    return TraitgateFixture(request.config.stash[SESSION_KEY], request.node)


# ---------------------------------------------------------------------- reporting


class SummaryCollector:
    """Gathers gate rows from test reports (local or sent by xdist workers); at the end of
    the session prints the summary table, the cache and baseline notes, and writes the
    report."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.rows: list[dict[str, Any]] = []

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when == "call":
            self.rows += [json.loads(str(v)) for k, v in report.user_properties if k == PROPERTY]

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        session = self.config.stash.get(SESSION_KEY, None)
        lines: list[str] = []
        if self.rows:
            lines += _format(self.rows)
        if session is not None:
            lines += self._notes(session)
        if lines:
            terminalreporter.write_sep("=", "traitgate summary")
            for line in lines:
                terminalreporter.write_line(line)

    def _notes(self, session: TraitSession) -> list[str]:
        lines = []
        cache = session.cache
        if cache is not None and (cache.hits or cache.stored):
            lines.append(
                f"cache: {cache.hits} answer(s) read, {cache.stored} computed and stored "
                f"({cache.path})"
            )
        if session.baseline is not None:
            lines += [
                f"baseline {session.baseline.directory}: {line}"
                for line in session.baseline.audit(lambda probe: _find(session, probe))
            ]
        report_dir = _path_option(self.config, "traitgate_report")
        if report_dir is not None and not hasattr(self.config, "workerinput"):
            from traitgate.report.results import build_results, write_report

            try:
                _, html = write_report(report_dir, build_results(self.rows, _run_info(session)))
                lines.append(f"report: {html} (data: {html.with_name('results.json')})")
            except (OSError, TraitgateError) as exc:
                lines.append(f"report not written: {exc}")
        return lines


def _find(session: TraitSession, probe: str) -> Any:
    try:
        return load_suite(find_suite(probe, session.probe_paths))
    except TraitgateError:
        return None


def _run_info(session: TraitSession) -> dict[str, Any]:
    models: dict[str, list[dict[str, str]]] = {}
    for role in ROLES:
        if session.from_baseline(role):
            continue
        try:
            models[role] = [
                {"model": s.label, "fingerprint": s.fingerprint()}
                for s in session.roles.get(role, ())
            ]
        except (OSError, TraitgateError):
            models[role] = [{"model": s.label, "fingerprint": "?"} for s in session.roles[role]]
    return {
        "seed": session.seed,
        "device": session.device,
        "correction": session.correction,
        "baseline": str(session.baseline.directory) if session.baseline else None,
        "judge": session.judge.name if session.judge else session.judge_model,
        "models": {role: specs for role, specs in models.items() if specs},
    }


def _format(rows: list[dict[str, Any]]) -> list[str]:
    from traitgate.report.terminal import format_table

    return format_table(rows)


__all__ = ["GateFile", "GateItem", "TraitgateFixture", "session_of", "traitgate"]
