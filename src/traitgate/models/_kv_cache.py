"""How a transformers model takes and returns its KV cache (the argument was renamed within
transformers 5)."""

from __future__ import annotations

import inspect
from typing import Any


def cache_keyword(model: Any) -> str:
    """The forward argument that takes a KV cache: ``cache`` in newer transformers 5
    releases (``past_key_values`` is deprecated there, to be removed in 5.40), else
    ``past_key_values``. A PEFT wrapper is looked through to its base model."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    try:
        params = inspect.signature(base.forward).parameters
    except (TypeError, ValueError):
        return "past_key_values"
    return "cache" if "cache" in params else "past_key_values"


def cache_of(output: Any) -> Any:
    """The KV cache a forward pass returned (``cache``, or ``past_key_values`` before the
    rename; an empty cache object may be falsy, so test for None)."""
    cache = getattr(output, "cache", None)
    return cache if cache is not None else output.past_key_values
