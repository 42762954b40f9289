"""Hooks traitgate adds to pytest (implement them in a ``conftest.py``)."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.hookspec(firstresult=True)
def pytest_traitgate_judge(config: pytest.Config) -> Any:
    """The judge for judged probes, when it is not a model name given by ``--judge-model``:
    any :class:`traitgate.scoring.judge.Judge` (a scripted one in tests, a custom client).
    Return None to use ``--judge-model``. The first non-None result is used."""
