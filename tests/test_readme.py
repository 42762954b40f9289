"""The README's examples run: its example gate (YAML) and Python gates, on the committed
zoo's owl students against its controls, detect the owl trait the students carry; the
Python example that reads results passes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from traitgate.cache import Cache

from .conftest import gate_rows

ROOT = Path(__file__).resolve().parents[1]
ZOO = ROOT / "fixtures" / "zoo"
README = (ROOT / "README.md").read_text()


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, re.S)


def test_the_readme_examples_detect_the_zoo_trait(
    pytester: pytest.Pytester, committed_zoo_answers: Cache
) -> None:
    (gate,) = [b for b in _blocks("yaml") if b.startswith("gate:")]
    (python,) = [b for b in _blocks("python") if "def test_" in b and "traitgate" in b]
    pytester.makefile(".yaml", gate_readme=gate)
    pytester.makepyfile(test_readme_examples=python)
    result = pytester.runpytest(
        *(f"--model={ZOO / f'owl-student-s{k}'}" for k in range(4)),
        *(f"--control-model={ZOO / f'control-s{k}'}" for k in range(4)),
        "-p", "no:cacheprovider", "--report", "rep",
        f"--cache-dir={committed_zoo_answers.directory}",
    )  # fmt: skip
    # the YAML gate and test_no_owl fail (the trait is there); test_custom passes
    result.assert_outcomes(failed=2, passed=1)
    row = gate_rows(pytester.path / "rep")["owl-shift"]
    assert not row["passed"] and row["specificity"]["rank"] == 1, row["reason"]
    assert row["effect"] >= row["min_effect"]
    assert "test_no_owl" in result.stdout.str() and "FAILED" in result.stdout.str()
