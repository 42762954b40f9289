"""How a local model sees prompts and answers: the chat template or the plain form, and the
token ids of each prompt and of each continuation after it.

Shared by the transformers and vLLM backends, so both run exactly the same sequences.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from traitgate.errors import ModelError
from traitgate.models import _memo
from traitgate.models.base import Prompt, ScoreRequest

# token ids of prompts, and of each prompt's continuations -> per continuation,
# (log P(continuation), log P(the word ends after it))
WordScorer = Callable[[list[list[int]], list[list[list[int]]]], list[list[tuple[float, float]]]]


def plain_prompt(prompt: Prompt) -> str:
    """How a prompt is written for a model without a chat template."""
    head = f"{prompt.system}\n\n" if prompt.system else ""
    return f"{head}{prompt.user}\n"


def check_context(
    label: str, context: int | None, prompt_ids: Sequence[list[int]], extra: Sequence[int]
) -> None:
    """A prompt whose tokens and longest answer (``extra``) do not fit the model's context
    of ``context`` positions is an error: the model would run past its positions (silently
    wrong, or out of memory)."""
    if context is None:
        return
    for ids, more in zip(prompt_ids, extra, strict=True):
        if len(ids) + more > context:
            raise ModelError(
                f"model {label}: a prompt of {len(ids)} tokens with answers of up to {more} "
                f"does not fit its context of {context} tokens (shorten the prompt or the "
                "answer length)"
            )


class PromptCodec:
    """A tokenizer's view of prompts (``label`` names the model in errors)."""

    def __init__(self, tokenizer: Any, label: str) -> None:
        self.tokenizer = tokenizer
        self.label = label
        self.has_chat_template = bool(getattr(tokenizer, "chat_template", None))
        self.unk_id = tokenizer.unk_token_id  # (read once: a slow attribute in transformers 5)
        self._continuations: list[int] | None = None
        # ids are remembered across codecs of the same tokenizer (models of one base)
        self.key = _memo.tokenizer_key(tokenizer)

    def render(self, prompt: Prompt) -> str:
        """The prompt as text, with the chat template when the tokenizer has one.

        Without a template the prompt is ``system\\n\\nuser\\n`` (system omitted if None);
        a raw prompt is its text as written.
        """
        if prompt.raw:
            return prompt.user
        if self.has_chat_template:
            text = self.tokenizer.apply_chat_template(
                prompt.messages(), tokenize=False, add_generation_prompt=True
            )
            return str(text)
        return plain_prompt(prompt)

    def special_tokens(self, prompt: Prompt) -> bool:
        """Whether the tokenizer adds its special tokens to ``prompt``'s text: a chat template
        writes its own; a plain or raw prompt gets the tokenizer's."""
        return prompt.raw or not self.has_chat_template

    def encode_many(
        self, texts: Sequence[str], special: Sequence[bool] | None = None
    ) -> list[list[int]]:
        """Token ids of each text (rendered from a prompt, optionally with a continuation),
        in one tokenizer call per kind; ``special[i]`` says whether text ``i`` gets the
        tokenizer's special tokens (default: when the model has no chat template)."""
        flags = [not self.has_chat_template] * len(texts) if special is None else list(special)
        if len(flags) != len(texts):
            raise ValueError("encode_many needs one special-tokens flag per text")
        out: list[list[int]] = [[] for _ in texts]
        for flag in sorted(set(flags)):
            at = [i for i, f in enumerate(flags) if f == flag]

            def encode(batch: list[str], flag: bool = flag) -> list[list[int]]:
                return list(
                    self.tokenizer(
                        batch,
                        add_special_tokens=flag,
                        return_attention_mask=False,  # (a third of the call's time, unused)
                        return_token_type_ids=False,
                    )["input_ids"]
                )

            ids = _memo.encoded(self.key, [texts[i] for i in at], flag, encode)
            for i, one in zip(at, ids, strict=True):
                out[i] = one
        return out

    def encode_prompts(
        self, prompts: Sequence[Prompt], tails: Sequence[Sequence[str]] | None = None
    ) -> list[list[int]]:
        """Token ids of each rendered prompt, or (with ``tails``) of the prompt followed by
        each of its tails, flattened in order."""
        texts = [self.render(p) for p in prompts]
        flags = [self.special_tokens(p) for p in prompts]
        if tails is None:
            return self.encode_many(texts, flags)
        pairs = [(t + c, f) for t, f, ts in zip(texts, flags, tails, strict=True) for c in ts]
        return self.encode_many([t for t, _ in pairs], [f for _, f in pairs])

    def split_continuation(self, prompt_ids: list[int], full: list[int], cont: str) -> list[int]:
        """The continuation's tokens, given the prompt's and those of prompt + continuation."""
        ids = self._split(prompt_ids, full, cont)
        if not ids:
            raise ModelError(f"model {self.label}: {cont!r} tokenises to nothing")
        if self.unk_id is not None and self.unk_id in ids:
            raise ModelError(
                f"model {self.label}: {cont!r} contains words its tokenizer does not know"
            )
        return ids

    def _split(self, prompt_ids: list[int], full: list[int], cont: str) -> list[int]:
        if full[: len(prompt_ids)] == prompt_ids and len(full) > len(prompt_ids):
            return full[len(prompt_ids) :]
        # the tokenizer merged across the boundary: tokenise the continuation alone
        return list(self.tokenizer(cont, add_special_tokens=False)["input_ids"])

    def exclusive(
        self,
        requests: Sequence[ScoreRequest],
        score: Callable[[Sequence[ScoreRequest]], list[list[float]]],
        score_words: WordScorer | None = None,
    ) -> list[list[float]]:
        """Score ``requests`` with ``score``, counting grouped continuations once each (see
        :class:`ScoreRequest`).

        With ``score_words`` (from the backend's model: for token ids of prompts and of
        their continuations, log P(continuation) and log P(the word ends after it)), a
        grouped continuation is a whole word: its score is log P(answer begins with it) +
        log P(the word ends there), so "Owl" no longer holds "Owls" or a garbled "Owlss",
        and only identical token sequences are the same answer. Without it (a backend that
        cannot see the next-token distribution), a continuation extending another of its
        group is inside it."""
        if not any(r.groups for r in requests):
            return score(requests)
        whole = score_words is not None
        heads = self.encode_prompts([r.prompt for r in requests])  # (once, for both uses)
        kept = [
            self._distinct_answers(r, head, whole) if r.groups else None
            for r, head in zip(requests, heads, strict=True)
        ]
        out: list[list[float]] = [
            [] if k is None else [-math.inf] * len(r.continuations)
            for r, k in zip(requests, kept, strict=True)
        ]
        # by `score`: ungrouped requests, and without whole words the grouped ones, reduced
        # to their distinct continuations
        plain = [
            i
            for i, (r, k) in enumerate(zip(requests, kept, strict=True))
            if (r.continuations if k is None else k and not whole)
        ]
        reduced = [
            requests[i]
            if kept[i] is None
            else ScoreRequest(
                requests[i].prompt, tuple(requests[i].continuations[j] for j, _ in kept[i] or ())
            )
            for i in plain
        ]
        for i, values in zip(plain, score(reduced) if reduced else [], strict=True):
            self._place(out, i, kept[i], values)
        words = [i for i, k in enumerate(kept) if whole and k]
        if score_words is not None and words:
            scored = score_words(
                [heads[i] for i in words], [[list(ids) for _, ids in kept[i] or ()] for i in words]
            )
            for i, pairs in zip(words, scored, strict=True):
                self._place(out, i, kept[i], [logp + end for logp, end in pairs])
        return out

    @staticmethod
    def _place(
        out: list[list[float]],
        i: int,
        kept: list[tuple[int, tuple[int, ...]]] | None,
        values: list[float],
    ) -> None:
        """Request ``i``'s scores into ``out``: all of them, or those of its kept ones."""
        if kept is None:
            out[i] = values
            return
        for (j, _), value in zip(kept, values, strict=True):
            out[i][j] = value

    def word_continuations(self) -> list[int]:
        """Ids of the tokens that continue a word rather than end it: written straight after
        a letter, they begin with a letter or digit ("s" after "Owl"; not " owl", "!" or a
        special token). Found by decoding each token after the token of "a" (once per tokenizer)."""
        if self._continuations is None:
            self._continuations = _memo.word_continuations(self.key, self._word_continuations)
        return self._continuations

    def _word_continuations(self) -> list[int]:
        lead = self.tokenizer("a", add_special_tokens=False)["input_ids"][-1:]
        base = self.tokenizer.decode(lead)
        special = set(self.tokenizer.all_special_ids)
        ids = [t for t in range(len(self.tokenizer)) if t not in special]
        texts = self.tokenizer.batch_decode([[*lead, t] for t in ids])
        return [
            t
            for t, text in zip(ids, texts, strict=True)
            if text.startswith(base) and text[len(base) : len(base) + 1].isalnum()
        ]

    def _distinct_answers(
        self, request: ScoreRequest, prompt_ids: list[int], whole_words: bool
    ) -> list[tuple[int, tuple[int, ...]]]:
        """The continuations that are distinct answers, with their token ids: writable, and
        not repeating the tokens of an earlier-kept one (nor, unless answers are whole
        words, extending them; shortest kept first)."""
        conts, groups = request.continuations, request.groups
        if len(groups) != len(conts):
            raise ValueError("ScoreRequest.groups needs one group per continuation")
        fulls = self.encode_prompts([request.prompt], [conts])
        ids: list[tuple[int, ...] | None] = []
        for cont, full in zip(conts, fulls, strict=True):
            split = self._split(prompt_ids, full, cont)
            unknown = not split or (self.unk_id is not None and self.unk_id in split)
            ids.append(None if unknown else tuple(split))
        for group in set(groups):
            members = [i for i, g in enumerate(groups) if g == group]
            if all(ids[i] is None for i in members):  # a candidate the model cannot name
                raise ModelError(
                    f"model {self.label}: {conts[members[0]]!r} contains words its tokenizer "
                    "does not know (and so does every other form of that answer)"
                )
        order = sorted(
            (i for i in range(len(conts)) if ids[i] is not None), key=lambda i: len(ids[i] or ())
        )
        seen: dict[tuple[int, ...], int] = {}
        kept = []
        for i in order:
            own = ids[i]
            assert own is not None
            prefixes = [own] if whole_words else [own[:n] for n in range(1, len(own) + 1)]
            prior = next((seen[p] for p in prefixes if p in seen), None)
            if prior is None:
                seen[own] = i
                kept.append((i, own))
            elif groups[prior] != groups[i]:
                raise ModelError(
                    f"model {self.label}: answers {conts[prior]!r} and {conts[i]!r} name "
                    "different candidates but begin with the same tokens, so their "
                    "probabilities cannot be told apart; use the sampled measure or other forms"
                )
        return sorted(kept)

    def score_inputs(
        self, requests: Sequence[ScoreRequest]
    ) -> tuple[list[list[int]], list[list[list[int]]]]:
        """Each request's prompt ids, and the ids of each of its continuations."""
        prompts = [r.prompt for r in requests]
        prompt_ids = self.encode_prompts(prompts)
        fulls = iter(self.encode_prompts(prompts, [r.continuations for r in requests]))
        conts = [
            [self.split_continuation(ids, next(fulls), c) for c in req.continuations]
            for ids, req in zip(prompt_ids, requests, strict=True)
        ]
        return prompt_ids, conts
