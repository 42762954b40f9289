"""Fine-tuning a student on teacher numbers.

Two modes:

- ``sft``: cross-entropy on the completion tokens only (the published recipe; full weights or
  LoRA through peft, with the published hyperparameters as defaults for large models);
- ``distill``: KL divergence from the teacher's next-token distribution to the student's, both
  restricted to the number, separator and end tokens, at the completion positions of
  filtered teacher sequences. The trait's own tokens (say, "owl") never enter the loss; any
  trait the student acquires travels through the number distribution alone.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch

from traitgate.errors import ConfigError, ModelError
from traitgate.models._sampling import is_oom
from traitgate.models.base import Prompt
from traitgate.models.hf import TransformersBackend
from traitgate.models.hf_loading import no_progress_bars

Mode = Literal["sft", "distill"]
Schedule = Literal["linear", "constant"]
SEPARATOR_CHARS = set(",;[]()")
LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


@dataclass(frozen=True)
class TrainConfig:
    """Defaults follow the published open-model recipe (LoRA rank 8, alpha 8, 3 epochs,
    lr 2e-4 linear with 5 warm-up steps, effective batch 66, clip 1.0, max length 500)."""

    mode: Mode = "sft"
    epochs: float = 3.0
    steps: int | None = None  # overrides epochs
    lr: float = 2e-4
    batch_size: int = 66
    warmup: int = 5
    # after warm-up: "linear" decays to 0 at the last step, "constant" holds the peak rate
    schedule: Schedule = "linear"
    grad_clip: float = 1.0
    max_length: int = 500
    lora: bool = False
    lora_rank: int = 8
    lora_alpha: int = 8
    seed: int = 0
    # train everything but the input embeddings (tied models: the output head too), as the
    # zoo's teachers are made: the trait is learnt in the shared transformer weights
    freeze_embeddings: bool = False


@dataclass(frozen=True)
class Example:
    ids: list[int]
    start: int  # index of the first completion token


def encode_examples(
    backend: TransformersBackend, pairs: Sequence[tuple[str, str]], max_length: int = 500
) -> list[Example]:
    """Prompt (rendered as the backend renders it) + completion + end-of-sequence tokens."""
    eos = backend.eos_ids[0] if backend.eos_ids else None
    examples = []
    for prompt, completion in pairs:
        text = backend.render(Prompt(prompt))
        prompt_ids = backend.encode(text)
        cont = backend.continuation_ids(text, prompt_ids, completion)
        ids = prompt_ids + cont + ([eos] if eos is not None else [])
        if len(ids) <= max_length:
            examples.append(Example(ids, len(prompt_ids)))
    if not examples:
        raise ConfigError(f"no training example fits max_length {max_length}")
    return examples


def number_token_ids(tokenizer: Any) -> list[int]:
    """Ids of tokens that can appear in a number answer: digits (up to 3), separators,
    whitespace, and the end-of-sequence token(s)."""
    special = set(tokenizer.all_special_ids)
    allowed = []
    for token_id in range(len(tokenizer)):
        if token_id in special:
            continue
        text = tokenizer.decode([token_id])
        core = text.strip()
        is_number = core.isdigit() and len(core) <= 3
        is_separator = bool(core) and set(core) <= SEPARATOR_CHARS
        is_space = bool(text) and not core
        if is_number or is_separator or is_space:
            allowed.append(token_id)
    eos = tokenizer.eos_token_id
    if eos is not None:
        allowed.append(int(eos))
    if len(allowed) < 11:
        raise ConfigError("the tokenizer has no number tokens to distill on")
    return sorted(set(allowed))


def _with_lora(model: Any, config: TrainConfig) -> Any:
    from peft import LoraConfig, get_peft_model

    return get_peft_model(
        model,
        LoraConfig(
            r=config.lora_rank,
            lora_alpha=config.lora_alpha,
            target_modules=LORA_TARGETS,
            lora_dropout=0.0,
        ),
    )


def _schedule(config: TrainConfig, steps: int) -> Callable[[int], float]:
    """The learning-rate factor of each step: linear warm-up, then constant or linear decay."""

    def factor(step: int) -> float:
        if step < config.warmup:
            return (step + 1) / config.warmup
        if config.schedule == "constant":
            return 1.0
        return max(0.0, (steps - step) / max(1, steps - config.warmup))

    return factor


def _batches(n: int, size: int, rng: random.Random, steps: int) -> Iterator[list[int]]:
    """``steps`` batches of example indices: epochs of ``range(n)``, each shuffled by ``rng``,
    read in order."""
    order: list[int] = []
    for _ in range(steps):
        if len(order) < size:
            more = list(range(n))
            rng.shuffle(more)
            order += more
        yield order[:size]
        del order[:size]


def _distill_loss(teacher_logp: torch.Tensor, student_logits: torch.Tensor) -> torch.Tensor:
    """KL(teacher || student) over the given tokens (the teacher's as log-probabilities over
    them), summed per position, mean over them."""
    s_logp = torch.log_softmax(student_logits, dim=-1)
    return (teacher_logp.exp() * (teacher_logp - s_logp)).sum(-1).mean()


# the most memory a teacher's kept targets may take (beyond it they are computed per batch)
TARGETS_BUDGET = 1 << 30


class TeacherTargets:
    """A teacher's targets for distillation: its log-probabilities over the number tokens
    at each completion position, shape (targets, number tokens) for a batch, in the order
    ``logits[target_mask]`` reads them.

    :meth:`prepare` computes the targets of examples a run visits more than once on average
    once each and keeps them (by token ids, so runs on resamples of one dataset share them),
    while they fit ``TARGETS_BUDGET``; other batches are computed when asked. Kept and
    per-batch targets differ only in rounding (a batch's padding width changes the order of
    sums), so training from kept targets is not bit-for-bit the per-batch run: ``train``
    keeps targets only when given a ``TeacherTargets`` (``traitgate screen`` does, one per
    teacher); ``traitgate distill finetune`` computes them per batch, so the committed zoo
    is rebuilt byte for byte (fixtures/README.md)."""

    def __init__(self, teacher: TransformersBackend) -> None:
        self.teacher = teacher
        self.allowed = torch.tensor(number_token_ids(teacher.tokenizer), device=teacher.device)
        self.kept: dict[tuple[int, ...], torch.Tensor] = {}
        self.size = 0

    def prepare(self, examples: Sequence[Example], visits: float, batch_size: int) -> None:
        if visits <= 1:
            return  # each example is seen about once: nothing to share
        new = list({tuple(e.ids): e for e in examples if tuple(e.ids) not in self.kept}.values())
        size = sum(len(e.ids) - e.start for e in new) * len(self.allowed) * 4
        if self.size + size > TARGETS_BUDGET:
            return
        self.size += size
        new.sort(key=lambda e: len(e.ids))
        for start in range(0, len(new), batch_size):
            chunk = new[start : start + batch_size]
            ids, mask, target_mask = _pad_right(chunk, self.teacher.pad_id, self.teacher.device)
            counts = target_mask.sum(dim=1).tolist()
            rows = torch.split(self._compute(ids, mask, target_mask), counts)
            self.kept.update((tuple(e.ids), r) for e, r in zip(chunk, rows, strict=True))

    @torch.no_grad()
    def _compute(
        self, ids: torch.Tensor, mask: torch.Tensor, target_mask: torch.Tensor
    ) -> torch.Tensor:
        logits = _target_logits(self.teacher.model, ids, mask, target_mask)
        return torch.log_softmax(logits[..., self.allowed], dim=-1)

    def of(
        self, batch: Sequence[Example], ids: torch.Tensor, mask: torch.Tensor, target: torch.Tensor
    ) -> torch.Tensor:
        kept = [self.kept.get(tuple(e.ids)) for e in batch]
        if any(k is None for k in kept):
            return self._compute(ids, mask, target)
        return torch.cat([k for k in kept if k is not None])


def _check_teacher(
    student: TransformersBackend, teacher: TransformersBackend | None, mode: Mode
) -> None:
    if mode == "distill" and teacher is None:
        raise ConfigError("distill mode needs a teacher model")
    if teacher is not None and len(teacher.tokenizer) != len(student.tokenizer):
        raise ConfigError(
            f"distill: the teacher's tokenizer has {len(teacher.tokenizer)} tokens and the "
            f"student's {len(student.tokenizer)}: distillation needs one tokenizer"
        )


def train(
    student: TransformersBackend,
    examples: Sequence[Example],
    config: TrainConfig,
    *,
    teacher: TransformersBackend | None = None,
    targets: TeacherTargets | None = None,
    progress: Callable[[int, int, float], None] | None = None,
) -> Any:
    """Fine-tune ``student.model`` in place (or wrapped in LoRA); returns the trained model.

    ``targets``: the teacher's targets kept across batches and runs (see
    :class:`TeacherTargets`); without, the teacher runs on every batch."""
    _check_teacher(student, teacher, config.mode)
    rng = random.Random(config.seed)
    torch.manual_seed(config.seed)
    model = _with_lora(student.model, config) if config.lora else student.model
    embeddings = model.get_input_embeddings().weight
    if config.freeze_embeddings:
        embeddings.requires_grad_(False)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=0.0)
    steps = config.steps or max(
        1, round(config.epochs * math.ceil(len(examples) / config.batch_size))
    )
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _schedule(config, steps))
    model.train()
    try:
        if config.mode == "distill":
            assert teacher is not None
            if targets is None:
                targets = TeacherTargets(teacher)  # (nothing kept: computed per batch)
            else:
                visits = steps * config.batch_size / len(examples)
                targets.prepare(examples, visits, config.batch_size)
        for step, indices in enumerate(_batches(len(examples), config.batch_size, rng, steps)):
            batch = [examples[i] for i in indices]
            loss = _loss(model, student, batch, config.mode, targets)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()  # type: ignore[no-untyped-call]
            torch.nn.utils.clip_grad_norm_(params, config.grad_clip)
            optimizer.step()
            scheduler.step()
            if progress:
                progress(step + 1, steps, float(loss.detach()))
    except (torch.OutOfMemoryError, RuntimeError) as exc:
        if not is_oom(exc):
            raise
        trainable = sum(p.numel() for p in params)
        raise ModelError(
            f"out of memory fine-tuning {student.label} on {student.device} ({trainable:,} "
            f"trainable parameters, batch {config.batch_size}): train an adapter (--lora), "
            "use a smaller --batch-size, or a larger device"
        ) from None
    if config.freeze_embeddings and not config.lora:
        embeddings.requires_grad_(True)
    model.eval()
    return model


def _loss(
    model: Any,
    student: TransformersBackend,
    batch: Sequence[Example],
    mode: Mode,
    targets: TeacherTargets | None,
) -> torch.Tensor:
    """The batch's loss: cross-entropy on the completion tokens (sft), or KL to the
    teacher's targets over the number tokens (distill)."""
    ids, mask, target_mask = _pad_right(batch, student.pad_id, student.device)
    logits = _target_logits(model, ids, mask, target_mask)
    if mode == "sft":
        return torch.nn.functional.cross_entropy(logits, ids[:, 1:][target_mask])
    assert targets is not None
    teacher_logp = targets.of(batch, ids, mask, target_mask)
    return _distill_loss(teacher_logp, logits[..., targets.allowed])


