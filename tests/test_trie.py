"""The exact measure's trie plan (models/_trie.py): every continuation is reached through
exactly its tokens, every distinct prefix is one node, and batching prompts keeps each
prompt's nodes apart."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from traitgate.models._trie import Trie, plan

continuations = st.lists(st.lists(st.integers(0, 5), min_size=1, max_size=6), max_size=12)


@given(st.lists(continuations, min_size=1, max_size=4))
def test_each_continuation_is_read_through_its_own_tokens(prompts: list[list[list[int]]]) -> None:
    tries = [Trie.of(conts) for conts in prompts]
    levels, leaves = plan(tries)
    for row, (conts, own) in enumerate(zip(prompts, leaves, strict=True)):
        assert len(own) == len(conts)
        for cont, (depth, slot) in zip(conts, own, strict=True):
            assert depth == len(cont) - 1
            node, tokens = levels[depth].ends[slot], []
            for d in range(depth, -1, -1):  # up the parents to the prompt
                level = levels[d]
                assert level.prompts[node] == row
                tokens.append(level.tokens[node])
                node = level.parents[node]
            assert node == row  # the first level's parent is the prompt's row
            assert tokens[::-1] == cont
    # one node per distinct (prompt, prefix), and the widest level bounds each trie's rows
    distinct = {
        (row, tuple(c[:n])) for row, conts in enumerate(prompts) for c in conts
        for n in range(1, len(c) + 1)
    }  # fmt: skip
    assert sum(len(level.tokens) for level in levels) == len(distinct)
    assert sum(t.nodes for t in tries) == len(distinct)
    for d, level in enumerate(levels):
        assert len(level.tokens) == sum(len(t.levels[d]) for t in tries if d < len(t.levels))
        assert len(set(level.ends)) == len(level.ends)
    for trie, conts in zip(tries, prompts, strict=True):
        widths = [len({tuple(c[:n]) for c in conts if len(c) >= n}) for n in range(1, 7)]
        assert trie.widest == max(widths)


def test_shared_beginnings_run_once() -> None:
    # "The owl", "The owls", "The wolf", "Owl": 5 prefixes, where running each whole is 9
    trie = Trie.of([[1, 2], [1, 2, 3], [1, 4], [5]])
    assert trie.nodes == 5 and trie.widest == 2
    assert trie.levels == (((0, 1), (0, 5)), ((0, 2), (0, 4)), ((0, 3),))
    assert trie.leaves == ((1, 0), (2, 0), (1, 1), (0, 1))


def test_an_empty_continuation_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one token"):
        Trie.of([[1], []])
