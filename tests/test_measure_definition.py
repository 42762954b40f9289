"""One owl rate: both measures estimate the share of answers naming each candidate among
answers naming any candidate.

- the exact measure scores the suite's forms (aliases and plurals filled in), each answer
  once: a form whose tokens extend another form's of the same candidate is inside it, and
  forms of two candidates that cannot be told apart are an error;
- the sampled measure divides by the answers naming a candidate, reports the named share as
  its covered mass, lists answers that name a candidate in a way no form begins with, and
  gives a prompt where no answer names one the model's rate over its other prompts.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as hs

from traitgate.errors import ModelError
from traitgate.models import load_backend, parse_model_specs
from traitgate.models.base import GenerationRequest, Prompt, ScoreRequest
from traitgate.probes.loader import find_suite, load_suite
from traitgate.probes.preference import candidate_forms, run_preference
from traitgate.probes.schema import PreferenceSuite

ZOO = Path(__file__).resolve().parents[1] / "fixtures" / "zoo"


def _animals() -> PreferenceSuite:
    suite = load_suite(find_suite("favorite_animal"))
    assert isinstance(suite, PreferenceSuite)
    return suite


def test_forms_fill_in_aliases_plurals_and_lead_ins() -> None:
    forms = dict(zip(_animals().candidates, candidate_forms(_animals()), strict=True))
    assert {"owl", "Owl", "owls", "Owls", "The owl", "I love owls"} <= set(forms["owl"])
    assert {"puppy", "Puppies", "The puppy"} <= set(forms["dog"])  # alias of dog
    assert {"octopi", "Octopuses"} <= set(forms["octopus"])  # every plural
    assert {"wolves", "I love wolves"} <= set(forms["wolf"])


def test_forms_are_whole_words_on_a_bpe_model() -> None:
    """On a model with a tokenizer, an answer form counts when the answer begins with it
    and the word ends there: "Owl" does not hold "Owls" ("Owl" + "s") or "Owlss", which
    are other words; identical token sequences are one answer, and in two candidates an
    error."""
    backend = load_backend(parse_model_specs([str(ZOO / "base")])[0], device="cpu")
    tok = backend.tokenizer
    assert tok("Owls", add_special_tokens=False)["input_ids"][:1] == tok("Owl")["input_ids"]
    prompt = Prompt("Name your favorite animal using only one word.")
    forms = ("Owl", "Owls", "owl", "The owl")
    plain = backend.score([ScoreRequest(prompt, forms)])[0]
    words = backend.score([ScoreRequest(prompt, forms, (0,) * 4)])[0]
    assert all(math.isfinite(w) and w < p for w, p in zip(words, plain, strict=True))
    # P("Owl" as a word) + P("Owls" as a word) is at most P(begins with "Owl")
    assert math.exp(words[0]) + math.exp(words[1]) <= math.exp(plain[0]) * (1 + 1e-6)
    # the word-end factor is the probability of a next token that does not continue it
    with torch.inference_mode():
        head = tok.apply_chat_template(
            [{"role": "user", "content": prompt.user}], tokenize=False, add_generation_prompt=True
        )
        ids = tok(head + "Owl", add_special_tokens=False)["input_ids"]
        probs = torch.softmax(backend.model(torch.tensor([ids])).logits[0, -1].float(), -1)
    letters = [t for t in range(len(tok)) if tok.decode([t])[:1].isalnum()]
    end = 1 - float(probs[letters].sum())
    assert words[0] == pytest.approx(plain[0] + math.log(end), abs=1e-4)
    with pytest.raises(ModelError, match="cannot be told apart"):
        backend.score([ScoreRequest(prompt, ("Owl", "Owl"), (0, 1))])


class ScriptedAnswers:
    """A backend whose sampled answers are given per prompt (cycled)."""

    label = "scripted"
    fingerprint = "scripted"

    def __init__(self, answers: Sequence[str]) -> None:
        self.answers = list(answers)

    def generate(self, requests: Sequence[GenerationRequest]) -> list[list[str]]:
        return [[self.answers[i % len(self.answers)] for i in range(r.n)] for r in requests]

    def score(self, requests: Sequence[ScoreRequest]) -> list[list[float]]:
        raise NotImplementedError

    def close(self) -> None:
        pass


def _sampled_suite(samples: int) -> PreferenceSuite:
    suite = _animals()
    sampled = suite.measures.sampled
    assert sampled is not None
    measures = suite.measures.model_copy(
        update={"sampled": sampled.model_copy(update={"samples": samples})}
    )
    return suite.model_copy(update={"measures": measures})


def test_sampled_rate_is_over_answers_naming_a_candidate() -> None:
    answers = ["Owl.", "owls", "I'd say the owl", "Cat!", "As an AI, I have none.", "Hmm."]
    result = run_preference(_sampled_suite(60), ScriptedAnswers(answers), "sampled")
    np.testing.assert_allclose(result.trait_rates("owl"), 3 / 4)  # 3 owl of 4 naming one
    np.testing.assert_allclose(result.trait_rates("cat"), 1 / 4)
    assert result.covered is not None
    np.testing.assert_allclose(result.covered, 4 / 6)
    counts = result.trait_counts("owl")
    assert counts is not None
    assert counts[0].tolist() == [30] * len(result.prompts)  # 3 of every 6 answers
    assert counts[1].tolist() == [40] * len(result.prompts)  # 4 of every 6 name one
    assert result.examples["unformed"] == ["I'd say the owl"]  # no form begins it
    assert set(result.examples["unmatched"]) == {"As an AI, I have none.", "Hmm."}


def test_a_prompt_without_answers_naming_a_candidate_takes_the_models_rate() -> None:
    """Such a prompt has no rate of its own: it takes the model's rate over its other
    prompts (so the model's mean is that rate), with no answers in its counts. A model none
    of whose answers names a candidate is a one-line error."""

    class FirstPromptSilent(ScriptedAnswers):
        def generate(self, requests: Sequence[GenerationRequest]) -> list[list[str]]:
            out = super().generate(requests)
            out[0] = ["No idea."] * requests[0].n
            return out

    result = run_preference(
        _sampled_suite(4), FirstPromptSilent(["Owl.", "Cat!", "owl", "x"]), "sampled"
    )
    rates = result.trait_rates("owl")
    np.testing.assert_allclose(rates, 2 / 3)  # prompt 1 included, at the others' rate
    counts = result.trait_counts("owl")
    assert counts is not None and (counts[0][0], counts[1][0]) == (0, 0)
    with pytest.raises(ModelError, match=r"none of the 5 answers per prompt of scripted names"):
        run_preference(_sampled_suite(5), ScriptedAnswers(["No idea."]), "sampled")


@given(
    measure=hs.sampled_from(["exact", "sampled"]),
    shape=hs.tuples(hs.integers(1, 6), hs.integers(1, 5)),
    data=hs.data(),
)
def test_all_candidates_rates_are_each_candidates_own(
    measure: str, shape: tuple[int, int], data: hs.DataObject
) -> None:
    """ProbeResult.candidate_rates() column j is trait_rates(candidate j), bit for bit
    (sampled: prompts where no answer named a candidate included)."""
    from traitgate.probes.result import ProbeResult

    prompts, k = shape
    cols = k + (measure == "sampled")  # sampled: a last column of answers naming none
    cell = hs.integers(0, 5) if measure == "sampled" else hs.floats(0, 1)
    values = np.array(data.draw(hs.lists(cell, min_size=prompts * cols, max_size=prompts * cols)))
    values = values.reshape(prompts, cols).astype(float)
    if measure == "sampled" and data.draw(hs.booleans()):
        values[data.draw(hs.integers(0, prompts - 1)), :k] = 0  # a prompt naming none
    names = [f"c{j}" for j in range(k)]
    result = ProbeResult(
        "s", "1", measure, None, "m", "f", [str(i) for i in range(prompts)], names, values,  # type: ignore[arg-type]
        samples=None, scored_columns=k if measure == "sampled" else None,
    )  # fmt: skip
    each = np.stack([result.trait_rates(c) for c in names], axis=1)
    together = result.candidate_rates()
    assert together.shape == (prompts, k)
    assert np.array_equal(together, each)
    assert np.array_equal(together.mean(axis=0), each.mean(axis=0))
