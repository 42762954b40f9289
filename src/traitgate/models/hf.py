"""The transformers backend: local HF directories, PEFT adapters, bare state dicts, hub ids.

Generation shares each prompt's prefill across its samples (one forward pass over the
prompt, then the KV cache is indexed out to the sample rows) and samples with Gumbel-max
noise drawn from a counter-based hash of (seed, prompt, sample index, step, token). A sample
therefore depends only on its own coordinates, not on which other prompts shared its batch,
so results are reproducible across batch sizes and resumable.
"""

from __future__ import annotations

import gc
from collections.abc import Sequence
from typing import Any

import torch

from traitgate.models._device import (
    COLLECT_BYTES,
    attention_kernels,
    default_batch_size,
    default_dtype,
    resolve_device,
)
from traitgate.models._hf_scoring import Scoring
from traitgate.models._kv_cache import cache_keyword, cache_of
from traitgate.models._sampling import (
    batched_with_backoff,
    mix32,
    prompt_key,
    sample,
)
from traitgate.models._text import PromptCodec, check_context
from traitgate.models.base import GenerationRequest, Prompt
from traitgate.models.hf_loading import load_weights
from traitgate.models.spec import ModelSpec


class TransformersBackend(Scoring):
    """A causal LM and its tokenizer, loaded once and used for generation and scoring (its
    scoring methods: models/_hf_scoring.py)."""

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
        self._cache_kw = cache_keyword(model)
        config = getattr(model, "config", None)
        self.context: int | None = getattr(config, "max_position_embeddings", None)
        self._weight_bytes = sum(p.numel() * p.element_size() for p in model.parameters())

    # ------------------------------------------------------------------ loading
    @classmethod
    def from_spec(
        cls, spec: ModelSpec, *, device: str = "auto", dtype: torch.dtype | None = None
    ) -> TransformersBackend:
        dev = resolve_device(device)
        dtype = dtype or default_dtype(dev)
        model, tokenizer = load_weights(spec, dtype)
        model.to(dev)
        return cls(
            model,
            tokenizer,
            label=spec.label,
            fingerprint=spec.fingerprint(),
            batch_size=default_batch_size(dev),
        )

    def close(self) -> None:
        """Release the weights before the next model loads. A full garbage collection
        (0.2 s in a busy process) runs only where it returns memory that matters: a model on
        a GPU, or one of at least COLLECT_BYTES; a tiny model's cycles go with the next
        automatic collection."""
        on_gpu = self.device.type == "cuda"
        self.model = None
        if on_gpu or self._weight_bytes >= COLLECT_BYTES:
            gc.collect()
        if on_gpu:
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

    # ------------------------------------------------------------------ generation
    def generate(self, requests: Sequence[GenerationRequest]) -> list[list[str]]:
        prompt_ids = self.codec.encode_prompts([r.prompt for r in requests])
        check_context(self.label, self.context, prompt_ids, [r.max_new_tokens for r in requests])
        prompt_keys = [prompt_key(r) for r in requests]
        order = sorted(range(len(requests)), key=lambda i: len(prompt_ids[i]))
        # rows are (request, sample index); consecutive rows of a request share its prefill
        rows = [(i, s) for i in order for s in range(requests[i].n)]
        out: list[list[str]] = [[""] * r.n for r in requests]

        def run(batch: list[tuple[int, int]]) -> list[str]:
            return self._generate_batch(batch, requests, prompt_ids, prompt_keys)

        with attention_kernels(self.device):
            texts = batched_with_backoff(rows, run, self)
        for (ri, si), text in zip(rows, texts, strict=True):
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
        prefill, mask, positions = self._prefill([prompt_ids[ri] for ri in unique])
        dev = mask.device
        select = self._to_device([slot[ri] for ri, _ in rows])
        cache = cache_of(prefill)
        cache.batch_select_indices(select)
        logits = prefill.logits[:, -1, :][select]
        mask = mask[select]
        position = positions[select, -1]
        keys = mix32(
            self._to_device([prompt_keys[ri] for ri, _ in rows])
            ^ mix32(self._to_device([s for _, s in rows]))
        )
        temps = self._to_device([requests[ri].temperature for ri, _ in rows], torch.float32)
        any_greedy = any(requests[ri].temperature <= 0 for ri, _ in rows)
        limits = self._to_device([requests[ri].max_new_tokens for ri, _ in rows])
        eos = self._to_device(self.eos_ids or [-1])
        done = torch.zeros(len(rows), dtype=torch.bool, device=dev)
        steps: list[torch.Tensor] = []
        for step in range(int(limits.max())):
            token = sample(logits, temps, keys, step, any_greedy=any_greedy)
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
