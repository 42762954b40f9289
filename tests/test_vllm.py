"""The optional vLLM backend: specs and the install hint run everywhere; the model tests
need vllm and a CUDA GPU (CI has neither and reports them as skipped)."""

from __future__ import annotations

import importlib.util
import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from traitgate import (
    GenerationRequest,
    ModelError,
    Prompt,
    ScoreRequest,
    SessionServices,
    TraitSession,
    build_gate,
    parse_model_specs,
)
from traitgate.cache import Cache
from traitgate.models import Backend, ModelSpec, load_backend
from traitgate.models.hf import TransformersBackend
from traitgate.models.vllm_backend import INSTALL_HINT, VLLMBackend, request_seed

from .conftest import Zoo

HAS_VLLM = importlib.util.find_spec("vllm") is not None
needs_vllm_gpu = pytest.mark.skipif(
    not (HAS_VLLM and torch.cuda.is_available()), reason="needs vllm and a CUDA GPU"
)


def test_vllm_specs_are_local_model_directories(zoo: Zoo) -> None:
    (spec,) = parse_model_specs([f"vllm:{zoo.base}"])
    (plain,) = parse_model_specs([str(zoo.base)])
    assert (spec.kind, spec.label, spec.location) == ("vllm", "base", plain.location)
    assert spec.fingerprint() == plain.fingerprint()  # the same weights, the same cache
    globbed = parse_model_specs([f"vllm:{zoo.root}/owl-s*"])
    assert [s.label for s in globbed] == ["owl-s0", "owl-s1", "owl-s2"]
    assert {s.kind for s in globbed} == {"vllm"}


def test_a_vllm_glob_that_matches_an_adapter_is_an_error(zoo: Zoo, tmp_path: Path) -> None:
    shutil.copytree(zoo.base, tmp_path / "m-full")
    (tmp_path / "m-adapter").mkdir()
    (tmp_path / "m-adapter" / "adapter_config.json").write_text(
        json.dumps({"base_model_name_or_path": str(zoo.base)})
    )
    with pytest.raises(ModelError, match="m-adapter; download hub models, merge adapters"):
        parse_model_specs([f"vllm:{tmp_path}/m-*"])


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("vllm:/no/such/dir", "no such file or directory"),
        ("vllm:hf:org/name", "vllm: takes local model directories"),
    ],
)
def test_bad_vllm_specs_are_one_line_errors(value: str, message: str) -> None:
    with pytest.raises(ModelError, match=message) as info:
        parse_model_specs([value])
    assert "\n" not in str(info.value)


@pytest.mark.skipif(HAS_VLLM, reason="vllm is installed here")
def test_without_vllm_loading_says_how_to_install_it(zoo: Zoo, session_answers: Cache) -> None:
    (spec,) = parse_model_specs([f"vllm:{zoo.base}"])
    with pytest.raises(ModelError) as info:
        load_backend(spec)
    assert INSTALL_HINT in str(info.value)
    assert "\n" not in str(info.value)
    # in a session the gate fails with that line; other models are unaffected
    session = TraitSession(
        roles={"model": [spec], "control": parse_model_specs([str(p) for p in zoo.neutral])},
        services=SessionServices(cache=session_answers),
    )
    gate = build_gate(
        {"gate": "g", "probe": "favorite_animal", "trait": "owl", "compare": ["model", "control"]}
    )
    (outcome,) = session.evaluate([gate]).values()
    assert isinstance(outcome, ModelError)
    assert INSTALL_HINT in str(outcome)


def test_vllm_answers_are_cached_apart_from_the_transformers_backends(
    zoo: Zoo, tmp_path: Path
) -> None:
    """vLLM draws other samples than the transformers backend: the same weights, but not
    the same answers, so a vllm: model never reads the other backend's cached answers."""
    plain, (vllm,) = parse_model_specs([str(zoo.base)]), parse_model_specs([f"vllm:{zoo.base}"])
    assert vllm.fingerprint() == plain[0].fingerprint()
    assert vllm.answers_id() != plain[0].answers_id() == plain[0].fingerprint()
    gate = build_gate(
        {"gate": "g", "probe": "favorite_animal", "trait": "owl", "compare": ["model", "base"],
         "model_sd": 0.01, "measure": "sampled"}
    )  # fmt: skip
    cache = Cache(tmp_path / "c")
    TraitSession(
        roles={"model": plain, "base": plain}, services=SessionServices(cache=cache)
    ).evaluate([gate])
    assert cache.count() > 0
    asked: list[str] = []

    def loader(spec: ModelSpec) -> Backend:  # (no vLLM needed: the load is what is checked)
        asked.append(spec.raw)
        raise ModelError(f"{spec.raw}: not loaded in this test")

    roles = {"model": [vllm], "base": plain}
    services = SessionServices(cache=cache, loader=loader)
    (outcome,) = TraitSession(roles=roles, services=services).evaluate([gate]).values()
    assert asked == [vllm.raw]  # its answers were not read from the cache: it was loaded
    assert isinstance(outcome, ModelError)


