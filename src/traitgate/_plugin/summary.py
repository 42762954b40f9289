"""The end of the session: the summary table of every gate row (local, or sent by xdist
workers), the cache and baseline notes, and the report."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest

from traitgate._plugin import PROPERTY, SESSION_KEY, path_option
from traitgate.errors import TraitgateError
from traitgate.roles import ROLES

if TYPE_CHECKING:
    from traitgate.probes.schema import Suite
    from traitgate.report.results import ModelRef, RunInfo
    from traitgate.report.rows import Row
    from traitgate.session import TraitSession


class SummaryCollector:
    """Gathers gate rows from test reports; at the end of the session prints the summary
    table, the cache and baseline notes, and writes the report."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.rows: list[Row] = []

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when == "call":
            self.rows += [json.loads(str(v)) for k, v in report.user_properties if k == PROPERTY]

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        """A gate that could not be evaluated for a reason in the user's input (a gate,
        suite or option; a model that cannot be loaded) exits 4, pytest's usage-error
        code, so that it does not read as a detected trait (1)."""
        if any(r.get("error_kind") in ("config", "model") for r in self.rows):
            session.exitstatus = pytest.ExitCode.USAGE_ERROR

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        session = self.config.stash.get(SESSION_KEY, None)
        lines: list[str] = []
        if self.rows:
            from traitgate.report.terminal import format_table

            lines += format_table(self.rows)
        if session is not None:
            lines += self._notes(session)
        if lines:
            terminalreporter.write_sep("=", "traitgate summary")
            for line in lines:
                terminalreporter.write_line(line)

    def _notes(self, session: TraitSession) -> list[str]:
        lines = []
        cache = session.services.cache
        if cache is not None and (cache.hits or cache.stored):
            lines.append(
                f"cache: {cache.hits} answer(s) read, {cache.stored} computed and stored "
                f"({cache.path})"
            )
        lines += _baseline_lines(session)
        if session.baseline is not None:
            lines += [
                f"baseline {session.baseline.directory}: {line}"
                for line in session.baseline.audit(lambda probe: _find(session, probe))
            ]
        report_dir = path_option(self.config, "traitgate_report")
        if report_dir is not None and not hasattr(self.config, "workerinput"):
            from traitgate.report.results import build_results, write_report

            try:
                _, html = write_report(report_dir, build_results(self.rows, run_info(session)))
                lines.append(f"report: {html} (data: {html.with_name('results.json')})")
            except (OSError, TraitgateError) as exc:
                lines.append(f"report not written: {exc}")
        return lines


def _baseline_lines(session: TraitSession) -> list[str]:
    """What a baseline run recorded, and whom a --baseline run compared with (shown
    without -rs: a record-only run's gates are skipped)."""
    from traitgate.baseline import BASELINE_ROLES

    lines = []
    if session.recorded_files:
        roles = "; ".join(
            f"{role}: {', '.join(s.label for s in session.roles[role])}"
            for role in BASELINE_ROLES
            if session.roles.get(role)
        )
        lines.append(
            f"baseline recorded: {len(session.recorded_files)} file(s) in "
            f"{session.recorded_files[0].parent} ({roles})"
        )
    if session.baseline is not None:
        used = session.baseline.compared
        if used:
            who = "; ".join(f"{role}: {', '.join(models)}" for role, models in used.items())
            lines.append(f"baseline {session.baseline.directory}: compared with {who}")
    return lines


def _find(session: TraitSession, probe: str) -> Suite | None:
    from traitgate.probes.loader import find_suite, load_suite

    try:
        return load_suite(find_suite(probe, session.settings.probe_paths))
    except TraitgateError:
        return None


def run_info(session: TraitSession) -> RunInfo:
    """The run's settings and models (with weights fingerprints) for results.json."""
    models: dict[str, list[ModelRef]] = {}
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
        "seed": session.settings.seed,
        "device": session.settings.device,
        "correction": session.settings.correction,
        "baseline": str(session.baseline.directory) if session.baseline else None,
        "judge": session.judge_name,
        "models": {role: specs for role, specs in models.items() if specs},
    }
