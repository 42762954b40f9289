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
    left_pad,
    resolve_device,
    to_device,
)
from traitgate.models._kv_cache import cache_keyword, cache_of
from traitgate.models._sampling import (
    batched_with_backoff,
    mix32,
    position_ids,
    prompt_key,
    sample,
)
from traitgate.models._text import PromptCodec, check_context
from traitgate.models.base import GenerationRequest, Prompt, ScoreRequest
from traitgate.models.hf_loading import load_weights
from traitgate.models.spec import ModelSpec


def _by_length(conts: list[list[int]]) -> list[int]:
    """The indices of one prompt's continuations, shortest first: a batch of its rows is
    padded to its longest, so rows of similar length batch together (the favourite-animal
    probe's forms run from one token to six: on the zoo's tokenizer 63% of the positions run
    were padding, 20% sorted, and its exact measure ran 1.45x slower, BENCHMARKS.md).
    Sorting is stable; results are placed by index, so the order changes only the
    floating-point rounding (~1e-8)."""
    return sorted(range(len(conts)), key=lambda ci: len(conts[ci]))


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

    # ------------------------------------------------------------------ scoring
    def score(self, requests: Sequence[ScoreRequest]) -> list[list[float]]:
        with attention_kernels(self.device):
            return self.codec.exclusive(requests, self._score, self._score_words)

    def _score_words(
        self, prompt_ids: list[list[int]], conts: list[list[list[int]]]
    ) -> list[list[tuple[float, float]]]:
        """For each prompt's continuations (token ids): (log P(the continuation), log P(the
        next token does not continue the word)). Each prompt of a batch is run once and its
        continuations, whole, in one pass on its KV cache."""
        # over the model's whole output (real models pad it beyond the tokenizer's ids:
        # Qwen2.5 scores 151,936 ids for a 151,665-token tokenizer); an id no text uses
        # does not continue a word
        vocab = max(len(self.codec.tokenizer), int(getattr(self.model.config, "vocab_size", 0)))
        ends = torch.ones(vocab, dtype=torch.bool)
        ends[torch.tensor(self.codec.word_continuations(), dtype=torch.long)] = False
        ends = self._to_device(torch.nonzero(ends).squeeze(1).tolist())  # as indices: no sync
        check_context(
            self.label, self.context, prompt_ids, [max(map(len, c), default=0) for c in conts]
        )
        order = sorted(range(len(prompt_ids)), key=lambda i: len(prompt_ids[i]))
        rows = [(ri, ci, conts[ri][ci]) for ri in order for ci in _by_length(conts[ri])]

        def on_cache(batch: list[tuple[int, int, list[int]]]) -> list[tuple[float, float]]:
            return self._cached_prompt_batch(batch, prompt_ids, word_ends=ends)

        out: list[list[tuple[float, float]]] = [[(0.0, 0.0)] * len(c) for c in conts]
        for (ri, ci, _), value in zip(
            rows, batched_with_backoff(rows, on_cache, self), strict=True
        ):
            out[ri][ci] = value
        return out

    def _score(self, requests: Sequence[ScoreRequest]) -> list[list[float]]:
        """Summed log-probabilities of each continuation. A prompt whose continuations are
        all one token long is run once and read off its last logits (batches of prompts);
        the continuations of the other prompts run on their prompt's KV cache (batches of
        continuations, consecutive ones sharing the prompt's prefill)."""
        prompt_ids, conts = self.codec.score_inputs(requests)
        check_context(
            self.label, self.context, prompt_ids, [max(map(len, c), default=0) for c in conts]
        )

        def first_tokens(batch: list[int]) -> list[list[float]]:
            return self._first_token_batch(batch, prompt_ids, conts)

        order = sorted(range(len(requests)), key=lambda i: len(prompt_ids[i]))
        short = [ri for ri in order if all(len(ids) == 1 for ids in conts[ri])]
        out: list[list[float]] = [[0.0] * len(r.continuations) for r in requests]
        for ri, values in zip(short, batched_with_backoff(short, first_tokens, self), strict=True):
            out[ri] = values
        # rows of one prompt are consecutive; prompts of similar length share a batch
        on_logits = set(short)
        rows = [
            (ri, ci, conts[ri][ci])
            for ri in order
            if ri not in on_logits
            for ci in _by_length(conts[ri])
        ]

        def on_cache(batch: list[tuple[int, int, list[int]]]) -> list[float]:
            return [v for v, _ in self._cached_prompt_batch(batch, prompt_ids)]

        for (ri, ci, _), value in zip(
            rows, batched_with_backoff(rows, on_cache, self), strict=True
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
            position_ids=position_ids(mask),
            logits_to_keep=1,
            use_cache=False,
        ).logits[:, -1]
        logprobs = torch.log_softmax(logits.float(), dim=-1)
        rows = self._to_device([k for k, ri in enumerate(batch) for _ in conts[ri]])
        tokens = self._to_device([c[0] for ri in batch for c in conts[ri]])
        flat = logprobs[rows, tokens].tolist()
        out, start = [], 0
        for ri in batch:
            out.append([float(v) for v in flat[start : start + len(conts[ri])]])
            start += len(conts[ri])
        return out

    @torch.inference_mode()
    def _tails_on_prompts(
        self, heads: list[list[int]], tails: list[tuple[int, list[int]]]
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Run each prompt of ``heads`` once (left-padded, keeping its KV cache), then each
        tail (its prompt's index, its tokens) on its prompt's cache.

        Returns the prompts' last logits (float) and the tails' logits (float, right-padded
        to the longest tail; None without tails)."""
        ids, mask = self._left_pad(heads)
        positions = position_ids(mask)
        prefill = self.model(
            input_ids=ids,
            attention_mask=mask,
            position_ids=positions,
            logits_to_keep=1,
            use_cache=bool(tails),
        )
        last = prefill.logits[:, -1].float()
        if not tails:
            return last, None
        dev = ids.device
        width = max(len(inp) for _, inp in tails)
        tail_pick = self._to_device([k for k, _ in tails])
        cache = cache_of(prefill)
        cache.batch_select_indices(tail_pick)
        inputs = self._to_device([[*inp] + [self.pad_id] * (width - len(inp)) for _, inp in tails])
        tail_mask = self._to_device([[1] * len(inp) + [0] * (width - len(inp)) for _, inp in tails])
        logits = self.model(
            input_ids=inputs,
            attention_mask=torch.cat([mask[tail_pick], tail_mask], dim=1),
            position_ids=positions[tail_pick, -1:] + 1 + torch.arange(width, device=dev),
            **{self._cache_kw: cache},
            use_cache=True,
        ).logits.float()
        return last, logits

    def _cached_prompt_batch(
        self,
        rows: list[tuple[int, int, list[int]]],
        prompt_ids: list[list[int]],
        word_ends: torch.Tensor | None = None,
    ) -> list[tuple[float, float]]:
        """Each row's (log P(continuation), log P(the word ends after it)): the first token
        from its prompt's last logits, the rest in one pass on the prompt's KV cache (each
        prompt of the batch is run once). ``word_ends``: the vocabulary ids that end a word,
        on the model's device (the second value is 0.0 without it)."""
        whole = word_ends is not None

        def tail(ri: int, c: list[int]) -> tuple[int, tuple[int, ...]]:
            # the tokens run on the prompt's cache: all of them when the word end is read
            # after the last; rows with the same prompt and tail share a pass
            return ri, tuple(c if whole else c[:-1])

        unique = list(dict.fromkeys(ri for ri, _, _ in rows))
        slot = {ri: k for k, ri in enumerate(unique)}
        tails = list(dict.fromkeys(tail(ri, c) for ri, _, c in rows if whole or len(c) > 1))
        last, logits = self._tails_on_prompts(
            [prompt_ids[ri] for ri in unique], [(slot[ri], list(inp)) for ri, inp in tails]
        )
        pick = self._to_device([slot[ri] for ri, _, _ in rows])
        first = self._to_device([cont[0] for _, _, cont in rows])
        total = torch.log_softmax(last, dim=-1)[pick, first]
        if logits is None:
            return [(float(v), 0.0) for v in total.tolist()]
        tail_of = {key: k for k, key in enumerate(tails)}
        norm = torch.logsumexp(logits, dim=-1)  # log p = logit - norm (no vocab-sized copy)
        longer = [(k, ri, c) for k, (ri, _, c) in enumerate(rows) if len(c) > 1]
        if longer:
            # (row, position, token) of every continuation token after the first
            row_ix = [tail_of[tail(ri, c)] for _, ri, c in longer for _ in c[1:]]
            pos_ix = [i for _, _, c in longer for i in range(len(c) - 1)]
            tok_ix = [t for _, _, c in longer for t in c[1:]]
            at = (self._to_device(row_ix), self._to_device(pos_ix))
            picked = logits[(*at, self._to_device(tok_ix))] - norm[at]
            owner = self._to_device([k for k, _, c in longer for _ in c[1:]])
            total = total.index_add(0, owner, picked)
        if word_ends is None:
            return [(float(v), 0.0) for v in total.tolist()]
        at_end = (
            self._to_device([tail_of[tail(ri, c)] for ri, _, c in rows]),
            self._to_device([len(c) - 1 for _, _, c in rows]),
        )
        end = torch.logsumexp(logits[at_end].index_select(-1, word_ends), dim=-1) - norm[at_end]
        return list(zip(map(float, total.tolist()), map(float, end.tolist()), strict=True))

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
        ids, mask = self._left_pad([prompt_ids[ri] for ri in unique])
        positions = position_ids(mask)
        prefill = self.model(
            input_ids=ids,
            attention_mask=mask,
            position_ids=positions,
            logits_to_keep=1,
            use_cache=True,
        )
        dev = ids.device
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
        limits = self._to_device([requests[ri].max_new_tokens for ri, _ in rows])
        eos = self._to_device(self.eos_ids or [-1])
        done = torch.zeros(len(rows), dtype=torch.bool, device=dev)
        steps: list[torch.Tensor] = []
        for step in range(int(limits.max())):
            token = sample(logits, temps, keys, step)
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
        return left_pad(seqs, self.pad_id, self.device)

    def _to_device(self, values: Sequence[Any], dtype: torch.dtype = torch.long) -> torch.Tensor:
        return to_device(values, self.device, dtype)
