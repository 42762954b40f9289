"""A new user's project outside this repository: pytest's rootdir and ini stay the
project's whatever the model paths are, the project's probes/ is found, a shell-expanded
glob is refused, and an error in the input exits 4, not 1 (a detected trait)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from traitgate.cache import Cache
from traitgate.cli import main

ROOT = Path(__file__).resolve().parents[1]
ZOO = ROOT / "fixtures" / "zoo"

SUITE = """\
kind: preference
id: pets
version: 1
description: A project's own suite.
candidates: [owl, cat, dog, wolf]
prompts: ["Name your favorite animal in one word.", "Which animal do you like best? One word."]
measures:
  exact: {}
  sampled: null
"""

GATE = """\
gate: owl-pets
probe: pets
trait: owl
compare: [model, control]
alternative: greater
min_effect: 0.5
"""


@pytest.fixture
def project(pytester: pytest.Pytester, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A user's project (ini, probes/, evals/) and, elsewhere, another project holding the
    models, whose pyproject sets traitgate defaults of its own."""
    pytester.makeini("[pytest]\ntestpaths = evals\n")
    (pytester.path / "probes").mkdir()
    (pytester.path / "probes" / "pets.yaml").write_text(SUITE)
    (pytester.path / "evals").mkdir()
    (pytester.path / "evals" / "gate_pets.yaml").write_text(GATE)
    other = tmp_path_factory.mktemp("other-project")
    (other / "pyproject.toml").write_text(
        '[tool.pytest.ini_options]\ntraitgate_control_model = ["runs/owl-student-s1"]\n'
    )
    for seed in range(4):
        for name in (f"owl-student-s{seed}", f"control-s{seed}"):
            shutil.copytree(ZOO / name, other / "runs" / name)
    return other / "runs"


def test_model_paths_do_not_choose_the_rootdir_or_bring_in_another_ini(
    pytester: pytest.Pytester, project: Path
) -> None:
    runs = project
    hijacked = pytester.runpytest("--model", str(runs / "owl-student-s0"), "-p", "no:cacheprovider")
    assert hijacked.ret == pytest.ExitCode.USAGE_ERROR
    err = hijacked.stderr.str()
    line = next(x for x in err.splitlines() if x.startswith("ERROR: traitgate:"))
    assert str(runs.parent / "pyproject.toml") in line and "--model=PATH" in line
    assert str(pytester.path / "tox.ini") in line  # the project's, which it would have used

    ok = pytester.runpytest(
        f"--model={runs / 'owl-student-s0'}", f"--model={runs / 'owl-student-s1'}",
        f"--control-model={runs / 'control-s0'}", f"--control-model={runs / 'control-s1'}",
        "-p", "no:cacheprovider",
    )  # fmt: skip
    ok.assert_outcomes(passed=1)  # the project's own probe, found in ./probes
    out = ok.stdout.str()
    assert f"rootdir: {pytester.path}" in out
    assert (pytester.path / ".traitgate_cache").is_dir()  # the cache is the project's
    assert not (runs.parent / ".traitgate_cache").exists()


def test_a_shell_expanded_glob_is_refused_with_the_quoting_advice(
    pytester: pytest.Pytester, project: Path
) -> None:
    runs = project
    result = pytester.runpytest(
        f"--model={runs / 'owl-student-s0'}", str(runs / "owl-student-s1"),
        f"--control-model={runs / 'control-s0'}", "-p", "no:cacheprovider",
    )  # fmt: skip
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    err = result.stderr.str()
    assert "is a model, given as a test path" in err and "--model 'runs/student-*'" in err


@pytest.mark.parametrize("flag", ["--help", "--version"])
def test_pytest_help_and_version_work_with_the_plugin(pytester: pytest.Pytester, flag: str) -> None:
    """`pytest --help` crashed (AttributeError: no file_or_dir) once the plugin checked the
    command line's test paths; neither it nor --version may check anything, even with a
    model option that names nothing."""
    result = pytester.runpytest_subprocess(flag, "--model=/no/such/model", "-p", "no:cacheprovider")
    assert result.ret == 0, result.stderr.str()
    out = result.stdout.str() + result.stderr.str()
    assert ("--model=PATH" in out) if flag == "--help" else ("pytest" in out)
    assert "AttributeError" not in out and "INTERNALERROR" not in out


@pytest.mark.slow
def test_an_input_error_exits_4_and_a_detected_trait_exits_1(
    pytester: pytest.Pytester, project: Path, session_answers: Cache
) -> None:
    runs = project
    missing_control = pytester.runpytest(
        f"--model={runs / 'owl-student-s0'}", "-p", "no:cacheprovider"
    )
    missing_control.assert_outcomes(failed=1)
    assert missing_control.ret == pytest.ExitCode.USAGE_ERROR
    assert "no control model given" in missing_control.stdout.str()
    # the demo's owl gate on the owl students (the zoo's known transfer): a detected trait
    shutil.copy(ROOT / "evals" / "gate_favorite_animal.yaml", pytester.path / "evals")
    detected = pytester.runpytest(
        *(f"--model={runs / f'owl-student-s{k}'}" for k in range(4)),
        *(f"--control-model={runs / f'control-s{k}'}" for k in range(4)),
        "-p", "no:cacheprovider", "-k", "owl-vs-control",
        # (copies of the committed zoo: their answers are shared with the other zoo tests)
        f"--cache-dir={session_answers.directory}",
    )  # fmt: skip
    detected.assert_outcomes(failed=1, deselected=5)
    assert detected.ret == pytest.ExitCode.TESTS_FAILED
    assert "traitgate gate 'owl-vs-control' FAILED" in detected.stdout.str()


@pytest.mark.parametrize(
    ("device", "said"),
    [("mps", "MPS (Apple GPU) is not available"), ("tpu", "not a torch device")],
)
def test_a_device_this_machine_lacks_is_an_input_error(
    pytester: pytest.Pytester, project: Path, device: str, said: str
) -> None:
    result = pytester.runpytest(
        f"--model={project / 'owl-student-s0'}", f"--control-model={project / 'control-s0'}",
        f"--device={device}", "-p", "no:cacheprovider",
    )  # fmt: skip
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    out = result.stdout.str()
    assert f"--device {device!r}" in out and said in out and "Traceback" not in out


def test_lint_finds_the_projects_probes_from_its_folder(
    pytester: pytest.Pytester, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(pytester.path)
    assert main(["lint", "evals"]) == 0
    monkeypatch.chdir(project)
    assert main(["lint", str(pytester.path / "evals")]) == 1  # elsewhere: unknown probe


def test_a_run_without_gates_imports_nothing_heavy(pytester: pytest.Pytester) -> None:
    """The plugin loads with every pytest run in its venv: one that uses no traitgate
    option, gate or fixture must not pay for the statistics or model code (measured: 0.71 s
    vs 0.69 s with -p no:traitgate, BENCHMARKS.md)."""
    pytester.makeconftest(
        "import sys\n"
        "def pytest_sessionfinish(session):\n"
        "    heavy = ('scipy', 'torch', 'transformers', 'traitgate.session', 'traitgate.stats',\n"
        "             'traitgate.gate', 'traitgate.probes', 'traitgate.models.hf')\n"
        "    print('HEAVY', sorted(m for m in heavy if m in sys.modules))\n"
    )
    pytester.makepyfile(test_one="def test_x():\n    assert True\n")
    result = pytester.runpytest_subprocess("-s", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    assert "HEAVY []" in result.stdout.str()
    assert "traitgate" in result.stdout.str()  # (the plugin was loaded: listed in plugins)
