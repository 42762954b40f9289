"""The transformers backend: local HF directories, PEFT adapters, bare state dicts, hub ids.

Generation shares each prompt's prefill across its samples (one forward pass over the
prompt, then the KV cache is indexed out to the sample rows) and samples with Gumbel-max
noise drawn from a counter-based hash of (seed, prompt, sample index, step, token). A sample
therefore depends only on its own coordinates, not on which other prompts shared its batch,
so results are reproducible across batch sizes and resumable.
"""

from __future__ import annotations

import gc
import inspect
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import torch

from traitgate.errors import ModelError
from traitgate.models._text import PromptCodec
from traitgate.models.base import GenerationRequest, Prompt, ScoreRequest
from traitgate.models.spec import ModelSpec, resolve_peft_base

T = TypeVar("T")
R = TypeVar("R")
_MASK32 = 0xFFFFFFFF


def _cache_keyword(model: Any) -> str:
    """The forward argument that takes a KV cache: ``cache`` in newer transformers 5
    releases (``past_key_values`` is deprecated there, to be removed in 5.40), else
    ``past_key_values``. A PEFT wrapper is looked through to its base model."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    try:
        params = inspect.signature(base.forward).parameters
    except (TypeError, ValueError):
        return "past_key_values"
    return "cache" if "cache" in params else "past_key_values"


def _cache_of(output: Any) -> Any:
    """The KV cache a forward pass returned (``cache``, or ``past_key_values`` before the
    rename; an empty cache object may be falsy, so test for None)."""
    cache = getattr(output, "cache", None)
    return cache if cache is not None else output.past_key_values


def resolve_device(device: str = "auto") -> torch.device:
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError:
        raise ModelError(
            f"--device {device!r}: not a torch device (try cpu, cuda, cuda:1)"
        ) from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ModelError(f"--device {device!r}: CUDA is not available on this machine")
    return resolved


def worker_device(device: str, worker: int | None, cuda_devices: int) -> str:
    """The device of pytest-xdist worker ``worker`` (its index): with ``auto`` and more than
    one GPU, worker k uses ``cuda:{k mod GPUs}``, so ``pytest -n <GPUs>`` gives each worker
    its own GPU. An explicit device, one GPU, or no worker leave ``device`` as it is."""
    if device != "auto" or worker is None or cuda_devices < 2:
        return device
    return f"cuda:{worker % cuda_devices}"


def default_batch_size(device: torch.device) -> int:
    """Rows per batch to start from: large on a GPU (backed off on out-of-memory), moderate
    on a CPU, where larger batches gain little (see BENCHMARKS.md)."""
    return 512 if device.type == "cuda" else 64


def default_dtype(device: torch.device) -> torch.dtype:
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float32


class TransformersBackend:
    """A causal LM and its tokenizer, loaded once and used for generation and scoring."""

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        *,
        label: str,
        fingerprint: str,
        batch_size: int = 64,
    ) -> None:
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.label = label
        self.fingerprint = fingerprint
        self.batch_size = batch_size
        self.device = next(model.parameters()).device
        tokenizer.padding_side = "left"
        pad = tokenizer.pad_token_id
        if pad is None:
            pad = tokenizer.eos_token_id if tokenizer.eos_token_id is not None else 0
        self.pad_id = int(pad)
        eos = model.generation_config.eos_token_id if model.generation_config else None
        if eos is None:
            eos = tokenizer.eos_token_id
        self.eos_ids = sorted({eos} if isinstance(eos, int) else set(eos or []))
        self.codec = PromptCodec(tokenizer, label)
        self._cache_kw = _cache_keyword(model)

    # ------------------------------------------------------------------ loading
    @classmethod
    def from_spec(
        cls, spec: ModelSpec, *, device: str = "auto", dtype: torch.dtype | None = None
    ) -> TransformersBackend:
        dev = resolve_device(device)
        dtype = dtype or default_dtype(dev)
        model, tokenizer = _load(spec, dtype)
        model.to(dev)
        return cls(
            model,
            tokenizer,
            label=spec.label,
            fingerprint=spec.fingerprint(),
            batch_size=default_batch_size(dev),
        )

    def close(self) -> None:
        self.model = None
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()

    # ------------------------------------------------------------------ prompts
    @property
    def has_chat_template(self) -> bool:
        return self.codec.has_chat_template

    def render(self, prompt: Prompt) -> str:
        return self.codec.render(prompt)

    def encode(self, text: str) -> list[int]:
        return self.codec.encode_many([text])[0]

    def continuation_ids(self, prompt_text: str, prompt_ids: list[int], cont: str) -> list[int]:
        return self.codec.split_continuation(prompt_ids, self.encode(prompt_text + cont), cont)

    # ------------------------------------------------------------------ scoring
    def score(self, requests: Sequence[ScoreRequest]) -> list[list[float]]:
        return self.codec.exclusive(requests, self._score, self._word_end)

    def _word_end(self, seqs: list[list[int]]) -> list[float]:
        """log P(the next token does not continue the word) after each full sequence."""
        continuing = torch.tensor(
            self.codec.word_continuations(), dtype=torch.long, device=self.device
        )

        @torch.inference_mode()
        def run(batch: list[list[int]]) -> list[float]:
            ids, mask = self._left_pad(batch)
            logits = (
                self.model(
                    input_ids=ids,
                    attention_mask=mask,
                    position_ids=_positions(mask),
                    logits_to_keep=1,
                    use_cache=False,
                )
                .logits[:, -1]
                .float()
            )
            logp = torch.log_softmax(logits, dim=-1)
            keep = torch.ones(logp.shape[-1], dtype=torch.bool, device=logp.device)
            keep[continuing] = False
            return [float(v) for v in torch.logsumexp(logp[:, keep], dim=-1).tolist()]

        return _batched_with_backoff(seqs, run, self)

    def _score(self, requests: Sequence[ScoreRequest]) -> list[list[float]]:
        """Summed log-probabilities of each continuation. A prompt whose continuations are
        all one token long is run once and read off its last logits (batches of prompts);
        the continuations of the other prompts run on their prompt's KV cache (batches of
        continuations, consecutive ones sharing the prompt's prefill)."""
        prompt_ids, conts = self.codec.score_inputs(requests)

        def first_tokens(batch: list[int]) -> list[list[float]]:
            return self._first_token_batch(batch, prompt_ids, conts)

        order = sorted(range(len(requests)), key=lambda i: len(prompt_ids[i]))
        short = [ri for ri in order if all(len(ids) == 1 for ids in conts[ri])]
        out: list[list[float]] = [[0.0] * len(r.continuations) for r in requests]
        for ri, values in zip(short, _batched_with_backoff(short, first_tokens, self), strict=True):
            out[ri] = values
        # rows of one prompt are consecutive; prompts of similar length share a batch
        on_logits = set(short)
        rows = [
            (ri, ci, ids) for ri in order if ri not in on_logits for ci, ids in enumerate(conts[ri])
        ]

        def on_cache(batch: list[tuple[int, int, list[int]]]) -> list[float]:
            return self._cached_prompt_batch(batch, prompt_ids)

        for (ri, ci, _), value in zip(
            rows, _batched_with_backoff(rows, on_cache, self), strict=True
        ):
            out[ri][ci] = value
        return out

    @torch.inference_mode()
    def _first_token_batch(
        self, batch: list[int], prompt_ids: list[list[int]], conts: list[list[list[int]]]
    ) -> list[list[float]]:
        ids, mask = self._left_pad([prompt_ids[ri] for ri in batch])
        logits = self.model(
            input_ids=ids,
            attention_mask=mask,
            position_ids=_positions(mask),
            logits_to_keep=1,
            use_cache=False,
        ).logits[:, -1]
        logprobs = torch.log_softmax(logits.float(), dim=-1)
        rows = torch.tensor(
            [k for k, ri in enumerate(batch) for _ in conts[ri]], device=logits.device
        )
        tokens = torch.tensor(
            [c[0] for ri in batch for c in conts[ri]], device=logits.device, dtype=torch.long
        )
        flat = logprobs[rows, tokens].tolist()
        out, start = [], 0
        for ri in batch:
            out.append([float(v) for v in flat[start : start + len(conts[ri])]])
            start += len(conts[ri])
        return out

    @torch.inference_mode()
    def _cached_prompt_batch(
        self, rows: list[tuple[int, int, list[int]]], prompt_ids: list[list[int]]
    ) -> list[float]:
        """Each row's continuation: its first token from its prompt's last logits, the rest
        in one pass on the prompt's KV cache (each prompt of the batch is run once)."""
        unique = list(dict.fromkeys(ri for ri, _, _ in rows))
        slot = {ri: k for k, ri in enumerate(unique)}
        ids, mask = self._left_pad([prompt_ids[ri] for ri in unique])
        positions = _positions(mask)
        prefill = self.model(
            input_ids=ids,
            attention_mask=mask,
            position_ids=positions,
            logits_to_keep=1,
            use_cache=True,
        )
        dev = ids.device
        pick = torch.tensor([slot[ri] for ri, _, _ in rows], device=dev)
        first = torch.tensor([cont[0] for _, _, cont in rows], device=dev)
        total = torch.log_softmax(prefill.logits[:, -1].float(), dim=-1)[pick, first]
        # the rest of each longer continuation runs on its prompt's cache; rows with the
        # same prompt and the same tokens before their last one share that pass
        tails = list(dict.fromkeys((ri, tuple(c[:-1])) for ri, _, c in rows if len(c) > 1))
        if not tails:
            return [float(v) for v in total.tolist()]
        tail_of = {key: k for k, key in enumerate(tails)}
        width = max(len(inp) for _, inp in tails)
        tail_pick = torch.tensor([slot[ri] for ri, _ in tails], device=dev)
        cache = _cache_of(prefill)
        cache.batch_select_indices(tail_pick)
        inputs = torch.full((len(tails), width), self.pad_id, dtype=torch.long)
        tail_mask = torch.zeros((len(tails), width), dtype=torch.long)
        for j, (_, inp) in enumerate(tails):
            inputs[j, : len(inp)] = torch.tensor(inp)
            tail_mask[j, : len(inp)] = 1
        inputs, tail_mask = inputs.to(dev), tail_mask.to(dev)
        logits = self.model(
            input_ids=inputs,
            attention_mask=torch.cat([mask[tail_pick], tail_mask], dim=1),
            position_ids=positions[tail_pick, -1:] + 1 + torch.arange(width, device=dev),
            **{self._cache_kw: cache},
            use_cache=True,
        ).logits.float()
        norm = torch.logsumexp(logits, dim=-1)  # log p = logit - norm (no vocab-sized copy)
        longer = [(k, ri, c) for k, (ri, _, c) in enumerate(rows) if len(c) > 1]
        # (row, position, token) of every continuation token after the first
        row_ix = [tail_of[(ri, tuple(c[:-1]))] for _, ri, c in longer for _ in c[1:]]
        pos_ix = [i for _, _, c in longer for i in range(len(c) - 1)]
        tok_ix = [t for _, _, c in longer for t in c[1:]]
        at = (torch.tensor(row_ix, device=dev), torch.tensor(pos_ix, device=dev))
        picked = logits[(*at, torch.tensor(tok_ix, device=dev))] - norm[at]
        owner = torch.tensor([k for k, _, c in longer for _ in c[1:]], device=dev)
        total = total.index_add(0, owner, picked)
        return [float(v) for v in total.tolist()]

    # ------------------------------------------------------------------ generation
    def generate(self, requests: Sequence[GenerationRequest]) -> list[list[str]]:
        prompt_ids = self.codec.encode_prompts([r.prompt for r in requests])
        prompt_keys = [_prompt_key(r) for r in requests]
        order = sorted(range(len(requests)), key=lambda i: len(prompt_ids[i]))
        # rows are (request, sample index); consecutive rows of a request share its prefill
        rows = [(i, s) for i in order for s in range(requests[i].n)]
        out: list[list[str]] = [[""] * r.n for r in requests]

        def run(batch: list[tuple[int, int]]) -> list[str]:
            return self._generate_batch(batch, requests, prompt_ids, prompt_keys)

        for (ri, si), text in zip(rows, _batched_with_backoff(rows, run, self), strict=True):
            out[ri][si] = text
        return out

    @torch.inference_mode()
    def _generate_batch(
        self,
        rows: list[tuple[int, int]],
        requests: Sequence[GenerationRequest],
        prompt_ids: list[list[int]],
        prompt_keys: list[int],
    ) -> list[str]:
        unique = list(dict.fromkeys(ri for ri, _ in rows))
        slot = {ri: k for k, ri in enumerate(unique)}
        ids, mask = self._left_pad([prompt_ids[ri] for ri in unique])
        positions = _positions(mask)
        prefill = self.model(
            input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=True
        )
        dev = ids.device
        select = torch.tensor([slot[ri] for ri, _ in rows], device=dev)
        cache = _cache_of(prefill)
        cache.batch_select_indices(select)
        logits = prefill.logits[:, -1, :][select]
        mask = mask[select]
        position = positions[select, -1]
        keys = _mix32(
            torch.tensor([prompt_keys[ri] for ri, _ in rows], device=dev, dtype=torch.int64)
            ^ _mix32(torch.tensor([s for _, s in rows], device=dev, dtype=torch.int64))
        )
        temps = torch.tensor([requests[ri].temperature for ri, _ in rows], device=dev)
        limits = torch.tensor([requests[ri].max_new_tokens for ri, _ in rows], device=dev)
        eos = torch.tensor(self.eos_ids or [-1], device=dev)
        done = torch.zeros(len(rows), dtype=torch.bool, device=dev)
        steps: list[torch.Tensor] = []
        for step in range(int(limits.max())):
            token = _sample(logits, temps, keys, step)
            token = torch.where(done, torch.full_like(token, self.pad_id), token)
            steps.append(token)
            done |= torch.isin(token, eos) | (step + 1 >= limits)
            if bool(done.all()):
                break
            mask = torch.cat([mask, torch.ones_like(mask[:, :1])], dim=1)
            position = position + 1
            logits = self.model(
                input_ids=token[:, None],
                attention_mask=mask,
                position_ids=position[:, None],
                **{self._cache_kw: cache},
                use_cache=True,
            ).logits[:, -1, :]
        generated = torch.stack(steps, dim=1)
        width = generated.shape[1]
        # each row ends before its first end-of-sequence token or at its own token limit
        stop = torch.isin(generated, eos) | (torch.arange(width, device=dev) >= limits[:, None])
        cut = torch.where(stop.any(-1), stop.int().argmax(-1), torch.full_like(limits, width))
        kept = [row[:c] for row, c in zip(generated.tolist(), cut.tolist(), strict=True)]
        return [t.strip() for t in self.tokenizer.batch_decode(kept, skip_special_tokens=True)]

    # ------------------------------------------------------------------ helpers
    def _left_pad(self, seqs: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        width = max(len(s) for s in seqs)
        ids = torch.full((len(seqs), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(seqs), width), dtype=torch.long)
        for row, seq in enumerate(seqs):
            ids[row, width - len(seq) :] = torch.tensor(seq, dtype=torch.long)
            mask[row, width - len(seq) :] = 1
        return ids.to(self.device), mask.to(self.device)


# ---------------------------------------------------------------------- sampling


def _mix32(x: torch.Tensor) -> torch.Tensor:
    """murmur3's 32-bit finaliser on uint32 values held in int64 (products wrap mod 2**64,
    whose low 32 bits are exact)."""
    x = x & _MASK32
    x = x ^ (x >> 16)
    x = (x * 0x85EBCA6B) & _MASK32
    x = x ^ (x >> 13)
    x = (x * 0xC2B2AE35) & _MASK32
    return x ^ (x >> 16)


def _prompt_key(request: GenerationRequest) -> int:
    return int(request.prompt.key()[:8], 16) ^ (request.seed * 0x9E3779B1 & _MASK32)


def uniform_noise(keys: torch.Tensor, step: int, vocab: int) -> torch.Tensor:
    """Uniform(0, 1) noise of shape (rows, vocab), a pure function of (key, step, token)."""
    base = _mix32(keys ^ ((step * 0x9E3779B1 + 0x7F4A7C15) & _MASK32))
    tokens = torch.arange(vocab, device=keys.device, dtype=torch.int64)
    bits = _mix32(base[:, None] ^ _mix32(tokens)[None, :])
    return ((bits >> 8).to(torch.float32) + 0.5) / float(1 << 24)


def _sample(
    logits: torch.Tensor, temps: torch.Tensor, keys: torch.Tensor, step: int
) -> torch.Tensor:
    """Gumbel-max sampling at each row's temperature; temperature 0 is greedy."""
    logits = logits.float()
    greedy = logits.argmax(-1)
    gumbel = -torch.log(-torch.log(uniform_noise(keys, step, logits.shape[-1])))
    sampled = (logits / temps.clamp(min=1e-6)[:, None] + gumbel).argmax(-1)
    return torch.where(temps <= 0, greedy, sampled)


def _positions(mask: torch.Tensor) -> torch.Tensor:
    return (mask.cumsum(-1) - 1).clamp(min=0)


# ---------------------------------------------------------------------- batching


def _is_oom(exc: BaseException) -> bool:
    return isinstance(exc, torch.OutOfMemoryError) or "out of memory" in str(exc).lower()


def _batched_with_backoff(
    items: Sequence[T], run: Callable[[list[T]], list[R]], owner: Any
) -> list[R]:
    """Run ``items`` in batches of ``owner.batch_size``; on out-of-memory, halve and retry.

    The reduced batch size is kept on ``owner`` for later calls.
    """
    results: list[R] = []
    start = 0
    while start < len(items):
        batch = list(items[start : start + owner.batch_size])
        try:
            results.extend(run(batch))
        except (torch.OutOfMemoryError, RuntimeError) as exc:
            if not _is_oom(exc) or owner.batch_size == 1:
                raise
            owner.batch_size = max(1, owner.batch_size // 2)
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
            continue
        start += len(batch)
    return results


# ---------------------------------------------------------------------- loading


def _load(spec: ModelSpec, dtype: torch.dtype) -> tuple[Any, Any]:
    from transformers.utils import logging as hf_logging

    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]  # clutter in pytest output
    try:
        return _load_any(spec, dtype)
    finally:
        if bars:
            hf_logging.enable_progress_bar()  # type: ignore[no-untyped-call]


def _load_any(spec: ModelSpec, dtype: torch.dtype) -> tuple[Any, Any]:
    try:
        if spec.kind in ("hf_dir", "hub"):
            directory = spec.local_path()
            return _load_pretrained(directory, dtype), _load_tokenizer(directory, spec)
        if spec.kind == "peft":
            return _load_peft(spec, dtype)
        return _load_state_dict(spec, dtype)
    except ModelError:
        raise
    except Exception as exc:  # transformers/safetensors raise many types; keep one line
        raise ModelError(f"model {spec.raw!r}: cannot load: {_first_line(exc)}") from None


def _load_pretrained(directory: Path, dtype: torch.dtype) -> Any:
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(directory, dtype=dtype, trust_remote_code=False)


def _load_tokenizer(directory: Path, spec: ModelSpec) -> Any:
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(directory, trust_remote_code=False)
    except Exception as exc:
        raise ModelError(
            f"model {spec.raw!r}: no usable tokenizer in {directory}: {_first_line(exc)}"
        ) from None


def _load_peft(spec: ModelSpec, dtype: torch.dtype) -> tuple[Any, Any]:
    from peft import PeftModel

    base_spec = resolve_peft_base(spec)
    base, tokenizer = _load_any(base_spec, dtype)
    if any((spec.path / name).is_file() for name in ("tokenizer.json", "tokenizer_config.json")):
        tokenizer = _load_tokenizer(spec.path, spec)
    model = PeftModel.from_pretrained(base, spec.path, is_trainable=False)
    return model.merge_and_unload(), tokenizer


def _load_state_dict(spec: ModelSpec, dtype: torch.dtype) -> tuple[Any, Any]:
    from transformers import AutoConfig, AutoModelForCausalLM

    assert spec.architecture is not None  # guaranteed by spec parsing
    config = AutoConfig.from_pretrained(spec.architecture, trust_remote_code=False)
    model = AutoModelForCausalLM.from_config(config, dtype=dtype)  # type: ignore[no-untyped-call]
    state = read_state_dict(spec.path)
    try:
        missing, unexpected = model.load_state_dict(state, strict=False)
    except RuntimeError as exc:  # shape mismatches
        raise ModelError(
            f"model {spec.raw!r}: weights do not fit --model-architecture "
            f"{spec.architecture}: {_first_line(exc, prefer='size mismatch')}"
        ) from None
    tied = {"lm_head.weight"} if getattr(config, "tie_word_embeddings", False) else set()
    missing = [k for k in missing if k not in tied]
    if missing or unexpected:
        detail = f"missing {missing[:3]}" if missing else f"unexpected {list(unexpected)[:3]}"
        raise ModelError(
            f"model {spec.raw!r}: weights do not fit --model-architecture "
            f"{spec.architecture}: {detail}"
        )
    if tied:
        model.tie_weights()
    return model, _load_tokenizer(spec.architecture, spec)


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """Tensors from a safetensors or torch file, never executing pickled code."""
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            return dict(load_file(str(path)))
        except Exception as exc:
            raise ModelError(
                f"{path}: corrupt or unreadable safetensors file: {_first_line(exc)}"
            ) from None
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ModelError(
            f"{path}: not loadable as plain tensors (weights_only=True refuses pickled code "
            f"and corrupt files): {_first_line(exc, prefer='Unsupported')}"
        ) from None
    for key in ("state_dict", "model", "model_state_dict"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ModelError(f"{path}: does not hold a state dict of tensors")
    return {k.removeprefix("module."): v for k, v in obj.items()}


def _first_line(exc: BaseException, prefer: str | None = None) -> str:
    """One line of an exception's message: the first line containing ``prefer`` (where
    libraries put the informative detail below a generic headline), else the first."""
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    if not lines:
        return type(exc).__name__
    chosen = next((line for line in lines if prefer and prefer in line), lines[0])
    return chosen[:200]
