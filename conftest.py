"""Repository conftest: a hint when `pytest evals/` runs without the demo zoo.

(The plugin itself is installed as the `traitgate` pytest11 entry point; this file only
serves this checkout.)"""

from __future__ import annotations

from pathlib import Path

import pytest

ZOO = Path(__file__).parent / "fixtures" / "zoo"


def pytest_report_header(config: pytest.Config) -> list[str]:
    if any(Path(str(a)).parts[:1] == ("evals",) for a in config.args) and not ZOO.is_dir():
        return ["traitgate: fixtures/zoo is missing; rebuild it with fixtures/build_zoo.py"]
    return []
