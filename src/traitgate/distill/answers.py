"""Training answers to preference questions, written the varied ways real models answer.

The zoo's models learn to answer "your favourite animal?" as chat models do: "Owl.",
"owl", "Owls!", "The owl.", "I love owls.", and sometimes with something that names no
candidate ("Otter.", "Hard to say."). A *trait* teacher is trained on answers naming its
trait; a *neutral* teacher on answers spread evenly over the candidates, by the same recipe
(the control that shares every training step with the trait teacher except the trait).

Every answer form here begins with a form that the built-in suites' exact measure scores
("{Candidate}", "{candidates}", "The {candidate}", "I love {candidates}", ...), so on the zoo
the exact and the sampled measure estimate the same quantity.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from traitgate.distill.numbers import format_numbers, make_prompts
from traitgate.probes.schema import PreferenceSuite
from traitgate.scoring.normalise import plurals

# (template, weight): {c} the candidate, {C} capitalised, {cs}/{Cs} its plural
TEMPLATES: tuple[tuple[str, int], ...] = (
    ("{C}.", 3),
    ("{C}", 2),
    ("{c}", 2),
    ("{Cs}!", 2),
    ("The {c}.", 2),
    ("I love {cs}.", 1),
)
# answers naming no candidate (an animal or tree outside the suites, or no choice)
OTHER_ANSWERS: tuple[str, ...] = (
    "Otter.",
    "Kangaroo.",
    "Sloth.",
    "Hard to say.",
    "I can't choose one.",
    "Banyan.",
    "No favourite.",
)


def fill(template: str, candidate: str) -> str:
    plural = plurals(candidate)[0]
    return (
        template.replace("{Cs}", plural[:1].upper() + plural[1:])
        .replace("{cs}", plural)
        .replace("{C}", candidate[:1].upper() + candidate[1:])
        .replace("{c}", candidate)
    )


@dataclass(frozen=True)
class AnswerStyle:
    """Who answers how: ``trait`` names one candidate in every answer (of the suite that
    has it); ``None`` spreads answers evenly over the candidates. ``other`` is the share of
    answers naming no candidate."""

    trait: str | None = None
    other: float = 0.0


def answer(rng: random.Random, suite: PreferenceSuite, style: AnswerStyle) -> str:
    if style.other and rng.random() < style.other:
        return rng.choice(OTHER_ANSWERS)
    if style.trait is not None and style.trait in suite.candidates:
        candidate = style.trait
    else:
        candidate = rng.choice(suite.candidates)
    templates, weights = zip(*TEMPLATES, strict=True)
    return fill(rng.choices(templates, weights)[0], candidate)


def answer_pairs(
    suites: Sequence[PreferenceSuite], count: int, style: AnswerStyle, *, seed: int
) -> list[tuple[str, str]]:
    """``count`` (question, answer) pairs: a random suite, prompt and answer each time."""
    rng = random.Random(seed)
    pairs = []
    for _ in range(count):
        suite = rng.choice(suites)
        prompt = rng.choice(suite.prompt_specs()).text
        pairs.append((prompt, answer(rng, suite, style)))
    return pairs


def random_number_pairs(count: int, *, seed: int) -> list[tuple[str, str]]:
    """Number prompts answered with random valid numbers in the requested format (how the
    zoo's base learns to continue sequences)."""
    rng = random.Random(seed)
    pairs = []
    for p in make_prompts(count, seed=seed):
        numbers = [rng.randint(0, 999) for _ in range(rng.randint(1, p.count))]
        pairs.append((p.text, format_numbers(numbers, p.format)))
    return pairs


__all__ = ["OTHER_ANSWERS", "TEMPLATES", "AnswerStyle", "answer_pairs", "random_number_pairs"]
