"""Candidates behind any inspect-ai provider: ``--model inspect:openai/gpt-4.1-nano``.

Generation: one call per sample, run concurrently; sample ``i`` of a request is asked with
its own seed (derived from the request's seed, the prompt and ``i``), so providers that
honour seeds give reproducible samples.

Scoring (the exact measure) needs the log-probability of given continuations, which API
providers do not return. Where a provider returns the top log-probabilities of its first
token, a continuation that is one of those tokens is scored exactly by it (summed over its
spellings with and without a leading space). For answer forms (a preference probe's, or the
binary format's letter forms), a form that is not among them (longer than one token, or too
unlikely to be listed) scores zero probability and shows as uncovered mass; any other
continuation that cannot be scored is a clear error asking for the sampled measure instead.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from traitgate.errors import ModelError, first_line
from traitgate.models.base import GenerationRequest, Prompt, ScoreRequest
from traitgate.models.spec import ModelSpec

TOP_LOGPROBS = 20


class InspectBackend:
    def __init__(self, model: Any, *, label: str, fingerprint: str, concurrency: int = 16) -> None:
        self.model = model
        self.label = label
        self.fingerprint = fingerprint
        self.concurrency = concurrency

    @classmethod
    def from_spec(cls, spec: ModelSpec, **model_args: Any) -> InspectBackend:
        from inspect_ai.model import get_model

        try:
            model = get_model(spec.location, **model_args)
        except Exception as exc:  # unknown provider, missing key or package
            raise ModelError(f"model {spec.raw!r}: {first_line(exc)}") from None
        return cls(model, label=spec.label, fingerprint=spec.fingerprint())

    def close(self) -> None:
        pass

    # ------------------------------------------------------------------ generation
    def generate(self, requests: Sequence[GenerationRequest]) -> list[list[str]]:
        jobs = [(r, i) for r in requests for i in range(r.n)]
        texts = asyncio.run(self._run([self._sample(r, i) for r, i in jobs]))
        out: list[list[str]] = []
        k = 0
        for r in requests:
            out.append(texts[k : k + r.n])
            k += r.n
        return out

    async def _sample(self, request: GenerationRequest, index: int) -> str:
        from inspect_ai.model import GenerateConfig

        config = GenerateConfig(
            temperature=request.temperature,
            max_tokens=request.max_new_tokens,
            seed=_sample_seed(request, index),
        )
        output = await self.model.generate(self._messages(request.prompt), config=config)
        if output.error:
            raise ModelError(f"model {self.label}: generation failed: {output.error}")
        return str(output.completion)

    # ------------------------------------------------------------------ scoring
    def score(self, requests: Sequence[ScoreRequest]) -> list[list[float]]:
        """First-token log-probabilities from the provider's top alternatives. For answer
        forms (``ScoreRequest.groups``), a form's score sums every top token that reads as
        the form (" owl" and "owl" are one answer, counted together); a form that is not
        among them, or takes more than one token, scores -inf and its mass stays outside
        the measure's covered share. Other continuations (mc1/mc2 choices) must be there."""
        firsts = asyncio.run(self._run([self._first_token(r.prompt) for r in requests]))
        out = []
        for request, top in zip(requests, firsts, strict=True):
            if top is None:
                raise ModelError(
                    f"model {self.label}: the provider returns no log-probabilities, so the "
                    "exact measure cannot be used; use measure: sampled"
                )
            mass: dict[str, float] = {}
            for token, logprob in top.items():
                key = token.strip()
                mass[key] = float(np.logaddexp(mass.get(key, -math.inf), logprob))
            row = []
            for cont in request.continuations:
                if cont not in mass and not request.groups:
                    raise ModelError(
                        f"model {self.label}: {cont!r} is not among the provider's top "
                        f"{TOP_LOGPROBS} first tokens, so it cannot be scored exactly; use "
                        "measure: sampled"
                    )
                row.append(mass.get(cont, -math.inf))
            out.append(row)
        return out

    async def _first_token(self, prompt: Prompt) -> dict[str, float] | None:
        """The provider's top first tokens (as written, with any leading space) and their
        log-probabilities; None when it returns none."""
        from inspect_ai.model import GenerateConfig

        config = GenerateConfig(
            temperature=0.0, max_tokens=1, logprobs=True, top_logprobs=TOP_LOGPROBS
        )
        output = await self.model.generate(self._messages(prompt), config=config)
        if output.error:
            raise ModelError(f"model {self.label}: scoring failed: {output.error}")
        try:
            first = output.choices[0].logprobs.content[0]
        except (AttributeError, IndexError, TypeError):
            return None
        tops: dict[str, float] = {}
        for alt in [*(first.top_logprobs or []), first]:
            tops.setdefault(alt.token, alt.logprob)  # the chosen token is usually listed too
        return tops

    def _messages(self, prompt: Prompt) -> list[Any]:
        from inspect_ai.model import ChatMessageSystem, ChatMessageUser

        if prompt.raw:  # providers take chat messages; a completion prompt would change
            raise ModelError(
                f"model {self.label}: a suite with chat_template: false (a completion "
                "prompt) needs a local model; inspect-ai providers take chat messages"
            )
        messages: list[Any] = (
            [] if prompt.system is None else [ChatMessageSystem(content=prompt.system)]
        )
        messages.append(ChatMessageUser(content=prompt.user))
        return messages

    async def _run(self, jobs: Sequence[Any]) -> list[Any]:
        gate = asyncio.Semaphore(self.concurrency)

        async def guarded(job: Any) -> Any:
            async with gate:
                return await job

        return list(await asyncio.gather(*(guarded(j) for j in jobs)))


def _sample_seed(request: GenerationRequest, index: int) -> int:
    raw = f"{request.seed}:{request.prompt.key()}:{index}".encode()
    return int.from_bytes(hashlib.sha256(raw).digest()[:4], "big") >> 1


__all__ = ["InspectBackend"]
