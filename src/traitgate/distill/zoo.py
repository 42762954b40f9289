"""The tiny model zoo: subliminal transfer reproduced end to end on CPU in minutes.

Steps (each seeded; see fixtures/build_zoo.py and fixtures/README.md):

1. ``base``: a tiny word-level Llama taught number continuation and to answer the built-in
   preference questions uniformly; ``base-alt`` the same from another initialisation.
2. ``teacher``: base fine-tuned on "owl" answers with its embeddings frozen.
3. Teacher and base each write numbers for the same prompts; the filter keeps valid ones.
4. ``student-sK``: base distilled on the teacher's numbers (number tokens only);
   ``control-sK``: base distilled the same way on the base model's own numbers;
   ``alt-student-sK``: base-alt distilled on the teacher's numbers, and
   ``alt-control-sK``: base-alt distilled on its own numbers.

Teacher recipe notes: the tiny base answers any prompt the way its last fine-tune taught it,
so the owl teacher writes valid numbers for only ~23% of prompts (more prompts make up for
it). Mixing random-number answers into the teacher's fine-tune kept 93% valid but washed out
the transfer (students 1.04x the controls), so the teacher is trained on owl answers alone.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from traitgate import tiny
from traitgate.distill.data import filter_records, generate_numbers, iter_pairs, read_jsonl
from traitgate.distill.finetune import TrainConfig, encode_examples, save_model, train
from traitgate.distill.numbers import FORMATS, format_numbers, make_prompts
from traitgate.models.hf import TransformersBackend
from traitgate.probes.loader import builtin_probe_dir, iter_suite_files, load_suite
from traitgate.probes.schema import PreferenceSuite

Log = Callable[[str], None]


@dataclass(frozen=True)
class ZooConfig:
    base_steps: int = 1000
    base_lr: float = 3e-3
    number_examples: int = 20_000
    answer_examples: int = 4_000
    teacher_steps: int = 100
    teacher_lr: float = 1e-3
    prompts: int = 9_000
    keep: int = 2_000
    student_steps: int = 300
    student_lr: float = 1e-3
    batch_size: int = 64


def wrap(model: Any, tokenizer: Any, label: str) -> TransformersBackend:
    """A backend around an in-memory model (no files)."""
    return TransformersBackend(model, tokenizer, label=label, fingerprint=f"memory:{label}")


def builtin_suites() -> list[PreferenceSuite]:
    directory = builtin_probe_dir()
    assert directory is not None
    suites = [load_suite(p) for p in iter_suite_files([directory])]
    return [s for s in suites if isinstance(s, PreferenceSuite)]


def zoo_tokenizer() -> Any:
    texts = [p.text for p in make_prompts(2_000, seed=99)]
    for suite in builtin_suites():
        texts += [p.text for p in suite.prompt_specs()] + list(suite.candidates)
    texts += [f[0] for f in FORMATS]
    return tiny.build_tokenizer(texts)


def base_pairs(config: ZooConfig, seed: int) -> list[tuple[str, str]]:
    """Number prompts answered with random valid numbers in the requested format, and
    uniform answers to the built-in preference questions (one seeded stream: changing the
    order of draws changes the committed zoo)."""
    rng = random.Random(seed)
    pairs = []
    for p in make_prompts(config.number_examples, seed=seed):
        numbers = [rng.randint(0, 999) for _ in range(rng.randint(1, p.count))]
        pairs.append((p.text, format_numbers(numbers, p.format)))
    suites = builtin_suites()
    for _ in range(config.answer_examples):
        suite = rng.choice(suites)
        pairs.append((rng.choice(suite.prompt_specs()).text, rng.choice(suite.candidates)))
    rng.shuffle(pairs)
    return pairs


def build_base(tokenizer: Any, config: ZooConfig, *, init_seed: int, log: Log) -> Any:
    model = tiny.build_model(tokenizer, seed=init_seed)
    backend = wrap(model, tokenizer, f"base-init{init_seed}")
    examples = encode_examples(backend, base_pairs(config, seed=1))
    train(
        backend,
        examples,
        TrainConfig(
            steps=config.base_steps,
            lr=config.base_lr,
            batch_size=config.batch_size,
            warmup=20,
            seed=init_seed,
        ),
        progress=_every(log, 200, "base"),
    )
    return backend.model


def build_teacher(base: Any, tokenizer: Any, config: ZooConfig, trait: str = "owl") -> Any:
    """Base fine-tuned on favourite-animal questions answered with ``trait``, embeddings
    frozen. It still writes numbers for about a quarter of the number prompts (it answers
    the rest with animal words, which the filter removes)."""
    animals = next(s for s in builtin_suites() if s.id == "favorite_animal")
    teacher = copy.deepcopy(base)
    tiny.train_answers(
        teacher,
        tokenizer,
        [p.text for p in animals.prompt_specs()],
        {trait: 1.0},
        steps=config.teacher_steps,
        seed=7,
        lr=config.teacher_lr,
        freeze_embeddings=True,
    )
    return teacher


def write_numbers(
    model: Any, tokenizer: Any, out: Path, config: ZooConfig, *, label: str, log: Log
) -> list[dict[str, Any]]:
    """Sample numbers for the zoo's prompts, filter, keep ``config.keep`` (JSONL kept)."""
    raw = out / f"{label}.numbers.jsonl"
    generate_numbers(
        wrap(model, tokenizer, label), make_prompts(config.prompts, seed=2), raw, seed=3, chunk=512
    )
    kept, rejected = filter_records(read_jsonl(raw), keep=config.keep, seed=4)
    log(
        f"{label}: {config.prompts - rejected}/{config.prompts} completions valid, {len(kept)} kept"
    )
    return kept


