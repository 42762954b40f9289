"""pytest plugin: hooks only, each delegating to :mod:`traitgate._plugin`.

Gate files are ``gate_*.yaml`` (or ``gate_*.yml``) under the test paths; every gate item
collected in a session belongs to one family whose p-values are corrected together. Python
tests use the ``traitgate`` fixture. The work happens in :mod:`traitgate.session`.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from traitgate._plugin import SESSION_KEY, hookspecs, items, options, settings, summary, xdist
from traitgate._plugin.fixture import TraitgateFixture
from traitgate._plugin.items import GateFile, GateItem
from traitgate.errors import TraitgateError
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
        config.stash[SESSION_KEY] = settings.build_session(config)
    except TraitgateError as exc:
        raise pytest.UsageError(f"traitgate: {exc}") from None


def session_of(config: pytest.Config) -> TraitSession:
    """The traitgate session of a pytest run (for conftests and fixtures that need its
    settings or results). To give a judge that is not a model name, implement the
    ``pytest_traitgate_judge`` hook instead (see :mod:`traitgate._plugin.hookspecs`)."""
    return config.stash[SESSION_KEY]


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


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    return items.collect_file(file_path, parent)


def pytest_sessionfinish(session: pytest.Session) -> None:
    items.record_late_baselines(session)


@pytest.fixture
def traitgate(request: pytest.FixtureRequest) -> TraitgateFixture:
    """Compare models on probe suites from a Python test (see TraitgateFixture)."""
    return TraitgateFixture(request.config.stash[SESSION_KEY], request.node)


__all__ = ["GateFile", "GateItem", "TraitgateFixture", "session_of", "traitgate"]
