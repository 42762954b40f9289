"""The ``traitgate`` command: ``init`` starts a project; ``lint`` checks probe suites and gate
files without loading a model; ``distill`` builds teacher data and students; ``report``
re-renders an HTML report; ``cache`` shows or clears the answer cache; ``plan`` sizes a
study; ``check-measures`` compares the exact and sampled measures on one model; ``scan``
tests every candidate of a suite (which moved?); ``compare`` compares inspect-ai logs of two
models with paired statistics."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from traitgate import __version__
from traitgate._checks import check_seed, positive_ints
from traitgate.cache import DEFAULT_DIR as DEFAULT_CACHE_DIR
from traitgate.errors import ConfigError, TraitgateError


def main(argv: Sequence[str] | None = None) -> int:
    """The ``traitgate`` command (exit 0 ok, 1 problems found, 2 bad input)."""
    try:
        return _main(argv)
    except BrokenPipeError:  # output piped into a reader that stopped (| head): not an error
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # (so the interpreter's final flush is quiet)
        return 0


def _main(argv: Sequence[str] | None) -> int:
    parser = argparse.ArgumentParser(
        prog="traitgate", description="Find hidden behavioural traits in language models."
    )
    parser.add_argument("--version", action="version", version=f"traitgate {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    from traitgate import _cli_compare, _cli_lint, _cli_scan, _cli_screen

    _cli_lint.add_parser(sub)
    p_report = sub.add_parser(
        "report",
        help="re-render the HTML report from a results.json",
        description="Render report.html from a results.json written by `pytest --report DIR`.",
    )
    p_report.add_argument("results", type=Path, help="a results.json file")
    p_report.add_argument(
        "-o",
        "--output",
        type=Path,
        default=None,
        help="the HTML file to write (default: report.html beside the results file)",
    )
    p_cache = sub.add_parser(
        "cache",
        help="show or clear the answer cache",
        description="The answer cache of `pytest --cache-dir DIR` (default .traitgate_cache).",
    )
    p_cache.add_argument("action", choices=["info", "clear"])
    p_cache.add_argument("--cache-dir", type=Path, default=Path(DEFAULT_CACHE_DIR))
    p_plan = sub.add_parser(
        "plan",
        help="replicates, prompts and samples needed for a target power",
        description="Plan a study: how many replicate models per arm the across-models test "
        "needs to detect an effect, for the exact measure and the sampled measure.",
    )
    p_plan.add_argument("--probe", required=True, help="probe suite name or path")
    p_plan.add_argument("--effect", type=float, required=True, help="rate difference to detect")
    p_plan.add_argument("--base-rate", type=float, required=True, help="comparator's trait rate")
    p_plan.add_argument(
        "--model-sd",
        type=float,
        default=0.01,
        help="SD of the rate between models fine-tuned alike (default 0.01; measure yours as "
        "the SD of your controls' rates)",
    )
    p_plan.add_argument(
        "--interaction-sd",
        type=float,
        default=0.0,
        help="SD of model-by-prompt deviations of one prompt's rate (default 0)",
    )
    p_plan.add_argument("--alpha", type=float, default=0.01, help="after correction (0.01)")
    p_plan.add_argument("--power", type=float, default=0.8, help="target power (0.8)")
    p_plan.add_argument(
        "--alternative", choices=["greater", "less", "two-sided"], default="greater"
    )
    p_plan.add_argument(
        "--samples", default="25,50,100,200", help="samples per prompt to consider (sampled)"
    )
    p_plan.add_argument("--probe-path", action="append", type=Path, default=[], metavar="DIR")
    p_check = sub.add_parser(
        "check-measures",
        help="does the exact measure agree with sampled answers on this model?",
        description="Score a preference probe both ways on one model: the exact measure "
        "(from the suite's forms) and N sampled answers per prompt. Prints, per candidate, "
        "both rates (shares of answers naming a candidate) and the z score of their "
        "difference, the answers that named a candidate in a way no form begins with, and "
        "the mass each measure covered. Exit 0 if every |z| <= 3.5, 1 if not.",
    )
    p_check.add_argument("--probe", required=True, help="probe suite name or path")
    p_check.add_argument("--model", required=True, metavar="PATH", help="the model to check")
    p_check.add_argument("--samples", type=int, default=200, help="samples per prompt (200)")
    p_check.add_argument("--seed", type=int, default=0, help="sampling seed (0)")
    p_check.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, mps")
    p_check.add_argument("--probe-path", action="append", type=Path, default=[], metavar="DIR")
    p_init = sub.add_parser(
        "init",
        help="start a project: pytest.ini, evals/ with example gates, probes/ with a suite",
        description="Write a new project's first files into DIR (default: here): pytest.ini "
        "(unless pytest is configured there already: then the lines to add are printed), "
        "evals/gate_traits.yaml (gates for the three probe families) and "
        "probes/favorite_season.yaml (an example suite). Existing files are never changed.",
    )
    p_init.add_argument("directory", nargs="?", type=Path, default=Path("."), metavar="DIR")
    from traitgate.distill.cli import add_parser, run

    add_parser(sub)
    _cli_scan.add_parser(sub)
    _cli_screen.add_parser(sub)
    _cli_compare.add_parser(sub)
    args = parser.parse_args(argv)
    commands = ("report", "cache", "plan", "check-measures", "init", "scan", "screen", "compare")
    if args.command == "lint":
        return _cli_lint.run(args)
    if args.command in commands:
        handler = {
            "compare": _cli_compare.run,
            "scan": _cli_scan.run,
            "screen": _cli_screen.run,
            "report": _report,
            "cache": _cache,
            "plan": _plan,
            "check-measures": _check_measures,
            "init": _init,
        }[args.command]
        try:
            return handler(args)
        except TraitgateError as exc:
            print(f"traitgate: {exc}", file=sys.stderr)
            return 2
    if args.command == "distill":
        try:
            return run(args)
        except TraitgateError as exc:
            print(f"traitgate: {exc}", file=sys.stderr)
            return 2
    return 2  # pragma: no cover - argparse enforces the choices


def _init(args: argparse.Namespace) -> int:
    from traitgate.scaffold import init_project

    done = init_project(args.directory)
    for path in done.written:
        print(f"wrote {path}")
    for path in done.kept:
        print(f"kept {path} (it exists: not changed)")
    if done.ini_note:
        print(f"note: {done.ini_note}", end="")
    where = "" if args.directory == Path(".") else f"cd {args.directory} && "
    print(
        "next:\n"
        f"  {where}traitgate lint evals/ probes/\n"
        f"  {where}pytest evals/ --model 'runs/student-s*' --control-model 'runs/control-s*'"
    )
    return 0


def _report(args: argparse.Namespace) -> int:
    from traitgate._io import atomic_write_text
    from traitgate.report.html import render_html
    from traitgate.report.results import HTML_NAME, load_results

    results = load_results(args.results)
    output = args.output or args.results.with_name(HTML_NAME)
    atomic_write_text(output, render_html(results))
    print(f"wrote {output} ({len(results['gates'])} gate(s))")
    return 0


def _check_measures(args: argparse.Namespace) -> int:
    from traitgate.fidelity import check_measures
    from traitgate.models import load_backend, parse_model_specs
    from traitgate.probes.loader import find_suite, load_suite, project_probe_dirs
    from traitgate.probes.schema import PreferenceSuite

    suite = load_suite(find_suite(args.probe, [*args.probe_path, *project_probe_dirs(Path.cwd())]))
    if not isinstance(suite, PreferenceSuite):
        raise ConfigError(f"check-measures: probe {suite.id!r} is not a preference probe")
    if args.samples < 1:
        raise ConfigError("check-measures: --samples must be at least 1")
    check_seed(args.seed, "check-measures: --seed")
    specs = parse_model_specs([args.model])
    if len(specs) != 1:
        raise ConfigError(f"check-measures: {args.model!r} names {len(specs)} models; give one")
    backend = load_backend(specs[0], device=args.device)
    try:
        check = check_measures(suite, backend, samples=args.samples, seed=args.seed)
    finally:
        backend.close()
    print("\n".join(check.lines()))
    return 0 if check.agree else 1


def _plan(args: argparse.Namespace) -> int:
    from traitgate.planner import HEADER, plan
    from traitgate.probes.loader import find_suite, load_suite, project_probe_dirs
    from traitgate.probes.preference import candidate_forms
    from traitgate.probes.schema import PreferenceSuite

    suite = load_suite(find_suite(args.probe, [*args.probe_path, *project_probe_dirs(Path.cwd())]))
    if not isinstance(suite, PreferenceSuite):
        raise ConfigError(f"plan: probe {suite.id!r} is not a preference probe")
    try:
        samples = positive_ints(str(args.samples), "plan: --samples")
        rows = plan(
            args.effect,
            args.base_rate,
            prompts=len(suite.prompt_specs()),
            candidate_forms=sum(len(f) for f in candidate_forms(suite)),
            model_sd=args.model_sd,
            interaction_sd=args.interaction_sd,
            samples=samples,
            alpha=args.alpha,
            target_power=args.power,
            alternative=args.alternative,
        )
    except ValueError as exc:
        raise ConfigError(f"plan: {exc}") from None
    print(
        f"probe {suite.id} v{suite.version}: detect {args.effect:+g} on a base rate of "
        f"{args.base_rate:g} with power {args.power:g} at alpha {args.alpha:g} "
        f"({args.alternative}), pooled t across models (the replicate gates' test);"
    )
    print(
        f"fine-tuning noise between models: sd {args.model_sd:g} (an assumption: measure "
        "yours as the sd of your controls' rates), model-by-prompt sd "
        f"{args.interaction_sd:g}"
    )
    print(HEADER)
    for row in rows:
        print(row.describe())
    print(
        "replicates = models per arm (candidates and controls each); sequences = "
        "sequences generated or continuations scored over both arms"
    )
    return 0


def _cache(args: argparse.Namespace) -> int:
    from traitgate.cache import DB_NAME, Cache, clear_cache

    if not (args.cache_dir / DB_NAME).is_file():
        print(f"no cache in {args.cache_dir}")
        return 0
    if args.action == "clear":
        n = clear_cache(args.cache_dir)
        what = "an unreadable cache file" if n < 0 else f"{n} cached answer(s)"
        print(f"cleared {what} from {args.cache_dir}")
        return 0
    cache = Cache(args.cache_dir)
    try:
        info = cache.info()
    finally:
        cache.close()
    print(
        f"{info.path}: {info.entries} answer(s) from {info.models} model(s), "
        f"{info.size_bytes / 1e6:.1f} MB"
    )
    for probe in info.probes:
        print(f"  probe {probe}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
