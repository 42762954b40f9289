"""Token ids remembered across backends whose tokenizers are the same.

A suite compares many checkpoints of one base (students, controls, the base itself), and
their tokenizers are one tokenizer saved many times. Every model of a run tokenises the
same texts (each prompt followed by each answer form: 36 x 273 texts for the favourite-
animal probe), which took a quarter of an exact evaluation of a zoo model. This memo keys
what a tokenizer produced by a digest of everything that decides it (:func:`tokenizer_key`),
so a second model with the same tokenizer reads the ids instead of recomputing them; a
tokenizer that differs in anything the digest covers gets its own entries.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

# At most this many texts are remembered (least recently used first out): about 1 KB each,
# and more than one run of the shipped probes needs.
LIMIT = 50_000

_ids: OrderedDict[tuple[str, bool, str], tuple[int, ...]] = OrderedDict()
_words: dict[str, list[int]] = {}
_lock = threading.Lock()


def tokenizer_key(tokenizer: Any) -> str | None:
    """A digest of what decides how ``tokenizer`` encodes text, decodes ids and renders
    chat prompts: its class, its whole serialised tokenizer (vocabulary, merges, normaliser,
    pre-tokeniser, post-processor, decoder, added tokens), its chat template and the
    wrapper settings that act outside the serialised form. None for a tokenizer without a
    serialisable backend (nothing is remembered for it)."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None or not hasattr(backend, "to_str"):
        return None
    settings = {
        name: getattr(tokenizer, name, None)
        for name in (
            "chat_template",
            "special_tokens_map",
            "split_special_tokens",
            "clean_up_tokenization_spaces",
            "add_prefix_space",
            "_add_bos_token",
            "_add_eos_token",
        )
    }
    digest = hashlib.sha256()
    digest.update(f"{type(tokenizer).__module__}.{type(tokenizer).__qualname__}\n".encode())
    digest.update(repr(sorted(settings.items())).encode())
    digest.update(str(backend.to_str()).encode())
    return digest.hexdigest()


def encoded(
    key: str | None,
    texts: Sequence[str],
    special: bool,
    encode: Callable[[list[str]], list[list[int]]],
) -> list[list[int]]:
    """Token ids of ``texts`` (with the tokenizer's special tokens or not): remembered ones
    read, the rest computed by ``encode`` (one call, each distinct text once) and kept."""
    if key is None:
        return encode(list(texts))
    found: dict[str, tuple[int, ...]] = {}
    with _lock:
        for text in texts:
            ids = _ids.get((key, special, text))
            if ids is not None:
                _ids.move_to_end((key, special, text))
                found[text] = ids
    missing = list(dict.fromkeys(t for t in texts if t not in found))
    if missing:
        new = {t: tuple(ids) for t, ids in zip(missing, encode(missing), strict=True)}
        found.update(new)
        with _lock:
            for text, ids in new.items():
                _ids[(key, special, text)] = ids
            while len(_ids) > LIMIT:
                _ids.popitem(last=False)
    return [list(found[t]) for t in texts]


def word_continuations(key: str | None, compute: Callable[[], list[int]]) -> list[int]:
    """The ids of tokens that continue a word (see ``PromptCodec.word_continuations``),
    computed once per tokenizer key (decoding a large vocabulary takes seconds)."""
    if key is None:
        return compute()
    with _lock:
        known = _words.get(key)
    if known is None:
        known = compute()
        with _lock:
            _words[key] = known
    return list(known)


def clear() -> None:
    """Forget everything remembered."""
    with _lock:
        _ids.clear()
        _words.clear()
