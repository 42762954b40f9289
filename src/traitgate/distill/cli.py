"""`traitgate distill numbers|filter|finetune`: the pipeline from the command line."""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path
from typing import Any

from traitgate.errors import ConfigError

EPILOG = """\
A full run, as in the published experiment:
  traitgate distill numbers --teacher runs/owl-teacher --count 30000 --out data/teacher.jsonl
  traitgate distill numbers --teacher runs/neutral-teacher --count 30000 --out data/neutral.jsonl
  traitgate distill filter data/teacher.jsonl --keep 10000 --banned --out data/teacher.kept.jsonl
  traitgate distill finetune --base Qwen/base-dir --data data/teacher.kept.jsonl --lora \\
      --out runs/student-s0 --seed 0

Controls share every step with the students except the trait: sample them from a neutral
teacher made by the trait teacher's recipe without the trait (`distill answers` without
--trait). The tiny zoo's whole build, as these commands: fixtures/README.md.
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

    init = steps.add_parser(
        "init-tiny",
        help="a tiny chat model at random initialisation (the zoo's start)",
        description="Write a randomly initialised tiny Qwen2-style model with a byte-level "
        "BPE tokenizer (trained on the zoo's generated corpus: number prompts, the built-in "
        "preference questions, answers in varied forms) and a ChatML chat template.",
    )
    init.add_argument("--out", required=True, type=Path, help="output directory")
    init.add_argument("--seed", type=int, default=0, help="initialisation seed (0)")
    init.add_argument("--vocab", type=int, default=2048, help="BPE vocabulary size (2048)")
    init.add_argument("--hidden", type=int, default=48, help="hidden size (48)")
    init.add_argument("--layers", type=int, default=2, help="transformer layers (2)")

    answers = steps.add_parser(
        "answers",
        help="training answers to preference questions (teachers, base)",
        description="Write JSONL (prompt, completion) pairs answering the built-in "
        "preference questions in varied forms ('Owl.', 'owls', 'The owl.', 'I love owls.'). "
        "With --trait every answer names it (a trait teacher's data); without, answers are "
        "spread evenly over the candidates (a neutral teacher's, or a base's).",
    )
    answers.add_argument("--out", required=True, type=Path, help="JSONL file to write")
    answers.add_argument("--count", type=int, required=True, help="number of answers")
    answers.add_argument(
        "--probe",
        action="append",
        default=None,
        metavar="ID",
        help="built-in preference probe to answer (repeatable; default: all of them)",
    )
    answers.add_argument("--trait", default=None, help="the candidate every answer names")
    answers.add_argument(
        "--other", type=float, default=0.0, help="share of answers naming no candidate (0)"
    )
    answers.add_argument(
        "--numbers",
        type=int,
        default=0,
        metavar="N",
        help="also N number prompts answered with random valid numbers (a base's data)",
    )
    answers.add_argument("--seed", type=int, default=0, help="seed (0)")

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
    numbers.add_argument(
        "--chunk", type=int, default=256, help="prompts per batch written at once (256)"
    )
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
    tune.add_argument("--warmup", type=int, default=5, help="warm-up steps (5)")
    tune.add_argument(
        "--schedule",
        choices=["linear", "constant"],
        default="linear",
        help="after warm-up: linear decay to 0 (default) or constant",
    )
    tune.add_argument(
        "--freeze-embeddings",
        action="store_true",
        help="do not train the input embeddings (with tied weights, the output head too)",
    )
    tune.add_argument("--max-length", type=int, default=500, help="longest example in tokens")
    tune.add_argument("--seed", type=int, default=0, help="seed (0)")
    tune.add_argument(
        "--dtype",
        choices=["float32", "float16", "bfloat16"],
        default="float32",
        help="dtype of the saved weights (float32)",
    )
    tune.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, mps")


def run(args: argparse.Namespace) -> int:
    steps = {
        "init-tiny": _init_tiny,
        "answers": _answers,
        "numbers": _numbers,
        "filter": _filter,
        "finetune": _finetune,
    }
    return steps[args.step](args)


def _init_tiny(args: argparse.Namespace) -> int:
    from traitgate.distill.zoo import init_tiny

    for name in ("vocab", "hidden", "layers"):
        if getattr(args, name) < 1:
            raise ConfigError(f"--{name} must be at least 1")
    out = init_tiny(
        args.out, seed=args.seed, vocab=args.vocab, hidden=args.hidden, layers=args.layers
    )
    print(f"{out}: tiny chat model, initialisation seed {args.seed}")
    return 0


def _answers(args: argparse.Namespace) -> int:
    from traitgate.distill.answers import AnswerStyle, answer_pairs, random_number_pairs
    from traitgate.distill.data import write_jsonl
    from traitgate.distill.zoo import builtin_suites

    if args.count < 0 or args.numbers < 0:
        raise ConfigError("--count and --numbers must not be negative")
    if not 0.0 <= args.other < 1.0:
        raise ConfigError("--other must be a share in [0, 1)")
    suites = builtin_suites()
    if args.probe:
        known = {s.id: s for s in suites}
        unknown = [p for p in args.probe if p not in known]
        if unknown:
            raise ConfigError(
                f"--probe {unknown[0]!r}: not a built-in preference probe "
                f"(have: {', '.join(sorted(known))})"
            )
        suites = [known[p] for p in dict.fromkeys(args.probe)]
    if args.trait is not None and not any(args.trait in s.candidates for s in suites):
        raise ConfigError(
            f"--trait {args.trait!r} is not a candidate of {', '.join(s.id for s in suites)}"
        )
    pairs = answer_pairs(suites, args.count, AnswerStyle(args.trait, args.other), seed=args.seed)
    if args.numbers:
        pairs += random_number_pairs(args.numbers, seed=args.seed)
        random.Random(args.seed).shuffle(pairs)
    write_jsonl(
        args.out, ({"id": i, "prompt": p, "completion": c} for i, (p, c) in enumerate(pairs))
    )
    who = f"naming {args.trait}" if args.trait else "spread over the candidates"
    print(f"{args.out}: {args.count} answer(s) {who}, {args.numbers} number example(s)")
    return 0


def _load(value: str, device: str, architecture: Path | None = None) -> Any:
    from traitgate.models import load_backend
    from traitgate.models.spec import one_model_spec

    return load_backend(one_model_spec(value, architecture=architecture), device=device)


def _meter(description: str, unit: str) -> Any:
    from traitgate.progress import Meter

    return Meter(description, unit, sys.stderr)


def _numbers(args: argparse.Namespace) -> int:
    from traitgate.distill.data import generate_numbers
    from traitgate.distill.numbers import make_prompts

    if args.count < 1:
        raise ConfigError("--count must be at least 1")
    backend = _load(args.teacher, args.device, args.model_architecture)
    prompts = make_prompts(args.count, seed=args.prompt_seed)
    with _meter(f"numbers from {backend.label}", "prompt") as meter:

        def progress(done: int, total: int) -> None:
            meter.update(done, total)

        written = generate_numbers(
            backend,
            prompts,
            args.out,
            system=args.system,
            seed=args.seed,
            temperature=args.temperature,
            max_new_tokens=args.max_new_tokens,
            chunk=args.chunk,
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
    import torch

    from traitgate.distill.data import iter_pairs, read_jsonl
    from traitgate.distill.finetune import TrainConfig, encode_examples, save_model, train

    if args.mode == "distill" and args.teacher is None:
        raise ConfigError("--mode distill needs --teacher")
    if args.warmup < 0 or args.max_length < 2:
        raise ConfigError("--warmup must not be negative and --max-length must be at least 2")
    records = read_jsonl(args.data, required=("prompt", "completion"))
    student = _load(args.base, args.device)
    teacher = _load(args.teacher, args.device) if args.teacher else None
    config = TrainConfig(
        mode=args.mode,
        epochs=args.epochs,
        steps=args.steps,
        lr=args.lr,
        batch_size=args.batch_size,
        warmup=args.warmup,
        schedule=args.schedule,
        max_length=args.max_length,
        lora=args.lora,
        seed=args.seed,
        freeze_embeddings=args.freeze_embeddings,
    )
    examples = encode_examples(student, list(iter_pairs(records)), config.max_length)
    with _meter(f"finetune {args.out}", "step") as meter:

        def progress(step: int, total: int, loss: float) -> None:
            meter.update(step, total, f"loss {loss:.4f}")

        model = train(student, examples, config, teacher=teacher, progress=progress)
    base_location = str(Path(args.base).resolve()) if Path(args.base).exists() else args.base
    dtype = None if args.dtype == "float32" else getattr(torch, args.dtype)
    save_model(model, student.tokenizer, args.out, base_location=base_location, dtype=dtype)
    print(
        f"{args.out}: trained on {len(examples)} example(s) ({args.mode}"
        f"{', LoRA' if args.lora else ''})"
    )
    return 0
