"""``traitgate scan``: which candidates of one or more suites moved between two roles?

Exit 0 when nothing moved, 1 when something did (like a failing gate), 2 on bad input.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from traitgate.errors import ConfigError
from traitgate.roles import ROLES, Role


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "scan",
        help="test every candidate of the probe(s): which moved? (BH false discovery rate)",
        description="Compare the candidate models with the comparators on every candidate of "
        "each probe (the test a gate would use), adjust all p-values together with "
        "Benjamini-Hochberg, and list what moved, ranked by effect with each candidate's "
        "specificity. Exit 0 when nothing moved, 1 when something did, 2 on bad input.",
    )
    p.add_argument("--probe", action="append", required=True, help="suite name or path (repeat)")
    for role in ROLES:
        p.add_argument(
            f"--{role}-model" if role != "model" else "--model",
            dest=role,
            action="append",
            default=[],
            metavar="PATH",
            help=f"{role} model(s): path, quoted glob or hf:org/name (repeatable)",
        )
    p.add_argument(
        "--compare",
        nargs=2,
        choices=ROLES,
        metavar="ROLE",
        help="the two roles, candidate first (default: model control, or model base "
        "without controls)",
    )
    p.add_argument("--q", type=float, default=0.05, help="false discovery rate (0.05)")
    p.add_argument(
        "--alternative", choices=["greater", "less", "two-sided"], default="greater",
        help="greater (default): which candidates the model prefers more",
    )  # fmt: skip
    p.add_argument("--min-effect", type=float, default=0.0, help="smallest rate shift to report")
    p.add_argument("--measure", choices=["exact", "sampled"], default=None)
    p.add_argument("--model-sd", type=float, default=None, help="for one model per arm")
    p.add_argument("--model-architecture", type=Path, default=None, metavar="DIR")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--cache-dir", type=Path, default=Path(".traitgate_cache"))
    p.add_argument("--no-cache", action="store_true")
    p.add_argument("--report", type=Path, metavar="DIR", help="write results.json and report.html")
    p.add_argument("--probe-path", action="append", type=Path, default=[], metavar="DIR")


def run(args: argparse.Namespace) -> int:
    from traitgate._checks import check_seed
    from traitgate._cli_common import command_services, err
    from traitgate.models import parse_model_specs
    from traitgate.probes.loader import find_suite, load_suite, project_probe_dirs
    from traitgate.scan import ScanOptions
    from traitgate.session import SessionSettings, TraitSession

    check_seed(args.seed, "scan: --seed")
    probe_paths = (*args.probe_path, *project_probe_dirs(Path.cwd()))
    suites = [load_suite(find_suite(p, probe_paths)) for p in args.probe]  # fail fast
    arch = args.model_architecture.resolve() if args.model_architecture else None
    roles = {
        role: parse_model_specs(getattr(args, role), architecture=arch)
        for role in ROLES
        if getattr(args, role)
    }
    fallback: Role = "control" if "control" in roles else "base"
    compare: tuple[Role, Role] = tuple(args.compare) if args.compare else ("model", fallback)
    missing = [r for r in compare if r not in roles]
    if missing:
        flags = " and ".join(f"--{r}-model" if r != "model" else "--model" for r in missing)
        raise ConfigError(f"scan: compare {compare[0]} with {compare[1]}: give {flags}")
    options = ScanOptions(
        compare, args.q, args.alternative, args.min_effect, args.measure, None, args.model_sd
    )
    settings = SessionSettings(
        seed=args.seed, device=args.device, correction="bh", probe_paths=probe_paths
    )
    with command_services(args.cache_dir, args.no_cache) as services:
        session = TraitSession(roles, settings, services)
        for line in session.describe_models():
            err(line)
        result = session.scan(suites, options)
    print("\n".join(result.lines()))
    if args.report is not None:
        from traitgate.report.results import build_results, write_report

        json_path, html_path = write_report(args.report, build_results([result.to_dict()]))
        print(f"wrote {json_path} and {html_path}")
    return 0 if result.passed else 1
