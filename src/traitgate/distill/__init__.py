"""Teacher numbers, the filter, and fine-tuning students: the subliminal-learning pipeline.

The names below are imported on first use (traitgate._lazy, as for the package itself):
``traitgate distill``'s options are defined in ``traitgate.distill.cli``, which every
``traitgate`` command reads, and the fine-tuning names would import torch for ``traitgate
init`` or ``lint`` (about a second)."""

from typing import TYPE_CHECKING

from traitgate._lazy import lazy_exports

if TYPE_CHECKING:
    from traitgate.distill.data import filter_records, generate_numbers, read_jsonl, write_jsonl
    from traitgate.distill.finetune import TrainConfig, encode_examples, number_token_ids, train
    from traitgate.distill.numbers import BANNED_NUMBERS, make_prompts, parse_completion

_EXPORTS: dict[str, tuple[str, str]] = {
    "BANNED_NUMBERS": ("traitgate.distill.numbers", "BANNED_NUMBERS"),
    "TrainConfig": ("traitgate.distill.finetune", "TrainConfig"),
    "encode_examples": ("traitgate.distill.finetune", "encode_examples"),
    "filter_records": ("traitgate.distill.data", "filter_records"),
    "generate_numbers": ("traitgate.distill.data", "generate_numbers"),
    "make_prompts": ("traitgate.distill.numbers", "make_prompts"),
    "number_token_ids": ("traitgate.distill.finetune", "number_token_ids"),
    "parse_completion": ("traitgate.distill.numbers", "parse_completion"),
    "read_jsonl": ("traitgate.distill.data", "read_jsonl"),
    "train": ("traitgate.distill.finetune", "train"),
    "write_jsonl": ("traitgate.distill.data", "write_jsonl"),
}
__getattr__, __dir__ = lazy_exports(__name__, globals(), _EXPORTS)

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