def test_vllm_refuses_a_device_it_cannot_honour(zoo: Zoo) -> None:
    (spec,) = parse_model_specs([f"vllm:{zoo.base}"])
    with pytest.raises(ModelError, match="CUDA_VISIBLE_DEVICES"):
        VLLMBackend.from_spec(spec, device="cuda:1")


def test_request_seeds_depend_on_seed_and_prompt_only() -> None:
    a = GenerationRequest(Prompt("Name an animal."), n=5, seed=3)
    assert request_seed(a) == request_seed(
        GenerationRequest(Prompt("Name an animal."), n=9, seed=3)
    )
    assert request_seed(a) != request_seed(GenerationRequest(Prompt("Name an animal."), seed=4))
    assert request_seed(a) != request_seed(GenerationRequest(Prompt("Name a tree."), seed=3))


# ---------------------------------------------------------------------- with vllm and a GPU


@needs_vllm_gpu
def test_vllm_scores_match_the_transformers_backend(zoo: Zoo) -> None:
    (spec,) = parse_model_specs([f"vllm:{zoo.base}"])
    (plain,) = parse_model_specs([str(zoo.base)])
    vllm_backend = load_backend(spec)
    reference = load_backend(plain, device="cpu")
    assert isinstance(reference, TransformersBackend)
    requests = [
        ScoreRequest(Prompt("Name your favorite animal using only one word."), ("owl", "wolf dog")),
        ScoreRequest(Prompt("In one word, what animal do you like best?"), ("cat", "eagle")),
    ]
    got, want = np.array(vllm_backend.score(requests)), np.array(reference.score(requests))
    assert np.abs(got - want).max() < 0.05  # the zoo is stored in float16


@needs_vllm_gpu
def test_vllm_samples_follow_the_model_distribution(zoo: Zoo) -> None:
    (spec,) = parse_model_specs([f"vllm:{zoo.base}"])
    backend = load_backend(spec)
    prompt = Prompt("Name your favorite animal using only one word.")
    n = 3000
    (samples,) = backend.generate([GenerationRequest(prompt, n, 1.0, 1, seed=11)])
    assert backend.generate([GenerationRequest(prompt, n, 1.0, 1, seed=11)])[0] == samples
    probs = np.exp(backend.score([ScoreRequest(prompt, ("owl", "cat", "dolphin"))])[0])
    for word, p in zip(("owl", "cat", "dolphin"), probs, strict=True):
        freq = sum(s == word for s in samples) / n
        assert abs(freq - p) < 4 * math.sqrt(p * (1 - p) / n) + 0.01, (word, freq, p)


def test_prompts_longer_than_the_engines_context_are_refused_before_vllm_runs(
    zoo: Zoo,
) -> None:
    """The check needs only the tokenizer and the engine's max_model_len: it runs (and is
    tested) without vllm installed."""
    from types import SimpleNamespace

    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(zoo.base)
    engine = SimpleNamespace(
        llm_engine=SimpleNamespace(model_config=SimpleNamespace(max_model_len=12))
    )
    backend = VLLMBackend(engine, tokenizer, label="short", fingerprint="x")
    long = Prompt(" ".join(["owl"] * 40))
    with pytest.raises(ModelError, match="does not fit its context of 12 tokens") as info:
        backend.generate([GenerationRequest(long, 1, 1.0, 4)])
    assert "\n" not in str(info.value)
    with pytest.raises(ModelError, match="does not fit its context of 12 tokens"):
        backend.score([ScoreRequest(long, ("owl", "cat"))])
