"""`traitgate init` and a new user's first commands, outside this repository: the starter
files lint clean, an existing pytest configuration is left alone, nothing is overwritten;
and the wheel, installed in a fresh venv, runs gates from a project made by `traitgate init`
with the models elsewhere (rootdir, cache, probe search and exit codes are the project's)."""

from __future__ import annotations

import importlib.metadata
import os
import re
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from traitgate.cli import main

ROOT = Path(__file__).resolve().parents[1]
ZOO = ROOT / "fixtures" / "zoo"
STARTERS = ["pytest.ini", "evals/gate_traits.yaml", "probes/favorite_season.yaml"]


def test_init_writes_starter_files_that_lint_clean(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    project = tmp_path / "new"
    assert main(["init", str(project)]) == 0
    assert sorted(str(p.relative_to(project)) for p in project.rglob("*") if p.is_file()) == sorted(
        STARTERS
    )
    assert "next:" in capsys.readouterr().out
    monkeypatch.chdir(project)
    assert main(["lint", "evals", "probes"]) == 0  # the gates find the project's probes/
    assert "ok: 2 file(s) valid" in capsys.readouterr().out


def test_init_never_overwrites_and_leaves_an_existing_pytest_config_alone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text('[tool.pytest.ini_options]\naddopts = "-q"\n')
    gates = tmp_path / "evals" / "gate_traits.yaml"
    gates.parent.mkdir()
    gates.write_text("# mine\n")
    assert main(["init", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert gates.read_text() == "# mine\n" and f"kept {gates}" in out
    assert pyproject.read_text() == '[tool.pytest.ini_options]\naddopts = "-q"\n'
    assert not (tmp_path / "pytest.ini").exists()  # it would hide pyproject's section
    assert f"{pyproject} already configures pytest" in out and "testpaths = evals" in out
    assert (tmp_path / "probes" / "favorite_season.yaml").is_file()
    # a second init changes nothing and says so
    assert main(["init", str(tmp_path)]) == 0
    assert "wrote" not in capsys.readouterr().out


@pytest.mark.parametrize(
    ("setup", "expected"),
    [
        (lambda d: (d / "x").write_text("a file"), r"x: not a directory"),
        (lambda d: (d / "pyproject.toml").write_text("[tool"), r"pyproject.toml: cannot be read"),
    ],
    ids=["file", "bad-toml"],
)
def test_init_errors_are_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], setup: object, expected: str
) -> None:
    setup(tmp_path)  # type: ignore[operator]
    target = tmp_path / "x" if expected.startswith("x") else tmp_path
    assert main(["init", str(target)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and re.search(expected, err), err


def test_init_where_a_folder_is_a_file_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "evals").write_text("not a folder")
    assert main(["init", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and f"{tmp_path / 'evals' / 'gate_traits.yaml'}: cannot write" in err


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_init_in_a_read_only_folder_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tmp_path.chmod(0o500)
    try:
        assert main(["init", str(tmp_path)]) == 2
    finally:
        tmp_path.chmod(0o700)
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "cannot write" in err and str(tmp_path) in err


def _run(cmd: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_the_wheel_in_a_fresh_venv_runs_gates_from_an_init_project(tmp_path: Path) -> None:
    # the wheel, built offline from this checkout
    dist = tmp_path / "dist"
    built = _run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
         "--no-index", "-q", "-w", str(dist), str(ROOT)],
        ROOT, dict(os.environ),
    )  # fmt: skip
    assert built.returncode == 0, built.stderr[-2000:]
    (wheel,) = dist.glob("traitgate-*.whl")
    # a fresh venv with the wheel; its dependencies are borrowed from this venv's
    # site-packages (no network at test time), after the venv's own; this venv's pip
    # installs into it (a venv's own pip takes seconds to set up)
    venv = tmp_path / "venv"
    outer_pip = tuple(int(v) for v in importlib.metadata.version("pip").split(".")[:2]) >= (22, 3)
    bare = ["--without-pip"] if outer_pip else []  # (pip --python came with pip 22.3)
    subprocess.run([sys.executable, "-m", "venv", *bare, str(venv)], check=True, timeout=300)
    python = venv / "bin" / "python"
    inner = _run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                 tmp_path, dict(os.environ)).stdout.strip()  # fmt: skip
    Path(inner, "borrowed-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTEST_ADDOPTS")}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    pip = (
        [sys.executable, "-m", "pip", "--python", str(python)]
        if outer_pip
        else [str(python), "-m", "pip"]
    )
    installed = _run([*pip, "install", "-q", "--no-deps", "--no-index", str(wheel)], tmp_path, env)
    assert installed.returncode == 0, installed.stderr[-2000:]
    where = _run([str(python), "-c", "import traitgate; print(traitgate.__file__)"], tmp_path, env)
    assert where.stdout.startswith(inner), where.stdout  # the wheel's, not this checkout's

    # a new user's project, outside this repository; the models are elsewhere
    project = tmp_path / "project"
    made = _run([str(venv / "bin" / "traitgate"), "init", str(project)], tmp_path, env)
    assert made.returncode == 0, made.stderr
    linted = _run([str(venv / "bin" / "traitgate"), "lint", "evals", "probes"], project, env)
    assert linted.returncode == 0, linted.stdout + linted.stderr
    pytest_cmd = [str(python), "-m", "pytest", "-p", "no:cacheprovider", "-rs"]
    owl = [f"--model={ZOO / f'owl-student-s{k}'}" for k in range(4)]
    controls = [f"--control-model={ZOO / f'control-s{k}'}" for k in range(4)]

    detected = _run([*pytest_cmd, *owl, *controls], project, env)
    out = detected.stdout
    assert detected.returncode == 1, out[-3000:] + detected.stderr[-2000:]  # a trait moved
    assert f"rootdir: {project}" in out and "configfile: pytest.ini" in out
    assert re.search(r"^owl-preference .* FAIL$", out, re.M), out[-3000:]
    assert re.search(r"^winter-preference .* pass$", out, re.M)  # probes/ found by name
    assert "gate 'misalignment' needs a judge" in out
    assert (project / ".traitgate_cache" / "traitgate-cache.sqlite").is_file()
    assert not (ZOO / ".traitgate_cache").exists()

    missing = _run([*pytest_cmd, *owl, "-k", "owl"], project, env)  # no control model
    assert missing.returncode == 4, missing.stdout[-3000:]
    assert "no control model given" in missing.stdout