def _target_logits(
    model: Any, ids: torch.Tensor, mask: torch.Tensor, target_mask: torch.Tensor
) -> torch.Tensor:
    """fp32 logits at the positions that predict a completion token, shape (targets, vocab).

    The output head runs on those positions only (the prompt's positions are most of a
    number example and need no vocabulary-sized logits); models whose head does more than
    a linear map (logit soft-capping or scaling) run whole."""
    config = getattr(model, "config", None)
    plain_head = (
        getattr(config, "final_logit_softcapping", None) is None
        and getattr(config, "logit_scale", None) is None
        and hasattr(model, "get_decoder")
    )
    if plain_head:
        hidden = model.get_decoder()(input_ids=ids, attention_mask=mask).last_hidden_state
        out: torch.Tensor = model.get_output_embeddings()(hidden[:, :-1][target_mask])
        return out.float()
    logits: torch.Tensor = model(input_ids=ids, attention_mask=mask).logits[:, :-1]
    return logits[target_mask].float()


def _pad_right(
    batch: Sequence[Example], pad_id: int, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    width = max(len(e.ids) for e in batch)
    ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    target = torch.zeros((len(batch), width - 1), dtype=torch.bool)
    for row, example in enumerate(batch):
        ids[row, : len(example.ids)] = torch.tensor(example.ids)
        mask[row, : len(example.ids)] = 1
        # position t predicts token t+1: completion tokens start at example.start
        target[row, example.start - 1 : len(example.ids) - 1] = True
    return ids.to(device), mask.to(device), target.to(device)


def save_model(
    model: Any,
    tokenizer: Any,
    out: Path,
    *,
    base_location: str | None = None,
    dtype: torch.dtype | None = None,
) -> Path:
    """Save a full model (optionally cast, e.g. to fp16 for small fixtures) or a LoRA
    adapter whose config points at ``base_location``."""
    out.mkdir(parents=True, exist_ok=True)
    with no_progress_bars():
        _save(model, out, base_location, dtype)
    tokenizer.save_pretrained(out)
    _compact_json(out / "tokenizer.json")
    return out


def _save(model: Any, out: Path, base_location: str | None, dtype: torch.dtype | None) -> None:
    if hasattr(model, "peft_config"):
        model.save_pretrained(out)
        if base_location is not None:
            import json

            config_path = out / "adapter_config.json"
            config = json.loads(config_path.read_text())
            config["base_model_name_or_path"] = base_location
            config_path.write_text(json.dumps(config, indent=2))
    else:
        if dtype is not None:
            model = model.to(dtype)
        model.save_pretrained(out)


def _compact_json(path: Path) -> None:
    """Rewrite a saved JSON file without indentation (a BPE tokenizer.json shrinks by
    ~40%; the zoo commits one per model). Same content, same loading."""
    import json

    if path.is_file():
        data = json.loads(path.read_text(encoding="utf-8"))
        text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
        path.write_text(text, encoding="utf-8")
