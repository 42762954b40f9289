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
    pytester: pytest.Pytester, session_answers: Cache
) -> None:
    (gate,) = [b for b in _blocks("yaml") if b.startswith("gate:")]
    (python,) = [b for b in _blocks("python") if "def test_" in b and "traitgate" in b]
    pytester.makefile(".yaml", gate_readme=gate)
    pytester.makepyfile(test_readme_examples=python)
    result = pytester.runpytest(
        *(f"--model={ZOO / f'owl-student-s{k}'}" for k in range(4)),
        *(f"--control-model={ZOO / f'control-s{k}'}" for k in range(4)),
        "-p", "no:cacheprovider", "--report", "rep",
        f"--cache-dir={session_answers.directory}",
    )  # fmt: skip
    # the YAML gate and test_no_owl fail (the trait is there); test_custom passes
    result.assert_outcomes(failed=2, passed=1)
    row = gate_rows(pytester.path / "rep")["owl-shift"]
    assert not row["passed"] and row["specificity"]["rank"] == 1, row["reason"]
    assert row["effect"] >= row["min_effect"]
    assert "test_no_owl" in result.stdout.str() and "FAILED" in result.stdout.str()


def _console(command: str) -> list[tuple[str, list[str]]]:
    """Each ``$ <command> ...`` line of the README's console blocks and the output shown
    after it (up to the next ``$`` line)."""
    out: list[tuple[str, list[str]]] = []
    for block in _blocks("console"):
        current: list[str] | None = None
        for line in block.splitlines():
            if line.startswith("$ "):
                current = []
                out.append((line[2:], current))
            elif current is not None:
                current.append(line)
    return [(cmd, shown) for cmd, shown in out if cmd.startswith(command)]


def _shown_in(shown: list[str], printed: list[str]) -> None:
    """Every line the README shows is printed (a line ending in '...' as a prefix)."""
    for line in shown:
        if line.strip() == "...":
            continue
        if line.endswith("..."):
            assert any(p.startswith(line[:-3]) for p in printed), (line, printed)
        else:
            assert line in printed, (line, printed)


def test_the_readme_scan_commands(
    session_answers: Cache,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import shlex

    from traitgate.cli import main

    monkeypatch.chdir(ROOT)
    commands = _console("traitgate scan")
    assert len(commands) == 2
    for command, shown in commands:
        argv = [*shlex.split(command)[1:], "--cache-dir", str(session_answers.directory)]
        code = main(argv)
        printed = capsys.readouterr().out.splitlines()
        assert code == (1 if shown[0].startswith("FAIL") else 0)
        _shown_in(shown, printed)


def test_the_readme_compare_commands(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import runpy
    import shlex
    import sys

    from traitgate.cli import main

    monkeypatch.chdir(tmp_path)
    ((script, _),) = _console("python scripts/example_inspect_logs.py")
    monkeypatch.setattr(sys, "argv", [str(ROOT / shlex.split(script)[1]), *shlex.split(script)[2:]])
    runpy.run_path(sys.argv[0], run_name="__main__")
    capsys.readouterr()
    ((command, shown),) = _console("traitgate compare")
    code = main(shlex.split(command)[1:])
    assert code == 1
    _shown_in(shown, capsys.readouterr().out.splitlines())


@pytest.mark.slow
def test_the_readme_screen_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The README's screen of the owl teacher's numbers (4 runs per arm of 20 distillation
    steps, the defaults): owl flagged first and most specific, as shown. Training's last
    digits may differ between CPUs, so the check is the README's claim (which candidate
    leads, its specificity rank, the verdict and the heading), not every digit."""
    import shlex

    from traitgate.cli import main

    monkeypatch.chdir(ROOT)
    ((command, shown),) = _console("traitgate screen")
    argv = [*shlex.split(command)[1:], "--no-cache", "--work", str(tmp_path / "runs")]
    assert main(argv) == 1
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].startswith(shown[0].removesuffix("..."))
    assert printed[1].startswith("FLAGGED: ")
    lead = next(line for line in shown if line.startswith("  * "))
    first = next(line for line in printed if line.startswith("  * "))
    assert first.split()[1] == lead.split()[1] == "favorite_animal/owl"
    assert first.split()[-1] == lead.split()[-1] == "1"  # specificity rank
