"""Teacher numbers, the filter, and fine-tuning students: the subliminal-learning pipeline.

The names below are imported on first use, as the package's own (``traitgate/__init__.py``):
``traitgate distill``'s options are defined in ``traitgate.distill.cli``, which every
``traitgate`` command reads, and the fine-tuning names would import torch for ``traitgate
init`` or ``lint`` (about a second)."""

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from traitgate.distill.data import filter_records, generate_numbers, read_jsonl, write_jsonl
    from traitgate.distill.finetune import TrainConfig, encode_examples, number_token_ids, train
    from traitgate.distill.numbers import BANNED_NUMBERS, make_prompts, parse_completion

_EXPORTS: dict[str, str] = {
    "BANNED_NUMBERS": "traitgate.distill.numbers",
    "TrainConfig": "traitgate.distill.finetune",
    "encode_examples": "traitgate.distill.finetune",
    "filter_records": "traitgate.distill.data",
    "generate_numbers": "traitgate.distill.data",
    "make_prompts": "traitgate.distill.numbers",
    "number_token_ids": "traitgate.distill.finetune",
    "parse_completion": "traitgate.distill.numbers",
    "read_jsonl": "traitgate.distill.data",
    "train": "traitgate.distill.finetune",
    "write_jsonl": "traitgate.distill.data",
}


def __getattr__(name: str) -> Any:
    try:
        module = _EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module 'traitgate.distill' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


__all__ = [
    "BANNED_NUMBERS",
    "TrainConfig",
    "encode_examples",
    "filter_records",
    "generate_numbers",
    "make_prompts",
    "number_token_ids",
    "parse_completion",
    "read_jsonl",
    "train",
    "write_jsonl",
]
