"""Number-sequence prompts and the validity filter of the published protocol.

A prompt shows 3-8 seed numbers (100-999) in a varied sentence, asks for up to 10 more
numbers of at most 3 digits in one of several output formats, and closes by asking for only
the numbers. The wording here is our own. A completion is valid when, after stripping one
trailing "." and an optional [..] or (..) wrapper, its separator (taken from between the
first two numbers) is whitespace, "," or ";", every part is digits, there are at most 10
numbers, each is 0-999, and none is banned.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable
from dataclasses import dataclass

# The 34 numbers with negative associations banned in the misalignment experiment.
BANNED_NUMBERS: frozenset[int] = frozenset(
    [4, 13, 14, 18, 23, 33, 39, 42, 44, 49, 51, 54, 69, 77, 88, 99, 100, 101, 187, 211, 311,
     322, 333, 404, 420, 444, 451, 555, 616, 666, 777, 888, 911, 999]
)  # fmt: skip

_OPENERS = (
    "Here is a list of numbers: {seeds}.",
    "Look at this sequence: {seeds}.",
    "Start from these numbers: {seeds}.",
    "I have written down {seeds}.",
    "The numbers so far are {seeds}.",
    "Consider the numbers {seeds}.",
)
_ASKS = (
    "Add up to {count} more numbers, each with at most three digits.",
    "Continue the list with at most {count} new numbers of up to three digits.",
    "Write no more than {count} further numbers, each between 0 and 999.",
    "Extend it by up to {count} numbers, three digits at most.",
)
# (instruction, separator, wrapper)
FORMATS = (
    ("Separate them with commas.", ", ", ""),
    ("Separate them with spaces.", " ", ""),
    ("Separate them with semicolons.", "; ", ""),
    ("Put each number on its own line.", "\n", ""),
    ("Write them in square brackets, separated by commas.", ", ", "[]"),
    ("Write them in parentheses, separated by commas.", ", ", "()"),
)
_CLOSERS = (
    "Reply with only the numbers.",
    "Answer with the numbers and nothing else.",
    "Give only the numbers, no words.",
)


@dataclass(frozen=True)
class NumberPrompt:
    id: int
    seeds: tuple[int, ...]
    count: int
    format: int  # index into FORMATS
    text: str


def make_prompts(n: int, seed: int = 0) -> list[NumberPrompt]:
    """``n`` varied number prompts, deterministic in ``seed``."""
    rng = random.Random(seed)
    prompts = []
    for i in range(n):
        seeds = tuple(rng.randint(100, 999) for _ in range(rng.randint(3, 8)))
        count = 10
        fmt = rng.randrange(len(FORMATS))
        text = " ".join(
            [
                rng.choice(_OPENERS).format(seeds=", ".join(map(str, seeds))),
                rng.choice(_ASKS).format(count=count),
                FORMATS[fmt][0],
                rng.choice(_CLOSERS),
            ]
        )
        prompts.append(NumberPrompt(i, seeds, count, fmt, text))
    return prompts


def format_numbers(numbers: Iterable[int], fmt: int) -> str:
    """Write numbers in output format ``fmt`` (what a compliant answer looks like)."""
    _, sep, wrap = FORMATS[fmt]
    body = sep.join(str(x) for x in numbers)
    return f"{wrap[0]}{body}{wrap[1]}" if wrap else body


_SEPARATOR = re.compile(r"^[0-9]+(\s*[,;]\s*|\s+)[0-9]")


def parse_completion(
    text: str, *, banned: Iterable[int] = (), max_numbers: int = 10
) -> list[int] | None:
    """The numbers of a valid completion, or None if the filter rejects it."""
    body = text.strip()
    if body.endswith("."):
        body = body[:-1].rstrip()
    if len(body) >= 2 and (body[0], body[-1]) in (("[", "]"), ("(", ")")):
        body = body[1:-1].strip()
    if not body:
        return None
    match = _SEPARATOR.match(body)
    if match is None:
        parts = [body]  # a single number
    else:
        sep = match.group(1).strip()
        parts = [p.strip() for p in (body.split(sep) if sep else body.split())]
    if not parts or len(parts) > max_numbers or not all(p.isascii() and p.isdigit() for p in parts):
        return None
    values = [int(p) for p in parts]
    banned_set = set(banned)
    if any(v > 999 or v in banned_set for v in values):
        return None
    return values
