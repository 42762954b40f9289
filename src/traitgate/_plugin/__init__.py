"""The pytest plugin's parts. :mod:`traitgate.plugin` holds the hooks; each delegates here:

- ``options``: command-line options and ini keys;
- ``settings``: a :class:`~traitgate.session.TraitSession` from the resolved options;
- ``xdist``: pytest-xdist (registered only when it is installed): each worker's share;
- ``terminal``: progress and log lines through pytest's output capture;
- ``items``: gate files, gate items and the family evaluation they share;
- ``fixture``: the ``traitgate`` fixture for gates written in Python;
- ``summary``: the summary table, the notes and the report at the end of the session.

Private: the public surface is the plugin's options, ini keys, fixture and
:func:`traitgate.plugin.session_of`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from traitgate.errors import TraitgateError

if TYPE_CHECKING:  # (imported when a session is built: a run without gates pays nothing)
    from traitgate.session import TraitSession

SESSION_KEY = pytest.StashKey["TraitSession"]()
NOTE_KEY = pytest.StashKey[str]()  # a note on the command line, for the header
# a gate row (report.rows.GateRow) as JSON in a test report's user_properties, so that
# rows made in xdist workers reach the controller
PROPERTY = "traitgate"


def get_session(config: pytest.Config) -> TraitSession:
    """The run's session, built on first use (a bad option is a usage error)."""
    session = config.stash.get(SESSION_KEY, None)
    if session is None:
        from traitgate._plugin.settings import build_session

        try:
            session = build_session(config)
        except TraitgateError as exc:
            raise pytest.UsageError(f"traitgate: {exc}") from None
        config.stash[SESSION_KEY] = session
    return session


def path_option(config: pytest.Config, name: str) -> Path | None:
    """A directory option, relative to where pytest was started."""
    value = config.getoption(name)
    return None if value is None else config.invocation_params.dir / value
