"""The ``traitgate`` command. ``traitgate lint`` checks probe suites and gate files without
loading a model; later subcommands (distill, report) join it here."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from traitgate import __version__
from traitgate._yaml import load_documents
from traitgate.errors import TraitgateError
from traitgate.gate import load_gate_file
from traitgate.probes.loader import iter_suite_files, load_suite


def _is_gate_file(path: Path) -> bool:
    docs = load_documents(path)
    return any(isinstance(d.data, dict) and "gate" in d.data for d in docs)


def lint(paths: Sequence[Path], probe_paths: Sequence[Path] = ()) -> list[str]:
    """Validate every suite and gate file under ``paths``; return one line per problem."""
    problems: list[str] = []
    files = iter_suite_files(paths)
    for path in paths:
        if not path.exists():
            problems.append(f"{path}: no such file or directory")
    if not files and not problems:
        problems.append(f"{', '.join(map(str, paths))}: no .yaml/.yml files found")
    for file in files:
        try:
            if _is_gate_file(file):
                load_gate_file(file, probe_paths)
            else:
                load_suite(file)
        except TraitgateError as exc:
            problems.append(str(exc))
    return problems


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="traitgate", description="Find hidden behavioural traits in language models."
    )
    parser.add_argument("--version", action="version", version=f"traitgate {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    p_lint = sub.add_parser(
        "lint",
        help="validate probe suites and gate files (no model is loaded)",
        description="Validate probe suites (kind: ...) and gate files (gate: ...). Prints one "
        "line per problem as file:line: field: message and exits 1 if there is any.",
    )
    p_lint.add_argument("paths", nargs="+", type=Path, help="YAML files or directories")
    p_lint.add_argument(
        "--probe-path",
        action="append",
        type=Path,
        default=[],
        metavar="DIR",
        help="directory of probe suites that gates may name (searched before built-ins)",
    )
    from traitgate.distill.cli import add_parser, run

    add_parser(sub)
    args = parser.parse_args(argv)
    if args.command == "distill":
        try:
            return run(args)
        except TraitgateError as exc:
            print(f"traitgate: {exc}", file=sys.stderr)
            return 2
    if args.command == "lint":
        probe_paths = list(args.probe_path) + [p for p in args.paths if p.is_dir()]
        problems = lint(args.paths, probe_paths)
        for line in problems:
            print(line, file=sys.stderr)
        files = iter_suite_files(args.paths)
        if not problems:
            print(f"ok: {len(files)} file(s) valid")
        return 1 if problems else 0
    return 2  # pragma: no cover - argparse enforces the choices


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
