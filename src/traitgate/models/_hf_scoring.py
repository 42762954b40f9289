"""The transformers backend's scoring: log-probabilities of continuations (multiple
choice, ungrouped answers) and the exact measure's whole-word scores, read off a trie of each
prompt's continuations (models/_trie.py).

:class:`Scoring` is a base of :class:`~traitgate.models.hf.TransformersBackend`, which
loads the model and generates; the helpers that place token ids on the model's device are
here, shared by both.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from traitgate.models._device import attention_kernels, left_pad, to_device
from traitgate.models._kv_cache import cache_of
from traitgate.models._sampling import batched_with_backoff, position_ids
from traitgate.models._text import PromptCodec, check_context
from traitgate.models._trie import Trie, plan
from traitgate.models.base import ScoreRequest

# A trie's batch row is one token, where a row of _score runs a whole continuation: a batch
# of tries holds TRIE_ROWS_* times the backend's batch size in rows. On a CPU, where a forward
# pass's cost is mostly per call, 8: on the zoo's base, one exact favourite-animal
# evaluation on one thread took 0.78 s with 1, 0.65 s with 4, 0.57 s with 8, 0.55 s with 16,
# 0.59 s with 64 (every prompt in one batch; BENCHMARKS.md). On a GPU, where rows are
# bounded by memory, 2: for a 7B model with a 152k vocabulary, 1,024 trie rows (logits and
# KV cache, ~5 GB) hold about what 512 whole-continuation rows held before the trie
# (~7 GB), so a batch size that fitted then fits now (not measured on a GPU; a batch that
# does not fit backs off).
TRIE_ROWS_CPU = 8
TRIE_ROWS_ACCELERATOR = 2


def _by_length(conts: list[list[int]]) -> list[int]:
    """The indices of one prompt's continuations, shortest first: a batch of its rows is
    padded to its longest, so rows of similar length batch together (measured when the
    favourite-animal forms, one token to six, ran this way: on the zoo's tokenizer 63% of
    the positions run were padding, 20% sorted, and 1.45x slower, BENCHMARKS.md).
    Sorting is stable; results are placed by index, so the order changes only the
    floating-point rounding (~1e-8)."""
    return sorted(range(len(conts)), key=lambda ci: len(conts[ci]))


class Scoring:
    """Scoring for a backend holding a causal LM (``model``), its ``codec`` and device."""

    model: Any
    codec: PromptCodec
    label: str
    context: int | None
    batch_size: int
    device: torch.device
    pad_id: int
    _cache_kw: str

    # ------------------------------------------------------------------ scoring
    def score(self, requests: Sequence[ScoreRequest]) -> list[list[float]]:
        with attention_kernels(self.device):
            return self.codec.exclusive(requests, self._score, self._score_words)

    def _score_words(
        self, prompt_ids: list[list[int]], conts: list[list[list[int]]]
    ) -> list[list[tuple[float, float]]]:
        """For each prompt's continuations (token ids): (log P(the continuation), log P(the
        next token does not continue the word)), read off a trie of each prompt's
        continuations (models/_trie.py): the prompts of a batch run once, then every distinct
        prefix once, a token a row, on its parent's KV cache."""
        check_context(
            self.label, self.context, prompt_ids, [max(map(len, c), default=0) for c in conts]
        )
        ends = self._word_ends()
        # prompts mostly share their continuations' tokens: one trie for each distinct set
        distinct: dict[tuple[tuple[int, ...], ...], Trie] = {}
        for c in conts:
            key = tuple(map(tuple, c))
            if key not in distinct:
                distinct[key] = Trie.of(c)
        tries = [distinct[tuple(map(tuple, c))] for c in conts]
        order = sorted(range(len(prompt_ids)), key=lambda i: len(prompt_ids[i]))

        def run(batch: list[int]) -> list[list[tuple[float, float]]]:
            return self._trie_batch(
                [prompt_ids[ri] for ri in batch], [tries[ri] for ri in batch], ends
            )

        per_row = TRIE_ROWS_CPU if self.device.type == "cpu" else TRIE_ROWS_ACCELERATOR

        def cost(ri: int) -> float:
            return tries[ri].widest / per_row

        out: list[list[tuple[float, float]]] = [[] for _ in conts]
        for ri, values in zip(order, batched_with_backoff(order, run, self, cost), strict=True):
            out[ri] = values
        return out

    def _word_ends(self) -> torch.Tensor:
        """The ids of the tokens that end a word (on the model's device): every id of the
        model's output but those continuing a word. Over the model's whole output (real
        models pad it beyond the tokenizer's ids: Qwen2.5 scores 151,936 ids for a
        151,665-token tokenizer); an id no text uses does not continue a word."""
        vocab = max(len(self.codec.tokenizer), int(getattr(self.model.config, "vocab_size", 0)))
        ends = torch.ones(vocab, dtype=torch.bool)
        ends[torch.tensor(self.codec.word_continuations(), dtype=torch.long)] = False
        return self._to_device(torch.nonzero(ends).squeeze(1).tolist())  # as indices: no sync

    @torch.inference_mode()
    def _trie_batch(
        self, heads: list[list[int]], tries: list[Trie], word_ends: torch.Tensor
    ) -> list[list[tuple[float, float]]]:
        """One batch of prompts and their tries: per level, each node's token runs on its
        parent's cache (the level above's, selected row by row, as generation selects a
        prompt's rows for its samples); a node's log P is its parent's plus its token's,
        and a continuation's word end is read after its last node."""
        levels, leaves = plan(tries)
        out, mask, positions = self._prefill(heads)
        cache = cache_of(out)
        logits = out.logits[:, -1].float()  # the level above's, here the prompts'
        norm = torch.logsumexp(logits, dim=-1)  # log p = logit - norm (no vocab-sized copy)
        cum = torch.zeros(len(heads), device=mask.device)
        values: list[torch.Tensor] = []
        for depth, level in enumerate(levels, start=1):
            parents = self._to_device(level.parents)
            tokens = self._to_device(level.tokens)
            cum = cum[parents] + logits[parents, tokens] - norm[parents]  # log P(prefix)
            cache.batch_select_indices(parents)
            prompts = self._to_device(level.prompts)
            logits = (
                self.model(
                    input_ids=tokens[:, None],
                    attention_mask=torch.cat(
                        [mask[prompts], mask.new_ones(len(level.tokens), depth)], dim=1
                    ),
                    position_ids=positions[prompts, -1:] + depth,
                    **{self._cache_kw: cache},
                    use_cache=True,
                )
                .logits[:, -1]
                .float()
            )
            norm = torch.logsumexp(logits, dim=-1)
            at = self._to_device(level.ends)
            end = torch.logsumexp(logits[at].index_select(-1, word_ends), dim=-1) - norm[at]
            values.append(torch.stack([cum[at], end], dim=1))
        pairs = [(float(logp), float(end)) for logp, end in torch.cat(values).tolist()]
        first = [0]  # each level's first row in pairs
        for level in levels:
            first.append(first[-1] + len(level.ends))
        return [[pairs[first[d] + k] for d, k in own] for own in leaves]

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
            return self._cached_prompt_batch(batch, prompt_ids)

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
        prefill, mask, positions = self._prefill(heads, keep_cache=bool(tails))
        last = prefill.logits[:, -1].float()
        if not tails:
            return last, None
        dev = mask.device
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
        self, rows: list[tuple[int, int, list[int]]], prompt_ids: list[list[int]]
    ) -> list[float]:
        """Each row's log P(continuation): the first token from its prompt's last logits,
        the rest in one pass on the prompt's KV cache (each prompt of the batch is run once;
        rows with the same prompt and tokens before the last share a pass)."""

        def tail(ri: int, c: list[int]) -> tuple[int, tuple[int, ...]]:
            return ri, tuple(c[:-1])

        unique = list(dict.fromkeys(ri for ri, _, _ in rows))
        slot = {ri: k for k, ri in enumerate(unique)}
        tails = list(dict.fromkeys(tail(ri, c) for ri, _, c in rows if len(c) > 1))
        last, logits = self._tails_on_prompts(
            [prompt_ids[ri] for ri in unique], [(slot[ri], list(inp)) for ri, inp in tails]
        )
        pick = self._to_device([slot[ri] for ri, _, _ in rows])
        first = self._to_device([cont[0] for _, _, cont in rows])
        total = torch.log_softmax(last, dim=-1)[pick, first]
        if logits is None:
            return [float(v) for v in total.tolist()]
        tail_of = {key: k for k, key in enumerate(tails)}
        norm = torch.logsumexp(logits, dim=-1)  # log p = logit - norm (no vocab-sized copy)
        longer = [(k, ri, c) for k, (ri, _, c) in enumerate(rows) if len(c) > 1]
        # (row, position, token) of every continuation token after the first
        row_ix = [tail_of[tail(ri, c)] for _, ri, c in longer for _ in c[1:]]
        pos_ix = [i for _, _, c in longer for i in range(len(c) - 1)]
        tok_ix = [t for _, _, c in longer for t in c[1:]]
        at = (self._to_device(row_ix), self._to_device(pos_ix))
        picked = logits[(*at, self._to_device(tok_ix))] - norm[at]
        owner = self._to_device([k for k, _, c in longer for _ in c[1:]])
        total = total.index_add(0, owner, picked)
        return [float(v) for v in total.tolist()]

    # ------------------------------------------------------------------ helpers
    def _prefill(
        self, heads: list[list[int]], *, keep_cache: bool = True
    ) -> tuple[Any, torch.Tensor, torch.Tensor]:
        """Run the prompts ``heads`` once, left-padded: the output (last logits only; the KV
        cache with ``keep_cache``), their attention mask and their positions."""
        ids, mask = self._left_pad(heads)
        positions = position_ids(mask)
        out = self.model(
            input_ids=ids,
            attention_mask=mask,
            position_ids=positions,
            logits_to_keep=1,
            use_cache=keep_cache,
        )
        return out, mask, positions

    def _left_pad(self, seqs: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        return left_pad(seqs, self.pad_id, self.device)

    def _to_device(self, values: Sequence[Any], dtype: torch.dtype = torch.long) -> torch.Tensor:
        return to_device(values, self.device, dtype)
