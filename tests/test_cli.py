"""`traitgate lint`: validates suites and gates without loading a model."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from traitgate.cli import main
from traitgate.errors import ConfigError
from traitgate.gate import load_gate_file
from traitgate.probes import builtin_probe_dir

REPO = Path(__file__).resolve().parent.parent


def test_lint_accepts_all_shipped_suites_and_gates(capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["lint", str(builtin_probe_dir()), str(REPO / "evals")]) == 0
    assert capsys.readouterr().out.startswith("ok: ")


def test_lint_reports_one_line_per_broken_file(tmp_path: Path) -> None:
    probes = tmp_path / "probes"
    shutil.copytree(builtin_probe_dir(), probes)  # type: ignore[arg-type]
    broken = probes / "favorite_tree.yaml"
    broken.write_text(broken.read_text().replace("candidates:", "candidatez:", 1))
    (probes / "gate_x.yaml").write_text("gate: x\nprobe: favorite_animal\ntrait: unicorn\n")
    run = subprocess.run(
        [sys.executable, "-m", "traitgate.cli", "lint", str(probes)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 1
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 3, run.stderr  # the renamed field is unknown, and its absence named
    assert any(
        line.startswith(f"{broken}:") and "candidatez: unknown field" in line for line in lines
    )
    assert any(line.startswith(f"{broken}:") and "candidates: Field required" in line
               for line in lines)  # fmt: skip
    assert any("gate_x.yaml:3: trait: 'unicorn' is not a candidate" in line for line in lines)
    assert "Traceback" not in run.stderr


def test_lint_reports_every_problem_of_a_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    gates = tmp_path / "gate_many.yaml"
    gates.write_text(
        "gate: a\nprobe: favorite_animal\ntrait: owl\nalpha: 2\nmin_effect: -1\n"
        "---\ngate: b\nprobe: favorite_animal\ntrait: unicorn\n"
        "---\ngate: c\nprobe: favorite_animal\ntrait: owl\n"
        "---\ngate: c\nprobe: favorite_animal\ntrait: cat\n"
    )
    assert main(["lint", str(gates)]) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert [line.split(": ")[0].rsplit(":", 1)[1] for line in lines] == ["4", "5", "9", "15"]
    assert "alpha:" in lines[0] and "min_effect:" in lines[1] and "unicorn" in lines[2]
    assert "'c' repeats a gate name" in lines[3]
    # elsewhere (pytest's collection) the error is one line: the first, and how many more
    with pytest.raises(ConfigError) as info:
        load_gate_file(gates)
    assert str(info.value) == f"{lines[0]} (and 3 more error(s))"


def test_lint_of_a_missing_path(capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["lint", "no/such/dir"]) == 1
    assert "no/such/dir: no such file or directory" in capsys.readouterr().err


def test_lint_lists_gates_that_one_model_per_arm_would_refuse(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "gate_x.yaml").write_text(
        "gate: bare\nprobe: favorite_animal\ntrait: owl\n---\n"
        "gate: sized\nprobe: favorite_animal\ntrait: owl\nmodel_sd: 0.01\n"
    )
    assert main(["lint", str(tmp_path)]) == 0  # valid: a note, not an error
    out = capsys.readouterr().out
    assert "note: 1 gate(s) without model_sd will be refused" in out
    assert "gate_x.yaml:1 bare" in out and "sized" not in out


def test_lint_warns_about_gate_files_pytest_will_not_collect(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    gate = "gate: g\nprobe: favorite_animal\ntrait: owl\nmodel_sd: 0.01\n"
    (tmp_path / "owl_gate.yaml").write_text(gate)  # valid, but not named gate_*.yaml
    (tmp_path / "gate_ok.yaml").write_text(gate.replace("gate: g", "gate: h"))
    assert main(["lint", str(tmp_path)]) == 0  # a note, not an error
    out = capsys.readouterr().out
    assert f"note: {tmp_path / 'owl_gate.yaml'} holds gates but pytest will not collect it" in out
    assert "gate_ok.yaml holds" not in out


def test_check_measures_compares_exact_with_sampled_answers(capsys) -> None:  # type: ignore[no-untyped-def]
    zoo = REPO / "fixtures" / "zoo"
    argv = ["check-measures", "--probe", "favorite_animal", "--model", str(zoo / "base")]
    status = main([*argv, "--samples", "200", "--device", "cpu"])
    out = capsys.readouterr().out
    assert status == 0, out  # the zoo's answers begin with the suite's forms
    assert "base on favorite_animal: exact vs sampled (200 samples per prompt)" in out
    assert "prompt 1 as the model sees it: '<|im_start|>user\\n" in out
    assert re.search(r"^  owl +0\.\d{4} +0\.\d{4} +0\.\d{4} +[+-]\d\.\d\d$", out, re.M)
    assert "agree: every |z| <= 3.5" in out
    assert main([*argv[:2], "misalignment", *argv[3:]]) == 2
    assert "not a preference probe" in capsys.readouterr().err


def test_output_piped_into_a_reader_that_stops_is_not_a_traceback() -> None:
    """`traitgate lint evals | head -1`: the reader closes the pipe early."""
    import subprocess
    import sys

    command = (
        f"{sys.executable} -c 'from traitgate.cli import main; raise SystemExit(main())' "
        f"lint {REPO / 'probes'} {REPO / 'evals'} | head -c 1"
    )
    result = subprocess.run(["bash", "-c", f"set -o pipefail; {command}"], capture_output=True)
    assert b"Traceback" not in result.stderr and b"BrokenPipe" not in result.stderr


def test_commands_that_need_no_model_start_without_torch_or_scipy(tmp_path: Path) -> None:
    """Every command defines its options in one parser; defining them must not import what
    the commands run with (torch, transformers, scipy: 2.1 s for `traitgate init` before).
    The commands run one after another in one interpreter, each line naming what had been
    imported by then."""
    commands = [["--help"], ["init", str(tmp_path / "project")], ["cache", "info"]]
    probe = (
        "import sys\n"
        "from traitgate.cli import main\n"
        "heavy = ('torch', 'transformers', 'scipy', 'traitgate.stats', 'traitgate.gate')\n"
        f"for argv in {commands!r}:\n"
        "    try:\n"
        "        main(argv)\n"
        "    except SystemExit:\n"
        "        pass\n"
        "    print('HEAVY', argv[0], sorted(m for m in heavy if m in sys.modules))\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=tmp_path
    )
    assert run.returncode == 0, run.stderr
    said = [line for line in run.stdout.splitlines() if line.startswith("HEAVY")]
    assert said == [f"HEAVY {argv[0]} []" for argv in commands], run.stdout[-2000:]
    assert (tmp_path / "project" / "pytest.ini").is_file()  # (init ran)


@pytest.mark.parametrize("package", ["traitgate", "traitgate.distill"])
def test_every_exported_name_resolves_and_unknown_names_are_attribute_errors(
    package: str,
) -> None:
    """The packages import their public names on first use (traitgate._lazy)."""
    import importlib

    module = importlib.import_module(package)
    for name in module.__all__:
        assert getattr(module, name) is not None, name
    assert dir(module) == sorted(module.__all__)
    with pytest.raises(AttributeError, match=f"module '{package}' has no attribute 'nope'"):
        module.nope  # noqa: B018
