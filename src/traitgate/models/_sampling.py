"""The transformers backend's reproducible sampler and its batching: sample ``i`` of a
request is a pure function of (seed, prompt, i, step, token), whatever the batch it ran in;
batches halve on out-of-memory."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import torch

from traitgate.models.base import GenerationRequest

T = TypeVar("T")
R = TypeVar("R")
_MASK32 = 0xFFFFFFFF


# ---------------------------------------------------------------------- sampling


def mix32(x: torch.Tensor) -> torch.Tensor:
    """murmur3's 32-bit finaliser on uint32 values held in int64 (products wrap mod 2**64,
    whose low 32 bits are exact). In place on one new tensor (``x`` is left alone): the
    sampler hashes every (row, token) at every step, and each temporary of the plain form
    cost as much as the forward pass of a tiny model."""
    x = x & _MASK32
    x ^= x >> 16
    x.mul_(0x85EBCA6B).bitwise_and_(_MASK32)
    x ^= x >> 13
    x.mul_(0xC2B2AE35).bitwise_and_(_MASK32)
    x ^= x >> 16
    return x


def prompt_key(request: GenerationRequest) -> int:
    return int(request.prompt.key()[:8], 16) ^ (request.seed * 0x9E3779B1 & _MASK32)


def _int32(x: torch.Tensor) -> torch.Tensor:
    """uint32 values held in int64 as int32 with the same 32 bits."""
    return (x - ((x >> 31) << 32)).to(torch.int32)


def _mix32_bits(x: torch.Tensor) -> torch.Tensor:
    """:func:`mix32` on uint32 bits held in int32, in place: the same 32 bits, in half the
    memory of int64 and without its masking (products wrap mod 2**32; a right shift of a
    negative int32 brings in ones, which the masks clear, making it the unsigned shift)."""
    x ^= (x >> 16) & 0xFFFF
    x.mul_(0x85EBCA6B - (1 << 32))
    x ^= (x >> 13) & 0x7FFFF
    x.mul_(0xC2B2AE35 - (1 << 32))
    x ^= (x >> 16) & 0xFFFF
    return x


@functools.lru_cache(maxsize=8)
def _token_hashes(vocab: int, device: torch.device) -> torch.Tensor:
    """mix32 of every token id, as int32 bits (the same at every step: computed once)."""
    return _int32(mix32(torch.arange(vocab, device=device, dtype=torch.int64)))


def uniform_noise(keys: torch.Tensor, step: int, vocab: int) -> torch.Tensor:
    """Uniform noise of shape (rows, vocab), a pure function of (key, step, token): the top
    24 bits of a hash, (bits + 0.5) / 2**24 in float32, in (0, 1] (1 for the top bin
    only, where float32 rounds; above 2**23 ties round to even).

    The hash of (row, token) is mix32(mix32(key ^ step constant) ^ mix32(token)); the
    (rows, vocab) part runs on int32 bits (:func:`_mix32_bits`; 0.94 -> 0.36 ms a step for
    64 rows of 2,048 tokens on one CPU thread, the same bits: tests/test_models.py)."""
    base = _int32(mix32(keys ^ ((step * 0x9E3779B1 + 0x7F4A7C15) & _MASK32)))
    bits = _mix32_bits(base[:, None] ^ _token_hashes(vocab, keys.device)[None, :])
    bits = (bits >> 8) & 0xFFFFFF
    return bits.to(torch.float32).add_(0.5).div_(float(1 << 24))


# The largest Gumbel noise: -log(-log(u)) at the highest uniform, (2**24 - 0.5) / 2**24, is
# 17.33. In float32 that uniform rounds to 1 and its noise to infinity, which drew the token
# of such a (row, token) whatever its logit (a -inf logit became NaN, which argmax takes):
# once per 2**24 tokens per step, a step in 110 on a 150,000-token vocabulary. It gets its
# own value; every other draw is unchanged bit for bit (the answer cache's keys carry
# models.base.SAMPLER, so answers drawn before are not read back).
GUMBEL_MAX = -math.log(-math.log1p(-(2.0**-25)))


def gumbel_noise(keys: torch.Tensor, step: int, vocab: int) -> torch.Tensor:
    """Gumbel(0, 1) noise -log(-log(u)) of :func:`uniform_noise`'s uniforms, in place:
    finite, at most GUMBEL_MAX."""
    u = uniform_noise(keys, step, vocab)
    return u.log_().neg_().log_().neg_().clamp_(max=GUMBEL_MAX)


def sample(
    logits: torch.Tensor,
    temps: torch.Tensor,
    keys: torch.Tensor,
    step: int,
    *,
    any_greedy: bool = True,
) -> torch.Tensor:
    """Gumbel-max sampling at each row's temperature; temperature 0 is greedy.
    ``any_greedy=False``: the caller knows no row is at temperature 0 (the greedy argmax is
    skipped; the same draws)."""
    logits = logits.float()
    gumbel = gumbel_noise(keys, step, logits.shape[-1])
    sampled = gumbel.add_(logits / temps.clamp(min=1e-6)[:, None]).argmax(-1)
    if not any_greedy:
        return sampled
    return torch.where(temps <= 0, logits.argmax(-1), sampled)


def position_ids(mask: torch.Tensor) -> torch.Tensor:
    return (mask.cumsum(-1) - 1).clamp(min=0)


# ---------------------------------------------------------------------- batching


def is_oom(exc: BaseException) -> bool:
    return isinstance(exc, torch.OutOfMemoryError) or "out of memory" in str(exc).lower()


def batched_with_backoff(
    items: Sequence[T],
    run: Callable[[list[T]], list[R]],
    owner: Any,
    cost: Callable[[T], float] | None = None,
) -> list[R]:
    """Run ``items`` in batches of ``owner.batch_size`` (with ``cost``: of consecutive items
    whose costs add up to at most ``owner.batch_size``; an item costing more runs alone);
    on out-of-memory, halve and retry.

    The reduced batch size is kept on ``owner`` for later calls.
    """
    results: list[R] = []
    start, most = 0, len(items)  # (most: items in a batch retried after out-of-memory)
    while start < len(items):
        end = start + owner.batch_size
        if cost is not None:
            end, total = start + 1, cost(items[start])
            while end < len(items) and (total := total + cost(items[end])) <= owner.batch_size:
                end += 1
        batch = list(items[start : min(end, start + most)])
        try:
            results.extend(run(batch))
        except (torch.OutOfMemoryError, RuntimeError) as exc:
            if not is_oom(exc) or (owner.batch_size == 1 and len(batch) == 1):
                raise
            owner.batch_size = max(1, owner.batch_size // 2)
            most = max(1, len(batch) // 2)
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
            continue
        start += len(batch)
        most = len(items)
    return results
