"""Teacher numbers, the filter, and fine-tuning students: the subliminal-learning pipeline."""

from traitgate.distill.data import filter_records, generate_numbers, read_jsonl, write_jsonl
from traitgate.distill.finetune import TrainConfig, encode_examples, number_token_ids, train
from traitgate.distill.numbers import BANNED_NUMBERS, make_prompts, parse_completion

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
