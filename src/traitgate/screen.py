"""Screen a dataset before training: would fine-tuning this base on it move a probe's
candidates more than ordinary data of the same kind does?

The screen trains ``runs`` short fine-tunes of the base on the data and as many on a
reference (run k of both arms shares its seed: the same initialisation of anything trained
from scratch, the same batch order), each on a bootstrap sample of its dataset (examples
drawn with replacement), then scans the data runs against the reference runs: every
candidate of the probe(s), each run one model, BH across all candidates. A candidate is
*flagged* when the scan discovers it.

The question is about the data's source (would data like this teach the trait?), not the
two finite datasets: each dataset deviates from its source by its own sampling noise,
shared by all of its arm's runs, which averaging runs does not remove. The runs' spread
(resample plus seed) bounds it, so the test gives each arm's mean the variance of one run
plus the runs' average (:func:`traitgate.stats.resampled_test`). Measured on the zoo
(``bench/screen_null.py``, docs/screen-study.md): two halves of one teacher's numbers
differ by about twice what the runs' average alone allows, and the plain pooled t flagged
something in 7 of 40 such screens; this test in none.

Why short runs and not one gradient (issue 17, docs/screen-study.md): on the zoo the
first-order change (the data's loss gradient against each candidate's log-rate gradient at
the base) did not rank the teacher's trait near the top, while a few seeds of 20-step runs
put it first and lost it from another initialisation, as transfer does.

Modes: ``sft`` (cross-entropy on the completions) when no teacher is given; ``distill`` (KL
to the teacher's next-token distribution on number tokens, the zoo's recipe) with one. In
distill mode the reference runs distil from ``reference_teacher`` (default: the base itself,
whose runs then stay at the base) on the reference data (default: the data itself, so only
the teacher differs). In sft mode the default reference is the base's own completions to
the data's prompts, filtered as the data was when the data came from ``traitgate distill
filter`` (its records carry ``numbers``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import random
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from traitgate.errors import ConfigError
from traitgate.probes.schema import Suite
from traitgate.scan import ScanOptions, ScanResult
from traitgate.session_config import SessionServices, SessionSettings

Mode = Literal["sft", "distill"]
Record = dict[str, Any]
_MARK = "screen-run.json"  # written last into a finished run's directory


@dataclass(frozen=True)
class ScreenOptions:
    """How the screen trains and decides. Defaults: the validated zoo setting (4 runs per
    arm of 20 AdamW steps at lr 1e-3, batch 64, 5 warm-up steps, linear decay)."""

    runs: int = 4
    steps: int = 20
    lr: float = 1e-3
    batch_size: int = 64
    warmup: int = 5
    examples: int | None = None  # drawn with replacement per run (default: the data's size)
    seed: int = 100  # run k uses seed + k
    lora: bool = False
    max_length: int = 500
    scan: ScanOptions = field(default_factory=ScanOptions)

    def __post_init__(self) -> None:
        problems = []
        if self.runs < 2:
            problems.append(f"runs must be at least 2, to measure run-to-run spread ({self.runs})")
        if self.steps < 1 or self.batch_size < 1 or self.warmup < 0:
            problems.append("steps and batch_size must be positive and warmup not negative")
        if not 0 < self.lr < 1:
            problems.append(f"lr must be between 0 and 1 (got {self.lr})")
        if self.examples is not None and self.examples < 1:
            problems.append(f"examples must be positive (got {self.examples})")
        if self.max_length < 2:
            problems.append("max_length must be at least 2")
        if self.scan.compare != ("model", "control"):
            problems.append("the screen compares its data runs (model) with its reference runs")
        if problems:
            raise ConfigError.of_all([f"screen: {p}" for p in problems])


@dataclass(frozen=True)
class ScreenResult:
    """The scan of the data runs against the reference runs, with how they were made."""

    scan: ScanResult
    base: str
    data: str
    reference: str
    mode: Mode
    examples: int
    data_runs: tuple[Path, ...]
    reference_runs: tuple[Path, ...]
    options: ScreenOptions
    seconds: float

    @property
    def flagged(self) -> tuple[str, ...]:
        """``suite/candidate`` of every discovery, the largest push first."""
        return tuple(f"{r.gate.suite.id}/{r.gate.trait}" for r in self.scan.discoveries)

    @property
    def passed(self) -> bool:
        return self.scan.passed

    def lines(self) -> list[str]:
        o = self.options
        head = (
            f"screen of {self.data} against {self.reference} on {self.base}: {o.runs} runs "
            f"per arm, {o.steps} {self.mode} steps each (lr {o.lr}, batch {o.batch_size}) on "
            f"{self.examples} examples drawn with replacement; {self.seconds:.0f} s"
        )
        verdict = self.scan.summary_line().split(": ", 1)[1]
        word = "FLAGGED" if self.flagged else "nothing flagged"
        return [head, f"{word}: {verdict}", *self.scan.lines()[1:]]


def screen(
    base: str,
    data: Path,
    probes: Sequence[str | Suite],
    *,
    work: Path,
    reference: Path | None = None,
    teacher: str | None = None,
    reference_teacher: str | None = None,
    options: ScreenOptions | None = None,
    settings: SessionSettings | None = None,
    services: SessionServices | None = None,
) -> ScreenResult:
    """Screen ``data`` (jsonl of prompt/completion records) for what it would teach ``base``.

    Runs are kept under ``work`` and reused when the same run is asked for again (same
    base, teacher, records and settings), so an interrupted screen resumes."""
    options = options or ScreenOptions()
    trainer = _Trainer(
        base, options, work, settings or SessionSettings(correction="bh"),
        services or SessionServices(),
    )  # fmt: skip
    if reference_teacher and not teacher:
        raise ConfigError("screen: a reference teacher needs a teacher (distill mode)")
    records = _records(data)
    start = time.perf_counter()
    work.mkdir(parents=True, exist_ok=True)
    # in distill mode both arms distil (the reference from the base unless told otherwise):
    # the arms share every step but the data and the teacher
    ref_teacher = (reference_teacher or base) if teacher else None
    if reference is not None:
        ref = _Arm("reference", _records(reference), ref_teacher, str(reference))
    elif teacher:  # the same inputs: only the teacher differs
        ref = _Arm("reference", records, ref_teacher, f"{data} distilled from {ref_teacher}")
    else:
        answers = trainer.base_answers(records)
        ref = _Arm("reference", answers, None, f"{base}'s own answers to {data}'s prompts")
    arms = (_Arm("data", records, teacher, str(data)), ref)
    examples = options.examples or len(records)
    try:
        runs = [[trainer.run(arm, k, examples) for k in range(options.runs)] for arm in arms]
    finally:
        trainer.close()
    result = trainer.scan(runs, probes)
    return ScreenResult(
        result,
        base,
        arms[0].name,
        ref.name,
        "distill" if teacher else "sft",
        examples,
        tuple(runs[0]),
        tuple(runs[1]),
        options,
        time.perf_counter() - start,
    )


def bootstrap(records: Sequence[Record], size: int, seed: int) -> list[Record]:
    """``size`` records drawn with replacement, seeded."""
    rng = random.Random(seed)
    return [records[rng.randrange(len(records))] for _ in range(size)]


@dataclass(frozen=True)
class _Arm:
    role: str  # "data" or "reference": the run directories' prefix
    records: Sequence[Record]
    teacher: str | None  # distil from it; None: sft on the completions
    name: str  # as the screen's output names it


def _records(path: Path) -> list[Record]:
    from traitgate.distill.data import read_jsonl

    return read_jsonl(path, required=("prompt", "completion"))  # (refuses an empty file)


@dataclass
class _Trainer:
    base: str
    options: ScreenOptions
    work: Path
    settings: SessionSettings
    services: SessionServices
    # each teacher loaded once, with its distillation targets (kept across the runs: they
    # resample one dataset)
    teachers: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    # the base, loaded once for all runs, and its weights as loaded on the host (full
    # fine-tunes change them in place; a LoRA run's adapter is removed after it instead)
    base_backend: Any = None
    base_weights: dict[str, Any] | None = None

    def student(self) -> Any:
        """The base as loaded, for the next run: loaded on first use, then restored (a
        full fine-tune's weights copied back from the host; a LoRA run leaves them alone
        and its adapter is removed after saving). The same weights, so the same runs as a
        fresh load gives, bit for bit, without reading a large base from disk per run."""
        if self.base_backend is None:
            self.base_backend = _load(self.base, self.settings.device)
            if not self.options.lora:
                weights = self.base_backend.model.state_dict().items()
                self.base_weights = {k: v.detach().to("cpu", copy=True) for k, v in weights}
        elif self.base_weights is not None:
            self.base_backend.model.load_state_dict(self.base_weights)
        return self.base_backend

    def teacher(self, name: str) -> tuple[Any, Any]:
        from traitgate.distill.finetune import TeacherTargets

        if name not in self.teachers:
            backend = _load(name, self.settings.device)
            self.teachers[name] = (backend, TeacherTargets(backend))
        return self.teachers[name]

    def close(self) -> None:
        for backend, _ in self.teachers.values():
            backend.close()
        self.teachers.clear()
        if self.base_backend is not None:
            self.base_backend.close()
            self.base_backend, self.base_weights = None, None

    def run(self, arm: _Arm, k: int, examples: int) -> Path:
        """Run ``k`` of ``arm``: trained and saved under ``work`` unless already there."""
        from traitgate.distill.data import iter_pairs
        from traitgate.distill.finetune import TrainConfig, encode_examples, save_model, train

        o = self.options
        seed = o.seed + k
        config = TrainConfig(
            mode="distill" if arm.teacher else "sft", steps=o.steps, lr=o.lr,
            batch_size=o.batch_size, warmup=o.warmup, max_length=o.max_length, lora=o.lora,
            seed=seed,
        )  # fmt: skip
        key = self._key(arm, examples, asdict(config))
        out = self.work / f"{arm.role}-{k}"
        mark = out / _MARK
        if _marked(mark) == key:
            self.services.log(f"screen: {out} already trained")
            return out
        student = self.student()
        teacher, targets = self.teacher(arm.teacher) if arm.teacher else (None, None)
        pairs = list(iter_pairs(bootstrap(arm.records, examples, seed)))
        encoded = encode_examples(student, pairs, config.max_length)
        start, losses = time.perf_counter(), []
        model = train(
            student, encoded, config, teacher=teacher, targets=targets,
            progress=lambda step, total, loss: losses.append(loss),
        )  # fmt: skip
        # one line per run (the progress bars count prompts, not training steps)
        self.services.log(
            f"screen: {arm.role} run {k + 1}/{o.runs}: {o.steps} steps in "
            f"{time.perf_counter() - start:.1f} s, last loss {losses[-1]:.4g}"
        )
        location = str(Path(self.base).resolve()) if Path(self.base).exists() else self.base
        save_model(model, student.tokenizer, out, base_location=location)
        mark.write_text(
            json.dumps({"key": key, "role": arm.role, "run": k, "teacher": arm.teacher}) + "\n"
        )
        if o.lora:
            model.unload()  # the adapter's layers out, the base's weights untouched
        return out

    def _key(self, arm: _Arm, examples: int, config: dict[str, Any]) -> str:
        """What makes a run: the base's and teacher's fingerprints, the records, the
        sample size and the training settings."""
        from traitgate.models.spec import one_model_spec

        digest = hashlib.sha256()
        for name in (self.base, arm.teacher):
            if name:
                digest.update(one_model_spec(name).fingerprint().encode())
        for record in arm.records:
            digest.update(json.dumps([record["prompt"], record["completion"]]).encode())
        digest.update(json.dumps([examples, config], sort_keys=True).encode())
        return digest.hexdigest()

    def base_answers(self, records: Sequence[Record]) -> list[Record]:
        """The base's own completion to each record's prompt (T = 1, as long as the longest
        completion allows), filtered as the data was when it came from ``distill filter``
        (its records carry ``numbers``)."""
        from traitgate.distill.data import filter_records, read_jsonl, write_jsonl
        from traitgate.models.base import GenerationRequest, Prompt

        out = self.work / "reference.jsonl"
        if out.exists():
            return read_jsonl(out, required=("prompt", "completion"))
        backend = _load(self.base, self.settings.device)
        self.services.log(f"screen: {self.base} answers the data's {len(records)} prompts")
        longest = max(len(backend.encode(str(r["completion"]))) for r in records)
        seed = self.settings.seed
        requests = [
            GenerationRequest(Prompt(str(r["prompt"])), 1, 1.0, longest + 2, seed) for r in records
        ]
        answers: list[Record] = [
            {"prompt": r["prompt"], "completion": a[0]}
            for r, a in zip(records, backend.generate(requests), strict=True)
        ]
        backend.close()
        if all("numbers" in r for r in records):
            answers, rejected = filter_records(answers)
            self.services.log(f"screen: the number filter rejected {rejected} of its answers")
            if not answers:
                raise ConfigError(
                    f"screen: none of {self.base}'s answers to the data's prompts pass the "
                    "number filter; give a reference"
                )
        write_jsonl(out, answers)
        return answers

    def scan(self, runs: Sequence[Sequence[Path]], probes: Sequence[str | Suite]) -> ScanResult:
        from traitgate.models import parse_model_specs
        from traitgate.roles import Role
        from traitgate.session import TraitSession

        roles: dict[Role, Any] = {
            "model": parse_model_specs([str(p) for p in runs[0]]),
            "control": parse_model_specs([str(p) for p in runs[1]]),
        }
        # every run trained on its own resample: the test counts the data's sampling variance
        options = dataclasses.replace(self.options.scan, resampled=True)
        return TraitSession(roles, self.settings, self.services).scan(probes, options)


def _marked(mark: Path) -> str | None:
    """The key a finished run's mark holds (None: no run there, or an unreadable mark,
    which a new run replaces)."""
    try:
        key = json.loads(mark.read_text()).get("key")
    except (OSError, ValueError, AttributeError):
        return None
    return key if isinstance(key, str) else None


def _load(name: str, device: str) -> Any:
    from traitgate.models import load_backend
    from traitgate.models.spec import one_model_spec

    return load_backend(one_model_spec(name), device=device)
