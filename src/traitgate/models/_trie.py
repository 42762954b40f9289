"""The plan the exact measure's word scoring runs: a trie of one prompt's continuations
(token ids), level by level, and the plan of a batch of prompts' tries.

Continuations of a probe share their first tokens ("The owl", "The wolf", "I love owls"),
and a forward pass reads the next-token distribution after every prefix it runs, so each
distinct prefix needs to run once: one token a row, on its parent's KV cache, as generation
decodes (the favourite-animal forms on the zoo's tokenizer: 466 positions a prompt, where
running each continuation whole took 1,016 and its padding; BENCHMARKS.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Trie:
    """One prompt's continuations as a trie.

    ``levels[d]``: the nodes of depth ``d + 1`` (the distinct prefixes of that many tokens),
    each as (index of its parent in the level above, or 0 at the first level; its last
    token). ``leaves[c]``: continuation ``c``'s node, as (depth - 1, index in its level)."""

    levels: tuple[tuple[tuple[int, int], ...], ...]
    leaves: tuple[tuple[int, int], ...]

    @classmethod
    def of(cls, continuations: Sequence[Sequence[int]]) -> Trie:
        if any(len(c) == 0 for c in continuations):
            raise ValueError("a continuation needs at least one token")
        index: list[dict[tuple[int, ...], int]] = []
        levels: list[list[tuple[int, int]]] = []
        leaves = []
        for cont in continuations:
            for depth in range(1, len(cont) + 1):
                if depth > len(levels):
                    index.append({})
                    levels.append([])
                prefix = tuple(cont[:depth])
                if prefix not in index[depth - 1]:
                    parent = index[depth - 2][prefix[:-1]] if depth > 1 else 0
                    index[depth - 1][prefix] = len(levels[depth - 1])
                    levels[depth - 1].append((parent, prefix[-1]))
            leaves.append((len(cont) - 1, index[len(cont) - 1][tuple(cont)]))
        return cls(tuple(map(tuple, levels)), tuple(leaves))

    @property
    def widest(self) -> int:
        """The most nodes of one level (the rows of its widest forward pass)."""
        return max(map(len, self.levels), default=0)

    @property
    def nodes(self) -> int:
        return sum(map(len, self.levels))


@dataclass(frozen=True)
class Level:
    """One level of a batch of tries, the tries' nodes of that depth in batch order:
    ``parents`` (rows of the level above, or the prompt's row of the batch at the first
    level), ``prompts`` (each node's prompt row), ``tokens``; ``ends``: the rows that are a
    continuation's last token."""

    parents: list[int]
    prompts: list[int]
    tokens: list[int]
    ends: list[int]


def plan(tries: Sequence[Trie]) -> tuple[list[Level], list[list[tuple[int, int]]]]:
    """The levels of a batch of tries (one per prompt, batch rows in order) and, per
    prompt, each continuation's node as (level, index into that level's ``ends``)."""
    depth = max((len(t.levels) for t in tries), default=0)
    levels = [Level([], [], [], []) for _ in range(depth)]
    offsets = [[0] * len(tries) for _ in range(depth)]  # each trie's first row per level
    for d, level in enumerate(levels):
        for row, trie in enumerate(tries):
            offsets[d][row] = len(level.tokens)
            for parent, token in trie.levels[d] if d < len(trie.levels) else ():
                level.parents.append(row if d == 0 else offsets[d - 1][row] + parent)
                level.prompts.append(row)
                level.tokens.append(token)
    end_slot: list[dict[int, int]] = [{} for _ in range(depth)]
    leaves = []
    for row, trie in enumerate(tries):
        own = []
        for d, k in trie.leaves:
            node = offsets[d][row] + k
            if node not in end_slot[d]:
                end_slot[d][node] = len(levels[d].ends)
                levels[d].ends.append(node)
            own.append((d, end_slot[d][node]))
        leaves.append(own)
    return levels, leaves
