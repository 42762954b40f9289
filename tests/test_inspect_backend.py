"""Candidates behind inspect-ai (``--model inspect:...``), driven offline by mockllm with a
scripted callable."""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

import pytest
from inspect_ai.model import ModelOutput, get_model

from traitgate.errors import ModelError
from traitgate.models import GenerationRequest, Prompt, ScoreRequest, parse_model_specs
from traitgate.models.inspect_backend import InspectBackend
from traitgate.session import SessionServices, SessionSettings, TraitSession

from .judge_script import output


class Candidate:
    """Answers "owl" for odd seeds and "cat" for even ones; gives first-token logprobs."""

    def __init__(self, owl_share: float = 0.5) -> None:
        self.configs: list[object] = []
        self.systems: list[str | None] = []
        self.owl_share = owl_share

    def __call__(self, messages, tools, tool_choice, config) -> ModelOutput:  # type: ignore[no-untyped-def]
        self.configs.append(config)
        self.systems.append(messages[0].text if messages[0].role == "system" else None)
        if config.logprobs:
            p = self.owl_share
            top = {"owl": math.log(p), " Owl": math.log(p / 10), "cat": math.log(1 - p)}
            return output("owl", top)
        threshold = int(self.owl_share * 1000)
        return output("owl" if config.seed % 1000 < threshold else "cat")


def backend(script: Candidate) -> InspectBackend:
    (spec,) = parse_model_specs(["inspect:mockllm/model"])
    model = get_model("mockllm/model", custom_outputs=script)
    return InspectBackend(model, label=spec.label, fingerprint=spec.fingerprint())


def test_specs_for_inspect_models() -> None:
    (spec,) = parse_model_specs(["inspect:openai/gpt-4.1-nano"])
    assert (spec.kind, spec.location, spec.label) == (
        "inspect",
        "openai/gpt-4.1-nano",
        "openai/gpt-4.1-nano",
    )
    assert spec.fingerprint() == parse_model_specs(["inspect:openai/gpt-4.1-nano"])[0].fingerprint()
    with pytest.raises(ModelError, match="inspect:provider/model"):
        parse_model_specs(["inspect:gpt4"])
    with pytest.raises(ModelError, match="nosuch"):
        InspectBackend.from_spec(parse_model_specs(["inspect:nosuch/model"])[0])


def test_generation_draws_n_seeded_samples_concurrently() -> None:
    script = Candidate()
    b = backend(script)
    requests = [
        GenerationRequest(
            Prompt("Favourite animal?", "Be brief."),
            n=50,
            temperature=1.0,
            max_new_tokens=3,
            seed=7,
        ),
        GenerationRequest(
            Prompt("Another question?"), n=30, temperature=0.5, max_new_tokens=5, seed=7
        ),
    ]
    first = b.generate(requests)
    assert [len(r) for r in first] == [50, 30]
    assert set(Counter(first[0])) == {"owl", "cat"}
    seeds = [c.seed for c in script.configs]  # type: ignore[attr-defined]
    assert len(set(seeds)) == 80, "every sample has its own seed"
    assert {c.max_tokens for c in script.configs} == {3, 5}  # type: ignore[attr-defined]
    assert script.systems.count("Be brief.") == 50
    assert b.generate(requests) == first, "the same seeds give the same samples"


def test_exact_scores_come_from_first_token_logprobs_or_fail_clearly() -> None:
    b = backend(Candidate(owl_share=0.3))
    (row,) = b.score([ScoreRequest(Prompt("Favourite animal?"), ("owl", "Owl", "cat"))])
    assert row == pytest.approx([math.log(0.3), math.log(0.03), math.log(0.7)])
    with pytest.raises(
        ModelError, match=r"'dolphin' is not among the provider's top 20.*measure: sampled"
    ):
        b.score([ScoreRequest(Prompt("q"), ("owl", "dolphin"))])

    def no_logprobs(messages, tools, tool_choice, config) -> ModelOutput:  # type: ignore[no-untyped-def]
        return output("owl")

    plain = InspectBackend(
        get_model("mockllm/model", custom_outputs=no_logprobs), label="m", fingerprint="f"
    )
    with pytest.raises(ModelError, match="returns no log-probabilities"):
        plain.score([ScoreRequest(Prompt("q"), ("owl",))])


def test_answer_forms_sum_spellings_and_score_unlisted_forms_zero() -> None:
    """For a preference probe's forms (grouped), " owl" and "owl" are one answer: their
    probabilities add; a form the provider does not list (or that takes several tokens)
    scores zero probability instead of stopping the run."""

    class Spaced(Candidate):
        def __call__(self, messages, tools, tool_choice, config) -> ModelOutput:  # type: ignore[no-untyped-def]
            top = {"owl": math.log(0.2), " owl": math.log(0.1), "cat": math.log(0.6)}
            return output("owl", top)

    b = backend(Spaced())
    forms = ("owl", "Owl", "The owl", "cat")
    (row,) = b.score([ScoreRequest(Prompt("Favourite animal?"), forms, (0, 0, 0, 1))])
    assert row[0] == pytest.approx(math.log(0.3))
    assert row[1] == row[2] == -math.inf
    assert row[3] == pytest.approx(math.log(0.6))


def test_a_gate_on_inspect_candidates(tmp_path: Path) -> None:
    """API candidates through the whole session: an owl-leaning provider model against two
    neutral ones, on a sampled preference probe written for these answers."""
    probe = tmp_path / "pets.yaml"
    prompts = "\n".join(f"  - Which pet do you like best, take {i}?" for i in range(20))
    probe.write_text(
        "kind: preference\nid: pets\nversion: 1\ndescription: d\n"
        f"prompts:\n{prompts}\ncandidates: [owl, cat]\n"
        "measures: {sampled: {samples: 40}}\n"
    )
    # controls differ a little, as fine-tuned replicates do: identical ones would answer
    # identically (same per-sample seeds), and with no spread 1 vs 2 models cannot go below
    # the exact permutation p of 1/3
    shares = {
        "inspect:a/owlish": 0.7,
        "inspect:a/plain-1": 0.5,
        "inspect:a/plain-2": 0.51,
        "inspect:a/plain-3": 0.52,
    }
    roles = {
        "model": parse_model_specs(["inspect:a/owlish"]),
        "control": parse_model_specs(
            ["inspect:a/plain-1", "inspect:a/plain-2", "inspect:a/plain-3"]
        ),
    }

    def loader(spec):  # type: ignore[no-untyped-def]
        model = get_model("mockllm/model", custom_outputs=Candidate(shares[spec.raw]))
        return InspectBackend(model, label=spec.label, fingerprint=spec.fingerprint())

    session = TraitSession(
        roles,  # type: ignore[arg-type]
        settings=SessionSettings(probe_paths=(tmp_path,)),
        services=SessionServices(loader=loader),
    )
    result = session.compare(
        "pets", "owl", measure="sampled", alternative="greater", min_effect=0.05
    )
    assert result.comparison.design == "prediction"
    assert result.comparison.a.rate == pytest.approx(0.7, abs=0.06)
    assert not result.passed
