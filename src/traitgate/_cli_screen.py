"""``traitgate screen``: would fine-tuning this base on this data move a probe's candidates
more than ordinary data does? (See :mod:`traitgate.screen`.)

Exit 0 when nothing is flagged, 1 when something is, 2 on bad input.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "screen",
        help="screen a dataset before training: short runs on it vs a reference, scanned",
        description="Fine-tune the base briefly on the data and on a reference (several runs "
        "each, each on a bootstrap sample), then scan every candidate of the probe(s): which "
        "does the data push more than the reference? With --teacher the runs distil from the "
        "teacher (the zoo's recipe); without, they fine-tune on the completions. Exit 0 when "
        "nothing is flagged, 1 when something is, 2 on bad input.",
    )
    p.add_argument("--base", required=True, help="the base model (path or hf:org/name)")
    p.add_argument("--data", required=True, type=Path, help="jsonl: prompt, completion")
    p.add_argument("--probe", action="append", required=True, help="suite name or path (repeat)")
    p.add_argument(
        "--reference", type=Path,
        help="jsonl to compare with (default: with --teacher, the data itself distilled from "
        "--reference-teacher; without, the base's own answers to the data's prompts)",
    )  # fmt: skip
    p.add_argument("--teacher", help="distil the data runs from this model")
    p.add_argument("--reference-teacher", help="distil the reference runs from it (the base)")
    p.add_argument("--runs", type=int, default=4, help="runs per arm (4)")
    p.add_argument("--steps", type=int, default=20, help="training steps per run (20)")
    p.add_argument("--lr", type=float, default=1e-3, help="peak learning rate (1e-3)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--examples", type=int, help="examples per run (default: the data's size)")
    p.add_argument("--lora", action="store_true", help="train a LoRA adapter (large bases)")
    p.add_argument("--q", type=float, default=0.05, help="false discovery rate (0.05)")
    p.add_argument("--seed", type=int, default=100, help="run k uses seed + k (100)")
    p.add_argument(
        "--work", type=Path,
        help="where the runs are kept (reused when asked for again; default: a temporary "
        "directory, removed at the end)",
    )  # fmt: skip
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1")
    p.add_argument("--cache-dir", type=Path, default=Path(".traitgate_cache"))
    p.add_argument("--no-cache", action="store_true")
    p.add_argument("--probe-path", action="append", type=Path, default=[], metavar="DIR")


def run(args: argparse.Namespace) -> int:
    from traitgate._checks import check_seed
    from traitgate._cli_common import command_services
    from traitgate.probes.loader import find_suite, load_suite, project_probe_dirs
    from traitgate.scan import ScanOptions
    from traitgate.screen import ScreenOptions, screen
    from traitgate.session_config import SessionSettings

    check_seed(args.seed, "screen: --seed")
    options = ScreenOptions(
        runs=args.runs, steps=args.steps, lr=args.lr, batch_size=args.batch_size,
        warmup=args.warmup, examples=args.examples, seed=args.seed, lora=args.lora,
        scan=ScanOptions(q=args.q),
    )  # fmt: skip
    probe_paths = (*args.probe_path, *project_probe_dirs(Path.cwd()))
    suites = [load_suite(find_suite(p, probe_paths)) for p in args.probe]  # fail fast
    settings = SessionSettings(device=args.device, correction="bh", probe_paths=probe_paths)
    with (
        command_services(args.cache_dir, args.no_cache) as services,
        tempfile.TemporaryDirectory(prefix="traitgate-screen-") as tmp,
    ):
        result = screen(
            args.base, args.data, suites, work=args.work or Path(tmp), reference=args.reference,
            teacher=args.teacher, reference_teacher=args.reference_teacher, options=options,
            settings=settings, services=services,
        )  # fmt: skip
    print("\n".join(result.lines()))
    return 1 if result.flagged else 0
