"""Gate files and gate items. All gate items collected in a session form one family: their
p-values are corrected together (Holm by default), so the first gate item to run evaluates
the whole family and the others read their outcome (each probe still runs once per model).
Under pytest-xdist every worker collects the same family and computes the same (seeded,
deterministic) verdicts, running its own share of the models (see ``xdist``)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import pytest

from traitgate._plugin import PROPERTY, SESSION_KEY, get_session, path_option
from traitgate.errors import ConfigError, ModelError, TraitgateError, Unavailable
from traitgate.gate import Gate, GateResult, load_gate_file
from traitgate.report.rows import ErrorRow
from traitgate.scan import ScanResult

Verdict = GateResult | ScanResult  # a gate's, or a scan gate's (trait: any)

OUTCOMES_KEY = pytest.StashKey[dict[str, Verdict | Exception]]()


class GateFile(pytest.File):
    def collect(self) -> Iterator[pytest.Item]:
        session = get_session(self.config)
        try:
            gates = load_gate_file(self.path, session.settings.probe_paths)
        except TraitgateError as exc:
            raise self.CollectError(f"traitgate: {exc}") from None
        for gate in gates:
            yield GateItem.from_parent(self, name=gate.name, gate=gate)


class GateFailed(Exception):
    def __init__(self, result: Verdict) -> None:
        super().__init__(result.summary_line())
        self.result = result


class RecordedOnly(Exception):
    """The outcome of a gate under --baseline-update without a candidate: nothing gated."""


class GateItem(pytest.Item):
    def __init__(self, *, gate: Gate, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.gate = gate
        self.add_marker("traitgate")

    def runtest(self) -> None:
        outcome = family_outcomes(self.session)[self.nodeid]
        if isinstance(outcome, RecordedOnly | Unavailable):  # a reason, not a verdict
            raise pytest.skip.Exception(str(outcome), _use_item_location=True)
        if isinstance(outcome, Exception):
            row: ErrorRow = {
                "gate": self.gate.name,
                "error": str(outcome),
                "error_kind": error_kind(outcome),
            }
            self.user_properties.append((PROPERTY, json.dumps(row)))
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


def error_kind(exc: BaseException) -> Literal["config", "model", "internal"]:
    """What a gate's error was: the user's input (a gate, suite, option: config; a model
    that cannot be loaded or run: model) or a crash (internal)."""
    if isinstance(exc, ModelError):
        return "model"
    return "config" if isinstance(exc, TraitgateError) else "internal"


def family_outcomes(session: pytest.Session) -> dict[str, Verdict | Exception]:
    """Evaluate every collected gate once, correcting their p-values together; with
    --baseline-update, record the comparators' results too."""
    stash = session.config.stash
    if OUTCOMES_KEY not in stash:
        items = [i for i in session.items if isinstance(i, GateItem)]
        outcomes = _evaluate(session.config, [i.gate for i in items])
        stash[OUTCOMES_KEY] = {item.nodeid: outcomes[k] for k, item in enumerate(items)}
    return stash[OUTCOMES_KEY]


def _evaluate(config: pytest.Config, gates: list[Gate]) -> dict[int, Verdict | Exception]:
    ts = get_session(config)
    update = path_option(config, "traitgate_baseline_update")
    try:
        if update is not None and not ts.roles.get("model"):
            ts.plan(gates)
            written = ts.record_baseline(update)
            note = RecordedOnly(
                f"--baseline-update without --model: recorded {len(written)} baseline "
                f"file(s) in {update}; no gate evaluated"
            )
            return dict.fromkeys(range(len(gates)), note)
        outcomes: dict[int, Verdict | Exception] = dict(ts.evaluate(gates, collected=True))
        if update is not None:
            ts.record_baseline(update)
        return outcomes
    except TraitgateError as exc:  # the recording failed: every gate says why
        return dict.fromkeys(range(len(gates)), ConfigError(f"baseline not recorded: {exc}"))
    except Exception as exc:  # a bug or e.g. a CUDA failure: report it once per gate
        return dict.fromkeys(range(len(gates)), exc)


def record_late_baselines(session: pytest.Session) -> None:
    """Record baselines of probe runs that Python gates added after the YAML gates."""
    ts = session.config.stash.get(SESSION_KEY, None)
    update = path_option(session.config, "traitgate_baseline_update")
    if ts is None or update is None or not ts.unrecorded_runs():
        return
    try:
        ts.record_baseline(update)
    except TraitgateError as exc:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(f"traitgate: baseline not recorded: {exc}", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
