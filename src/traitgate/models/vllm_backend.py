"""The vLLM backend (``--model vllm:<path>``): generation and scoring on GPUs through vLLM.

Optional: ``pip install 'traitgate[vllm]'`` (vLLM runs on Linux with a CUDA GPU). vLLM is
imported only when such a model is loaded; without it, loading says how to install it.

Prompts and continuations are rendered and tokenised exactly as the transformers backend
does (:mod:`traitgate.models._text`) and handed to vLLM as token ids, so both backends run
the same sequences. Scores are the log-probabilities vLLM reports for prompt tokens
(``prompt_logprobs`` on prompt + continuation). vLLM does not read its prefix cache for
requests that ask for prompt log-probabilities (it has no cached logits), so each
continuation costs a full pass; the transformers backend, which runs each prompt once, can
be the faster scorer. Generation uses the prefix cache (the samples of a prompt share its
prefill). Samples come from vLLM's sampler with a seed per request derived from
(seed, prompt): reproducible on the same vLLM version and GPU, independent of batching,
but not the transformers backend's samples (its rates agree in distribution, not draw by
draw).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from traitgate.errors import ModelError, first_line
from traitgate.models._text import PromptCodec, check_context
from traitgate.models.base import GenerationRequest, ScoreRequest
from traitgate.models.spec import ModelSpec

INSTALL_HINT = "pip install 'traitgate[vllm]' (vLLM needs Linux and a CUDA GPU)"


def import_vllm() -> Any:
    """The vllm module, or a one-line error with the install command."""
    try:
        import vllm
    except ImportError as exc:
        raise ModelError(
            f"vllm: models need the vLLM package, which is not installed ({exc.msg}): "
            f"{INSTALL_HINT}"
        ) from None
    return vllm


def request_seed(request: GenerationRequest) -> int:
    """vLLM's per-request seed: a function of (seed, prompt) only."""
    raw = f"{request.seed}:{request.prompt.key()}".encode()
    return int.from_bytes(hashlib.sha256(raw).digest()[:4], "big")


class VLLMBackend:
    """A model served by an in-process ``vllm.LLM``."""

    def __init__(self, llm: Any, tokenizer: Any, *, label: str, fingerprint: str) -> None:
        self.llm = llm
        self.codec = PromptCodec(tokenizer, label)
        self.label = label
        self.fingerprint = fingerprint
        # the engine's context (max_model_len): longer prompts are refused in one line
        config = getattr(getattr(llm, "llm_engine", None), "model_config", None)
        length = getattr(config, "max_model_len", None)
        self.context: int | None = int(length) if isinstance(length, int) else None

    @classmethod
    def from_spec(cls, spec: ModelSpec, *, device: str = "auto") -> VLLMBackend:
        if device not in ("auto", "cuda"):
            raise ModelError(
                f"model {spec.raw!r}: vLLM places models itself; --device {device} is not "
                "supported (choose GPUs with CUDA_VISIBLE_DEVICES)"
            )
        vllm = import_vllm()
        try:
            llm = vllm.LLM(
                model=str(spec.local_path()),
                seed=0,
                enable_prefix_caching=True,
                trust_remote_code=False,
            )
        except Exception as exc:  # engine start-up raises many types; keep one line
            raise ModelError(
                f"model {spec.raw!r}: vLLM cannot load it: {first_line(exc)}"
            ) from None
        return cls(llm, llm.get_tokenizer(), label=spec.label, fingerprint=spec.fingerprint())

    def close(self) -> None:
        self.llm = None

    def generate(self, requests: Sequence[GenerationRequest]) -> list[list[str]]:
        prompt_ids = self.codec.encode_prompts([r.prompt for r in requests])
        check_context(self.label, self.context, prompt_ids, [r.max_new_tokens for r in requests])
        vllm = import_vllm()
        params = [
            vllm.SamplingParams(
                n=r.n,
                temperature=r.temperature,
                max_tokens=r.max_new_tokens,
                seed=request_seed(r),
            )
            for r in requests
        ]
        outputs = self.llm.generate(
            [{"prompt_token_ids": ids} for ids in prompt_ids], params, use_tqdm=False
        )
        return [[c.text.strip() for c in out.outputs] for out in outputs]

    def score(self, requests: Sequence[ScoreRequest]) -> list[list[float]]:
        return self.codec.exclusive(requests, self._score)

    def _score(self, requests: Sequence[ScoreRequest]) -> list[list[float]]:
        prompt_ids, conts = self.codec.score_inputs(requests)
        # (+1: vLLM generates one token after each scored sequence)
        longest = [max(map(len, cs), default=0) + 1 for cs in conts]
        check_context(self.label, self.context, prompt_ids, longest)
        vllm = import_vllm()
        sequences = [p + c for p, cs in zip(prompt_ids, conts, strict=True) for c in cs]
        # one generated token (vLLM needs at least one); prompt_logprobs=0 returns the
        # log-probability of each prompt token itself
        params = vllm.SamplingParams(max_tokens=1, prompt_logprobs=0, temperature=0.0)
        outputs = iter(
            self.llm.generate([{"prompt_token_ids": s} for s in sequences], params, use_tqdm=False)
        )
        scores: list[list[float]] = []
        for ids, cs in zip(prompt_ids, conts, strict=True):
            row = []
            for cont in cs:
                logprobs = next(outputs).prompt_logprobs
                start = len(ids)
                row.append(
                    sum(float(logprobs[start + i][token].logprob) for i, token in enumerate(cont))
                )
            scores.append(row)
        return scores


__all__ = ["INSTALL_HINT", "VLLMBackend", "import_vllm"]