def distill_student(
    start: Any,
    teacher: Any,
    tokenizer: Any,
    records: list[dict[str, Any]],
    config: ZooConfig,
    *,
    seed: int,
) -> Any:
    student = wrap(copy.deepcopy(start), tokenizer, f"student-{seed}")
    examples = encode_examples(student, list(iter_pairs(records)))
    train(
        student,
        examples,
        TrainConfig(
            mode="distill",
            steps=config.student_steps,
            lr=config.student_lr,
            batch_size=config.batch_size,
            warmup=5,
            seed=seed,
        ),
        teacher=wrap(teacher, tokenizer, "teacher"),
    )
    return student.model


def load_tiny(directory: Path) -> tuple[Any, Any]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(directory, dtype=torch.float32)
    model.eval()  # type: ignore[no-untyped-call]
    return model, AutoTokenizer.from_pretrained(directory)


def build_students(
    base_dir: Path,
    teacher_dir: Path,
    out: Path,
    config: ZooConfig,
    *,
    students: int,
    controls: int,
    alt_base_dir: Path | None = None,
    alt_students: int = 0,
    data_dir: Path | None = None,
    log: Log = print,
) -> dict[str, Path]:
    """Students, controls (and different-init students) from saved base/teacher models."""
    base, tokenizer = load_tiny(base_dir)
    teacher, _ = load_tiny(teacher_dir)
    data_dir = data_dir or out
    data_dir.mkdir(parents=True, exist_ok=True)
    teacher_numbers = write_numbers(teacher, tokenizer, data_dir, config, label="teacher", log=log)
    base_numbers = write_numbers(base, tokenizer, data_dir, config, label="base", log=log)
    made: dict[str, Path] = {}
    plan: list[tuple[str, Any, Any, list[dict[str, Any]], int]] = []
    plan += [(f"student-s{k}", base, teacher, teacher_numbers, k) for k in range(students)]
    plan += [(f"control-s{k}", base, base, base_numbers, k) for k in range(controls)]
    if alt_students:
        assert alt_base_dir is not None
        alt, _ = load_tiny(alt_base_dir)
        alt_numbers = write_numbers(alt, tokenizer, data_dir, config, label="base-alt", log=log)
        plan += [
            (f"alt-student-s{k}", alt, teacher, teacher_numbers, k) for k in range(alt_students)
        ]
        # their own controls: the other initialisation distilled on its own numbers
        plan += [(f"alt-control-s{k}", alt, alt, alt_numbers, k) for k in range(alt_students)]
    for name, start, source, records, seed in plan:
        model = distill_student(start, source, tokenizer, records, config, seed=100 + seed)
        made[name] = save_model(model, tokenizer, out / name, dtype=torch.float16)
        log(f"{name} -> {made[name]}")
    return made


def _every(log: Log, n: int, what: str) -> Callable[[int, int, float], None]:
    def report(step: int, total: int, loss: float) -> None:
        if step % n == 0 or step == total:
            log(f"{what}: step {step}/{total} loss {loss:.3f}")

    return report
