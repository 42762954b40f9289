"""``traitgate compare``: paired comparison of inspect-ai logs of two models (or two sets of
replicate models) on the same benchmark. Exit 0, or 1 when ``--fail-on`` holds, 2 on bad
input."""

from __future__ import annotations

import argparse
import glob
import json
from pathlib import Path
from typing import Any

from traitgate.errors import ConfigError


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "compare",
        help="paired comparison of inspect-ai logs (.eval/.json) of two models",
        description="Compare arm A's inspect-ai logs with arm B's on the same task: samples "
        "paired by id, epochs averaged within a sample; the paired test decides (one log "
        "per arm), with the unpaired result beside it; several logs per arm are replicate "
        "models (the model is the unit). Each arm is a log, a quoted glob or a "
        "comma-separated list. Exit 0, 1 when --fail-on holds, 2 on bad input.",
    )
    p.add_argument("a", metavar="A", help="arm A's log(s): the candidate")
    p.add_argument("b", metavar="B", help="arm B's log(s): the reference")
    p.add_argument("--scorer", help="scorer name (or name/key for dict scores)")
    p.add_argument("--alpha", type=float, default=0.05, help="significance level (0.05)")
    p.add_argument(
        "--fail-on",
        choices=["decrease", "increase", "change", "none"],
        default="none",
        help="exit 1 on a significant decrease (A below B), increase or change (default: "
        "none: report only); sets the test's direction",
    )
    p.add_argument("--min-effect", type=float, default=0.0, help="smallest difference to fail on")
    p.add_argument("--json", type=Path, metavar="FILE", help="also write the result as JSON")


def run(args: argparse.Namespace) -> int:
    from traitgate._io import atomic_write_text
    from traitgate.logcompare import compare_logs

    result = compare_logs(
        _logs(args.a, "A"),
        _logs(args.b, "B"),
        scorer=args.scorer,
        alpha=args.alpha,
        fail_on=args.fail_on,
        min_effect=args.min_effect,
    )
    print("\n".join(result.lines()))
    if args.json is not None:
        atomic_write_text(args.json, json.dumps(result.to_dict(), indent=2) + "\n")
        print(f"wrote {args.json}")
    return 1 if result.failed else 0


def _logs(value: str, arm: str) -> list[str]:
    paths: list[str] = []
    for item in filter(None, (v.strip() for v in value.split(","))):
        matches = sorted(glob.glob(item)) if glob.has_magic(item) else [item]
        if not matches:
            raise ConfigError(f"arm {arm}: {item!r} matches no file")
        paths += matches
    if not paths:
        raise ConfigError(f"arm {arm}: no log given")
    return paths
