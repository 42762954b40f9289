"""pytest plugin: hooks only, each delegating to :mod:`traitgate._plugin`.

Gate files are ``gate_*.yaml`` (or ``gate_*.yml``) under the test paths; every gate item
collected in a session belongs to one family whose p-values are corrected together. Python
tests use the ``traitgate`` fixture. The work happens in :mod:`traitgate.session`.

Importing this module is cheap: a pytest run that uses no traitgate option, ini key, gate
file or fixture never imports the statistics or model code.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from traitgate._plugin import (
    NOTE_KEY,
    SESSION_KEY,
    command_line,
    get_session,
    hookspecs,
    options,
    summary,
    xdist,
)
from traitgate.errors import TraitgateError

if TYPE_CHECKING:
    from traitgate._plugin.fixture import TraitgateFixture
    from traitgate.session import TraitSession


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    pluginmanager.add_hookspecs(hookspecs)


def pytest_addoption(parser: pytest.Parser) -> None:
    options.add_options(parser)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "traitgate: a traitgate gate")
    config.pluginmanager.register(summary.SummaryCollector(config), "traitgate-summary")
    xdist.register(config)
    try:
        note = command_line.check_command_line(config)
    except TraitgateError as exc:
        raise pytest.UsageError(f"traitgate: {exc}") from None
    if note:
        config.stash[NOTE_KEY] = note
    if options.in_use(config):  # options checked now, at start-up; else on first need
        get_session(config)


def session_of(config: pytest.Config) -> TraitSession:
    """The traitgate session of a pytest run (for conftests and fixtures that need its
    settings or results). Its settings and services are frozen; to give a judge that is not
    a model name, implement the ``pytest_traitgate_judge`` hook (see
    :mod:`traitgate._plugin.hookspecs`)."""
    return get_session(config)


def pytest_report_header(config: pytest.Config) -> list[str]:
    session = config.stash.get(SESSION_KEY, None)
    if session is None or not any(session.roles.values()):
        return []
    note = config.stash.get(NOTE_KEY, None)
    try:
        models = session.describe_models()
    except (OSError, TraitgateError) as exc:
        models = [f"(fingerprints unavailable: {exc})"]
    return [
        "traitgate: "
        + " ".join(f"{k}={getattr(session.settings, k)}" for k in ("seed", "device", "correction")),
        *(f"  {line}" for line in models),
        *([f"  note: {note}"] if note else []),
    ]


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if not options.is_gate_file(parent.config, file_path):
        return None
    from traitgate._plugin.items import GateFile

    return GateFile.from_parent(parent, path=file_path)


def pytest_sessionfinish(session: pytest.Session) -> None:
    if SESSION_KEY in session.config.stash:
        from traitgate._plugin.items import record_late_baselines

        record_late_baselines(session)


def pytest_unconfigure(config: pytest.Config) -> None:
    """Close the answer cache (sqlite folds its write-ahead log back into the file)."""
    session = config.stash.get(SESSION_KEY, None)
    if session is not None and session.services.cache is not None:
        session.services.cache.close()


@pytest.fixture
def traitgate(request: pytest.FixtureRequest) -> TraitgateFixture:
    """Compare models on probe suites from a Python test (see TraitgateFixture)."""
    from traitgate._plugin.fixture import TraitgateFixture

    return TraitgateFixture(get_session(request.config), request.node)


__all__ = ["session_of", "traitgate"]
