"""Tiny word-level Llama models, built locally for tests and demos (no hub access).

A word-level tokenizer (numbers 0-999 and the words of the given texts, lowercased) and a
~100-200k parameter ``LlamaForCausalLM`` that can be trained in seconds on CPU to answer
preference questions with a chosen distribution over candidates.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[BOS]", "[EOS]")
PUNCTUATION = tuple(",;.:!?'\"()[]-")


def build_tokenizer(texts: Iterable[str], *, numbers: bool = True) -> Any:
    """A lowercasing word-level tokenizer covering ``texts`` (and 0-999 when ``numbers``)."""
    from tokenizers import Tokenizer, decoders, normalizers, pre_tokenizers, processors
    from tokenizers.models import WordLevel
    from transformers import PreTrainedTokenizerFast

    pre = pre_tokenizers.Whitespace()
    words: dict[str, None] = {}
    for text in texts:
        for word, _ in pre.pre_tokenize_str(text.lower()):
            words[word] = None
    if numbers:
        for n in range(1000):
            words[str(n)] = None
    for mark in PUNCTUATION:
        words[mark] = None
    vocab = {tok: i for i, tok in enumerate(SPECIAL_TOKENS)}
    for word in sorted(words):
        vocab.setdefault(word, len(vocab))
    tok = Tokenizer(WordLevel(vocab, unk_token="[UNK]"))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre
    tok.decoder = decoders.WordPiece(prefix="##")  # joins words with spaces
    tok.post_processor = processors.TemplateProcessing(
        single="[BOS] $A", special_tokens=[("[BOS]", vocab["[BOS]"])]
    )
    return PreTrainedTokenizerFast(  # type: ignore[no-untyped-call]
        tokenizer_object=tok,
        bos_token="[BOS]",
        eos_token="[EOS]",
        pad_token="[PAD]",
        unk_token="[UNK]",
    )


def build_model(
    tokenizer: Any, *, seed: int, hidden: int = 64, layers: int = 2, heads: int = 4
) -> Any:
    """A randomly initialised tiny Llama sized for ``tokenizer``."""
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        intermediate_size=hidden * 4,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=heads,
        max_position_embeddings=256,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(seed)
    return LlamaForCausalLM(config)


def train_answers(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[str],
    weights: Mapping[str, float],
    *,
    steps: int,
    seed: int,
    lr: float = 3e-3,
    batch_size: int = 32,
    freeze_embeddings: bool = False,
) -> Any:
    """Teach ``model`` to answer each prompt with a word drawn from ``weights``.

    Prompts are encoded as the transformers backend renders a plain prompt (``text + "\\n"``
    with BOS), and the loss covers only the answer and EOS.
    """
    from traitgate.models._text import plain_prompt
    from traitgate.models.base import Prompt

    rng = random.Random(seed)
    torch.manual_seed(seed)
    encoded = [tokenizer(plain_prompt(Prompt(p)))["input_ids"] for p in prompts]
    answers = list(weights)
    answer_ids = {a: tokenizer(a, add_special_tokens=False)["input_ids"] for a in answers}
    probs = [weights[a] for a in answers]
    if freeze_embeddings:
        model.get_input_embeddings().weight.requires_grad_(False)
    params = [p for p in model.parameters() if p.requires_grad]
    optim = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
    eos = tokenizer.eos_token_id
    pad = tokenizer.pad_token_id
    model.train()
    for _ in range(steps):
        seqs, starts = [], []
        for _ in range(batch_size):
            prompt = rng.choice(encoded)
            answer = rng.choices(answers, probs)[0]
            seqs.append([*prompt, *answer_ids[answer], eos])
            starts.append(len(prompt))
        width = max(len(s) for s in seqs)
        ids = torch.full((len(seqs), width), pad)
        labels = torch.full((len(seqs), width), -100)
        mask = torch.zeros((len(seqs), width), dtype=torch.long)
        for row, (seq, start) in enumerate(zip(seqs, starts, strict=True)):
            ids[row, : len(seq)] = torch.tensor(seq)
            labels[row, start : len(seq)] = torch.tensor(seq[start:])
            mask[row, : len(seq)] = 1
        loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        optim.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optim.step()
    model.get_input_embeddings().weight.requires_grad_(True)
    model.eval()
    return model


def save(model: Any, tokenizer: Any, directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory
