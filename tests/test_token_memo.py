"""Token ids remembered across backends (traitgate.models._memo): models of one base share
them, and no tokenizer ever reads another's ids."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as hs

from traitgate import tiny
from traitgate.models import _memo
from traitgate.models._text import PromptCodec

ZOO = Path(__file__).resolve().parents[1] / "fixtures" / "zoo"
WORDS = ["my", "favorite", "animal", "is", "the", "owl", "wolf", "cat", "dog", "1", "23"]


@pytest.fixture(autouse=True)
def _empty_memo() -> Iterator[None]:
    _memo.clear()
    yield
    _memo.clear()


def _zoo_tokenizer(name: str):  # type: ignore[no-untyped-def]
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(ZOO / name)


def _refuse(texts: list[str]) -> list[list[int]]:
    raise AssertionError(f"recomputed {texts}")


def test_models_of_one_base_share_their_ids_and_read_them_back_unchanged() -> None:
    base = PromptCodec(_zoo_tokenizer("base"), "base")
    student = PromptCodec(_zoo_tokenizer("owl-student-s0"), "owl-student-s0")
    assert base.key is not None and base.key == student.key
    texts = ["My favorite animal is the owl", "Owls!", "My favorite animal is the owl"]
    first = base.encode_many(texts, [False, False, True])
    expected = [
        base.tokenizer(t, add_special_tokens=flag)["input_ids"]
        for t, flag in zip(texts, [False, False, True], strict=True)
    ]
    assert first == expected
    # the student's codec reads them: computing anything would raise
    assert _memo.encoded(student.key, texts[:2], False, _refuse) == expected[:2]
    assert student.encode_many(texts, [False, False, True]) == expected
    assert student.word_continuations() == base.word_continuations()


def test_tokenizers_that_differ_get_their_own_keys() -> None:
    one = tiny.build_tokenizer(WORDS)
    other_vocab = tiny.build_tokenizer([*WORDS, "eagle"])
    templated = tiny.build_tokenizer(WORDS)
    templated.chat_template = "{% for m in messages %}{{ m['content'] }}{% endfor %}"
    splitting = tiny.build_tokenizer(WORDS)
    splitting.split_special_tokens = True
    keys = [_memo.tokenizer_key(t) for t in (one, other_vocab, templated, splitting)]
    assert None not in keys and len(set(keys)) == 4
    assert _memo.tokenizer_key(tiny.build_tokenizer(WORDS)) == keys[0]  # built alike: alike


def test_a_tokenizer_without_a_serialisable_backend_remembers_nothing() -> None:
    calls: list[list[str]] = []

    def encode(texts: list[str]) -> list[list[int]]:
        calls.append(texts)
        return [[len(t)] for t in texts]

    assert _memo.encoded(None, ["ab", "c"], True, encode) == [[2], [1]]
    assert _memo.encoded(None, ["ab", "c"], True, encode) == [[2], [1]]
    assert len(calls) == 2 and _memo.tokenizer_key(object()) is None


def test_the_least_recently_used_ids_go_beyond_the_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_memo, "LIMIT", 3)
    computed: list[str] = []

    def encode(texts: list[str]) -> list[list[int]]:
        computed.extend(texts)
        return [[ord(t[0])] for t in texts]

    assert _memo.encoded("k", ["a", "b", "c", "a"], False, encode) == [[97], [98], [99], [97]]
    assert computed == ["a", "b", "c"]  # each distinct text once
    _memo.encoded("k", ["a"], False, encode)  # a: most recently used
    _memo.encoded("k", ["d"], False, encode)  # b goes
    computed.clear()
    assert _memo.encoded("k", ["a", "c", "d", "b"], False, encode) == [[97], [99], [100], [98]]
    assert computed == ["b"]


TWO = [tiny.build_tokenizer(WORDS), tiny.build_tokenizer([*WORDS, "eagle"])]


# (the autouse fixture empties the memo once per test; each example empties it itself)
@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    hs.lists(
        hs.tuples(
            hs.integers(0, 1),
            hs.lists(hs.sampled_from([*WORDS, "eagle", "[BOS]", " "]), max_size=6).map(" ".join),
            hs.booleans(),
        ),
        min_size=1,
        max_size=12,
    )
)
def test_memoised_ids_equal_the_tokenizers_own(calls: list[tuple[int, str, bool]]) -> None:
    """Two different tokenizers encoding overlapping texts, interleaved, with and without
    special tokens: every answer is what that tokenizer itself gives."""
    _memo.clear()
    codecs = [PromptCodec(t, f"t{i}") for i, t in enumerate(TWO)]
    for which, text, special in calls:
        batch = [text, text.upper(), text]
        got = codecs[which].encode_many(batch, [special] * 3)
        assert got == [list(TWO[which](t, add_special_tokens=special)["input_ids"]) for t in batch]
