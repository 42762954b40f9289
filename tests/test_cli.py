"""`traitgate lint`: validates suites and gates without loading a model."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from traitgate.cli import main
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
    assert len(lines) == 2, run.stderr
    assert any(
        line.startswith(f"{broken}:") and "candidatez: unknown field" in line for line in lines
    )
    assert any("gate_x.yaml:3: trait: 'unicorn' is not a candidate" in line for line in lines)
    assert "Traceback" not in run.stderr


def test_lint_of_a_missing_path(capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["lint", "no/such/dir"]) == 1
    assert "no/such/dir: no such file or directory" in capsys.readouterr().err
