"""Repository conftest: a hint when `pytest evals/` runs before the demo models exist.

(The plugin itself is installed as the `traitgate` pytest11 entry point; this file only
serves this checkout.)"""

from __future__ import annotations

from pathlib import Path

import pytest

TINY = Path(__file__).parent / "fixtures" / "tiny"


def pytest_report_header(config: pytest.Config) -> list[str]:
    if any(Path(str(a)).parts[:1] == ("evals",) for a in config.args) and not TINY.is_dir():
        return ["traitgate demo models are not built: run `make fixtures` (about 30 s)"]
    return []
