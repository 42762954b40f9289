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

import pytest

from traitgate.session import TraitSession

SESSION_KEY = pytest.StashKey[TraitSession]()
# a gate row (report.rows.GateRow) as JSON in a test report's user_properties, so that
# rows made in xdist workers reach the controller
PROPERTY = "traitgate"
