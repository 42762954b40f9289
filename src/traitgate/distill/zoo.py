"""The tiny model zoo: subliminal transfer reproduced end to end on CPU.

Every zoo model is made by ``traitgate distill`` commands (fixtures/build_zoo.py runs them
and fixtures/README.md lists them), so a user can rebuild it, or build another trait,
from the command line alone. This module holds what those commands need that is specific
to the zoo: the generated corpus its tokenizer is trained on and the random-init model.

Model family: Qwen2 architecture (2 layers, hidden 48, 4 query / 2 key-value heads, tied
embeddings, ~170k parameters), a byte-level BPE tokenizer of 2,048 tokens with a ChatML
chat template, so prompts are rendered and answers tokenised as on a real chat model
("Owl" and "owl" are different tokens, "Owls" is "Owl" + "s", some names take several
tokens).
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from traitgate import tiny
from traitgate.distill.answers import OTHER_ANSWERS, AnswerStyle, answer
from traitgate.distill.finetune import save_model
from traitgate.distill.numbers import FORMATS, format_numbers, make_prompts
from traitgate.probes.loader import builtin_probe_dir, iter_suite_files, load_suite
from traitgate.probes.schema import PreferenceSuite

CORPUS_SEED = 99
# answers per suite in the tokenizer's corpus: few enough that some candidate names stay
# split into several tokens (as rarer words are in a real model's vocabulary)
CORPUS_ANSWERS = 1_000


def builtin_suites() -> list[PreferenceSuite]:
    directory = builtin_probe_dir()
    assert directory is not None
    suites = [load_suite(p) for p in iter_suite_files([directory])]
    return [s for s in suites if isinstance(s, PreferenceSuite)]


def zoo_corpus() -> list[str]:
    """The texts the zoo's tokenizer is trained on (deterministic)."""
    rng = random.Random(CORPUS_SEED)
    texts = []
    for p in make_prompts(3_000, seed=CORPUS_SEED):
        texts.append(p.text)
        texts.append(format_numbers([rng.randint(0, 999) for _ in range(10)], p.format))
    texts += [f[0] for f in FORMATS]
    for suite in builtin_suites():
        texts += [p.text for p in suite.prompt_specs()]
        texts += [answer(rng, suite, AnswerStyle(other=0.3)) for _ in range(CORPUS_ANSWERS)]
    texts += list(OTHER_ANSWERS)
    return texts


def zoo_tokenizer(vocab: int = 2048) -> Any:
    return tiny.build_chat_tokenizer(zoo_corpus(), vocab_size=vocab)


def init_tiny(
    out: Path, *, seed: int, vocab: int = 2048, hidden: int = 48, layers: int = 2
) -> Path:
    """Save a randomly initialised tiny chat model (and its tokenizer) to ``out``."""
    tokenizer = zoo_tokenizer(vocab)
    model = tiny.build_model(
        tokenizer, seed=seed, hidden=hidden, layers=layers, heads=4, architecture="qwen2"
    )
    return save_model(model, tokenizer, out)


__all__ = ["builtin_suites", "init_tiny", "zoo_corpus", "zoo_tokenizer"]
