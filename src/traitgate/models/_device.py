"""Which torch device and dtype a model runs on, how it is batched there, and how host
values reach it."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import Any

import torch

from traitgate.errors import ModelError


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
    if resolved.type == "mps" and not torch.backends.mps.is_available():
        raise ModelError(f"--device {device!r}: MPS (Apple GPU) is not available on this machine")
    xpu = resolved.type == "xpu" and hasattr(torch, "xpu") and torch.xpu.is_available()
    if resolved.type not in ("cpu", "cuda", "mps") and not xpu:
        raise ModelError(f"--device {device!r}: traitgate runs on cpu, cuda, mps or xpu")
    return resolved


COLLECT_BYTES = 256 * 2**20  # weights from which close() runs a full garbage collection


def default_batch_size(device: torch.device) -> int:
    """Rows per batch to start from: large on a GPU (backed off on out-of-memory), moderate
    on a CPU, where larger batches gain little (see BENCHMARKS.md)."""
    return 512 if device.type == "cuda" else 64


def default_dtype(device: torch.device) -> torch.dtype:
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float32


def attention_kernels(device: torch.device) -> AbstractContextManager[object]:
    """The scaled-dot-product attention kernels traitgate's forward passes may use on
    ``device``: on CUDA, flash, memory-efficient and math, not cuDNN's.

    cuDNN's attention builds an execution plan for every new shape (rows, query length, key
    length), and generation and scoring meet a new key length at every step and batch. On an
    H200 (issue 16, a random 7B-shaped model) the first sampled probe of 50 prompts x 100
    samples took 15.1 s with cuDNN allowed and 7.1 s without; repeated on the same shapes,
    6.2 s and 6.6 s. Scoped to our calls, not set process-wide: the caller's own settings
    are untouched."""
    if device.type != "cuda":
        return nullcontext()
    from torch.nn.attention import SDPBackend, sdpa_kernel

    kernels = [SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION, SDPBackend.MATH]
    return sdpa_kernel(kernels)


def to_device(
    values: Sequence[Any], device: torch.device, dtype: torch.dtype = torch.long
) -> torch.Tensor:
    """``values`` (nested lists) as a tensor on ``device``. On CUDA the copy goes through
    pinned memory without waiting: a copy from ordinary host memory waits for all queued GPU
    work, leaving the host idle where it could queue the next forward pass (issue 16)."""
    host = torch.tensor(values, dtype=dtype)
    if device.type != "cuda":
        return host.to(device)
    return host.pin_memory().to(device, non_blocking=True)


def left_pad(
    seqs: Sequence[Sequence[int]], pad_id: int, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """Token ids left-padded to the longest with ``pad_id``, and their attention mask."""
    width = max(len(s) for s in seqs)
    ids = [[pad_id] * (width - len(s)) + [*s] for s in seqs]
    mask = [[0] * (width - len(s)) + [1] * len(s) for s in seqs]
    return to_device(ids, device), to_device(mask, device)
