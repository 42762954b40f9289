"""The backend protocol: what every model backend (transformers, inspect-ai, vLLM) provides.

Requests are plain frozen dataclasses so they can be hashed, cached and sent between
processes. A backend never sees probe suites, only prompts.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

# The version of the transformers backend's sampler (models/_sampling.py): the draws a seed
# gives. Bump it when they change: answer-cache keys of generations and sampled baselines
# carry it, so answers drawn before are neither read back nor compared with new ones.
# 2: the top noise bin's draw fixed (2026-11-25; sampler 1 drew a random token there).
SAMPLER = 2


@dataclass(frozen=True)
class Prompt:
    """One user turn, optionally with a system prompt.

    ``raw``: a completion prompt. A local model reads ``user`` exactly as written (no chat
    template, no system prompt, nothing appended) after its tokenizer's own special tokens
    (a BOS token where the tokenizer adds one), as lm-eval's ``hf`` model does by default.
    """

    user: str
    system: str | None = None
    raw: bool = False

    def messages(self) -> list[dict[str, str]]:
        msgs = [] if self.system is None else [{"role": "system", "content": self.system}]
        msgs.append({"role": "user", "content": self.user})
        return msgs

    def key(self) -> str:
        """Stable identity of the prompt (used to seed sampling and key caches)."""
        text = f"{self.system!r}\x00{self.user}" + ("\x00raw" if self.raw else "")
        return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class GenerationRequest:
    """Draw ``n`` completions of ``prompt``. Sample ``i`` depends only on (seed, prompt, i)."""

    prompt: Prompt
    n: int = 1
    temperature: float = 1.0
    max_new_tokens: int = 16
    seed: int = 0


@dataclass(frozen=True)
class ScoreRequest:
    """Log-probability of each continuation as the beginning of the answer to ``prompt``.

    ``groups`` (optional, one per continuation) marks the continuations as alternative
    answers, grouped by what they name. A backend that knows its tokens then scores each as
    a whole word counted once: the transformers backend scores the probability that the
    answer begins with the continuation *and the word ends there* (the next token does not
    continue it), so "Owl" does not hold "Owls"; identical token sequences are one answer
    (in two groups, an error); one the tokenizer cannot write scores -inf. vLLM, which does
    not return the next-token distribution, scores beginnings instead (a continuation
    extending another of its group is inside it). Backends without a tokenizer ignore it.
    """

    prompt: Prompt
    continuations: tuple[str, ...]
    groups: tuple[int, ...] = ()


@runtime_checkable
class Backend(Protocol):
    """A loaded model. ``fingerprint`` identifies its exact weights."""

    label: str
    fingerprint: str

    def generate(self, requests: Sequence[GenerationRequest]) -> list[list[str]]:
        """For each request, its ``n`` completions (text after the prompt)."""
        ...

    def score(self, requests: Sequence[ScoreRequest]) -> list[list[float]]:
        """For each request, the summed log-probability of each continuation's tokens."""
        ...

    def close(self) -> None:
        """Release the model's memory."""
        ...
