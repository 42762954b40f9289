"""``traitgate lint``: validate probe suites and gate files without loading a model.

Exit 0 when every file is valid, 1 when any is not (one line per problem). What a check
needs (the gate and suite schemas, which import the statistics) is imported when it runs:
every ``traitgate`` command defines this one's options."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from traitgate.gate import Gate


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "lint",
        help="validate probe suites and gate files (no model is loaded)",
        description="Validate probe suites (kind: ...) and gate files (gate: ...). Prints one "
        "line per problem as file:line: field: message and exits 1 if there is any.",
    )
    p.add_argument("paths", nargs="+", type=Path, help="YAML files or directories")
    p.add_argument(
        "--probe-path",
        action="append",
        type=Path,
        default=[],
        metavar="DIR",
        help="directory of probe suites that gates may name (searched before built-ins)",
    )


def run(args: argparse.Namespace) -> int:
    from traitgate.probes.loader import project_probe_dirs

    probe_paths = [
        *args.probe_path,
        *(p for p in args.paths if p.is_dir()),
        *project_probe_dirs(Path.cwd()),
    ]
    checked = _check(args.paths, probe_paths)
    for line in checked.problems:
        print(line, file=sys.stderr)
    if not checked.problems:
        print(f"ok: {checked.files} file(s) valid")
        for line in lint_notes(checked.gates):
            print(line)
    return 1 if checked.problems else 0


def _is_gate_file(path: Path) -> bool:
    from traitgate._yaml import load_documents

    docs = load_documents(path)
    return any(isinstance(d.data, dict) and "gate" in d.data for d in docs)


def lint(paths: Sequence[Path], probe_paths: Sequence[Path] = ()) -> list[str]:
    """Validate every suite and gate file under ``paths``; return one line per problem."""
    return _check(paths, probe_paths).problems


@dataclass(frozen=True)
class _Checked:
    problems: list[str]  # one line each
    gates: list[Gate]  # every valid gate
    files: int  # suite and gate files found


def _check(paths: Sequence[Path], probe_paths: Sequence[Path]) -> _Checked:
    """Every file under ``paths`` listed and read once."""
    from traitgate.errors import ConfigError, TraitgateError
    from traitgate.gate import load_gate_file
    from traitgate.probes.loader import iter_suite_files, load_suite

    problems: list[str] = []
    gates: list[Gate] = []
    files = iter_suite_files(paths)
    for path in paths:
        if not path.exists():
            problems.append(f"{path}: no such file or directory")
    if not files and not problems:
        problems.append(f"{', '.join(map(str, paths))}: no .yaml/.yml files found")
    for file in files:
        try:
            if _is_gate_file(file):
                gates += load_gate_file(file, probe_paths)
            else:
                load_suite(file)
        except ConfigError as exc:
            problems += exc.messages  # every problem of the file
        except TraitgateError as exc:
            problems.append(str(exc))
    return _Checked(problems, gates, len(files))


def lint_notes(gates: Sequence[Gate]) -> list[str]:
    """What valid gates will refuse to do, or where pytest will not see them: gates without
    ``model_sd`` cannot run with one model per arm (no test holds its level without the
    fine-tuning noise); a gate file not named like one (``gate_*.yaml`` by default) is never
    collected."""
    from traitgate._plugin.options import DEFAULT_GATE_FILES

    notes = []
    unsized = [g for g in gates if g.spec.model_sd is None]
    if unsized:
        names = ", ".join(f"{g.where} {g.name}" for g in unsized)
        notes.append(
            f"note: {len(unsized)} gate(s) without model_sd will be refused when run with one "
            "model per arm and fewer than two control models to measure the noise (give "
            f"replicates or controls, or state model_sd): {names}"
        )
    files = dict.fromkeys(g.path for g in gates if g.path is not None)
    for path in files:
        if not any(path.match(p) for p in DEFAULT_GATE_FILES):
            notes.append(
                f"note: {path} holds gates but pytest will not collect it: gate files are "
                f"named {' or '.join(DEFAULT_GATE_FILES)} (rename it, or set "
                "traitgate_gate_files in your ini file)"
            )
    return notes
