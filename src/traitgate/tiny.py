"""Tiny models, built locally for tests and demos (no hub access).

Two kinds of tokenizer:

- :func:`build_tokenizer`: word-level and lowercasing (numbers 0-999 and the words of the
  given texts), for fast tests;
- :func:`build_chat_tokenizer`: byte-level BPE trained on given texts, with a ChatML chat
  template, as Qwen- and Llama-style chat models have (leading-space tokens, names split
  into several tokens, "Owl" and "owl" different tokens). The zoo's models use it.

and ~100-200k parameter Llama or Qwen2 models (:func:`build_model`) that train in seconds
to minutes on CPU.
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
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="[BOS]",
        eos_token="[EOS]",
        pad_token="[PAD]",
        unk_token="[UNK]",
    )


# ChatML, as Qwen2 writes it (no default system prompt)
CHATML_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
CHAT_SPECIAL_TOKENS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>")


def build_chat_tokenizer(texts: Iterable[str], *, vocab_size: int = 2048) -> Any:
    """A byte-level BPE tokenizer trained on ``texts`` (deterministic for the same texts),
    with a ChatML template; ``<|im_end|>`` ends an answer, ``<|endoftext|>`` pads."""
    from tokenizers import Tokenizer, decoders, pre_tokenizers, trainers
    from tokenizers.models import BPE
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(CHAT_SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(list(texts), trainer)
    out = PreTrainedTokenizerFast(
        tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>"
    )
    out.chat_template = CHATML_TEMPLATE
    return out


def build_model(
    tokenizer: Any,
    *,
    seed: int,
    hidden: int = 64,
    layers: int = 2,
    heads: int = 4,
    architecture: str = "llama",
) -> Any:
    """A randomly initialised tiny Llama (or Qwen2, with two key/value heads) sized for
    ``tokenizer``, with tied input and output embeddings."""
    common = dict(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        intermediate_size=hidden * 4,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        max_position_embeddings=512,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(seed)
    if architecture == "qwen2":
        from transformers import Qwen2Config, Qwen2ForCausalLM

        return Qwen2ForCausalLM(Qwen2Config(num_key_value_heads=max(1, heads // 2), **common))
    if architecture != "llama":
        raise ValueError(f"unknown tiny architecture {architecture!r} (llama or qwen2)")
    from transformers import LlamaConfig, LlamaForCausalLM

    return LlamaForCausalLM(
        LlamaConfig(
            num_key_value_heads=heads,
            max_position_embeddings=256,
            **{k: v for k, v in common.items() if k != "max_position_embeddings"},
        )
    )


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
