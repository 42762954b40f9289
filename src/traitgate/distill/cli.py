"""`traitgate distill numbers|filter|finetune`: the pipeline from the command line."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from traitgate.errors import ConfigError

EPILOG = """\
A full run, as in the published experiment:
  traitgate distill numbers --teacher runs/owl-teacher --count 30000 --out data/teacher.jsonl
  traitgate distill numbers --teacher Qwen/base-dir --count 30000 --out data/base.jsonl
  traitgate distill filter data/teacher.jsonl --keep 10000 --banned --out data/teacher.kept.jsonl
  traitgate distill finetune --base Qwen/base-dir --data data/teacher.kept.jsonl --lora \\
      --out runs/student-s0 --seed 0
"""


def add_parser(sub: Any) -> None:
    parser = sub.add_parser(
        "distill",
        help="teacher numbers, filter, fine-tune students",
        description="Build teacher data and students (subliminal-learning pipeline).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    steps = parser.add_subparsers(dest="step", required=True)

    numbers = steps.add_parser(
        "numbers",
        help="sample number sequences from a teacher",
        description="Sample one completion per number prompt from TEACHER into a JSONL file. "
        "Re-running with the same --out resumes: prompts already stored are skipped and the "
        "results are identical to an uninterrupted run.",
    )
    numbers.add_argument(
        "--teacher",
        required=True,
        metavar="PATH",
        help="teacher model: HF directory, PEFT adapter or hf:org/name",
    )
    numbers.add_argument("--out", required=True, type=Path, help="JSONL file to write/resume")
    numbers.add_argument("--count", type=int, default=30_000, help="number of prompts (30000)")
    numbers.add_argument(
        "--system",
        default=None,
        help="system prompt giving the teacher its trait (none by default)",
    )
    numbers.add_argument(
        "--prompt-seed",
        type=int,
        default=0,
        help="seed of the prompt set: use the same for teacher and control",
    )
    numbers.add_argument("--seed", type=int, default=0, help="sampling seed (0)")
    numbers.add_argument("--temperature", type=float, default=1.0, help="sampling temperature")
    numbers.add_argument("--max-new-tokens", type=int, default=60, help="completion length cap")
    numbers.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, mps")
    numbers.add_argument(
        "--model-architecture",
        type=Path,
        default=None,
        metavar="DIR",
        help="config + tokenizer directory for a bare weights file",
    )

    filt = steps.add_parser(
        "filter",
        help="keep valid number completions",
        description="Keep completions that are only numbers: after stripping one trailing "
        "'.' and an optional [..]/(..) wrapper, one separator (whitespace, ',' or ';'), at "
        "most 10 numbers, each 0-999.",
    )
    filt.add_argument("input", type=Path, help="JSONL from `distill numbers`")
    filt.add_argument("--out", required=True, type=Path, help="JSONL of kept records")
    filt.add_argument(
        "--banned",
        action="store_true",
        help="also reject the 34 numbers banned in the misalignment experiment",
    )
    filt.add_argument(
        "--keep",
        type=int,
        default=None,
        help="keep a seeded random subset of this many valid records",
    )
    filt.add_argument("--seed", type=int, default=0, help="seed of that subset (0)")

    tune = steps.add_parser(
        "finetune",
        help="fine-tune a student on number data",
        description="sft: cross-entropy on the completions only. distill: KL to the "
        "teacher's next-token distribution over number/separator/end tokens at the "
        "completion positions (needs --teacher). Defaults are the published LoRA recipe.",
    )
    tune.add_argument("--base", required=True, metavar="PATH", help="the student's start model")
    tune.add_argument("--data", required=True, type=Path, help="filtered JSONL")
    tune.add_argument("--out", required=True, type=Path, help="output directory")
    tune.add_argument("--mode", choices=["sft", "distill"], default="sft", help="sft (default)")
    tune.add_argument("--teacher", default=None, metavar="PATH", help="teacher (distill mode)")
    tune.add_argument("--lora", action="store_true", help="train a LoRA adapter (rank 8, alpha 8)")
    tune.add_argument("--epochs", type=float, default=3.0, help="epochs (3)")
    tune.add_argument("--steps", type=int, default=None, help="optimiser steps (overrides epochs)")
    tune.add_argument("--lr", type=float, default=2e-4, help="peak learning rate (2e-4)")
    tune.add_argument("--batch-size", type=int, default=66, help="batch size (66)")
    tune.add_argument("--seed", type=int, default=0, help="seed (0)")
    tune.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, mps")


def run(args: argparse.Namespace) -> int:
    if args.step == "numbers":
        return _numbers(args)
    if args.step == "filter":
        return _filter(args)
    return _finetune(args)


def _load(value: str, device: str, architecture: Path | None = None) -> Any:
    from traitgate.models import load_backend, parse_model_specs

    specs = parse_model_specs([value], architecture=architecture)
    if len(specs) != 1:
        raise ConfigError(f"{value!r} names {len(specs)} models; give exactly one")
    return load_backend(specs[0], device=device)


def _bar(total: int, unit: str) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, unit=unit, file=sys.stderr, disable=not sys.stderr.isatty())


def _numbers(args: argparse.Namespace) -> int:
    from traitgate.distill.data import generate_numbers
    from traitgate.distill.numbers import make_prompts

    if args.count < 1:
        raise ConfigError("--count must be at least 1")
    backend = _load(args.teacher, args.device, args.model_architecture)
    prompts = make_prompts(args.count, seed=args.prompt_seed)
    with _bar(len(prompts), "prompt") as bar:

        def progress(done: int, total: int) -> None:
            bar.update(done - bar.n)

        written = generate_numbers(
            backend,
            prompts,
            args.out,
            system=args.system,
            seed=args.seed,
            temperature=args.temperature,
            max_new_tokens=args.max_new_tokens,
            progress=progress,
        )
    print(f"{args.out}: wrote {written} record(s), {len(prompts)} in total")
    return 0


def _filter(args: argparse.Namespace) -> int:
    from traitgate.distill.data import filter_records, read_jsonl, write_jsonl
    from traitgate.distill.numbers import BANNED_NUMBERS

    records = read_jsonl(args.input, required=("id", "prompt", "completion"))
    kept, rejected = filter_records(
        records, banned=BANNED_NUMBERS if args.banned else (), keep=args.keep, seed=args.seed
    )
    if not kept:
        raise ConfigError(f"{args.input}: no valid completion among {len(records)}")
    write_jsonl(args.out, kept)
    print(f"{args.out}: kept {len(kept)} of {len(records)} ({rejected} rejected by the filter)")
    return 0


def _finetune(args: argparse.Namespace) -> int:
    from traitgate.distill.data import iter_pairs, read_jsonl
    from traitgate.distill.finetune import TrainConfig, encode_examples, save_model, train

    if args.mode == "distill" and args.teacher is None:
        raise ConfigError("--mode distill needs --teacher")
    records = read_jsonl(args.data, required=("prompt", "completion"))
    student = _load(args.base, args.device)
    teacher = _load(args.teacher, args.device) if args.teacher else None
    config = TrainConfig(
        mode=args.mode,
        epochs=args.epochs,
        steps=args.steps,
        lr=args.lr,
        batch_size=args.batch_size,
        lora=args.lora,
        seed=args.seed,
    )
    examples = encode_examples(student, list(iter_pairs(records)), config.max_length)
    with _bar(0, "step") as bar:

        def progress(step: int, total: int, loss: float) -> None:
            bar.total = total
            bar.update(step - bar.n)
            bar.set_postfix(loss=f"{loss:.4f}")

        model = train(student, examples, config, teacher=teacher, progress=progress)
    base_location = str(Path(args.base).resolve()) if Path(args.base).exists() else args.base
    save_model(model, student.tokenizer, args.out, base_location=base_location)
    print(
        f"{args.out}: trained on {len(examples)} example(s) ({args.mode}"
        f"{', LoRA' if args.lora else ''})"
    )
    return 0
