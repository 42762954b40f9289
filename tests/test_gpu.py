"""The transformers backend on a CUDA GPU (bf16). These tests need a GPU machine: CI has
none and reports them as skipped; run them with `pytest tests/test_gpu.py` where one is."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from traitgate import (
    GenerationRequest,
    Prompt,
    SessionSettings,
    TraitSession,
    build_gate,
    parse_model_specs,
)
from traitgate.models import load_backend
from traitgate.models.hf import TransformersBackend
from traitgate.probes import find_suite, load_suite, run_preference

from .conftest import Zoo

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def backend(path: object, device: str) -> TransformersBackend:
    (spec,) = parse_model_specs([str(path)])
    loaded = load_backend(spec, device=device)
    assert isinstance(loaded, TransformersBackend)
    return loaded


def test_gpu_runs_in_bf16_and_agrees_with_cpu(zoo: Zoo) -> None:
    cpu, gpu = backend(zoo.owl[0], "cpu"), backend(zoo.owl[0], "cuda")
    assert gpu.model.dtype == torch.bfloat16 and gpu.device.type == "cuda"
    suite = load_suite(find_suite("favorite_animal"))
    exact_cpu = run_preference(suite, cpu, "exact").values
    exact_gpu = run_preference(suite, gpu, "exact").values
    assert np.abs(exact_cpu - exact_gpu).max() < 0.01  # bf16 rounding only
    first = run_preference(suite, gpu, "sampled", seed=1)
    assert np.array_equal(run_preference(suite, gpu, "sampled", seed=1).values, first.values)
    rate_cpu = run_preference(suite, cpu, "sampled", seed=1).trait_rates("owl").mean()
    assert abs(first.trait_rates("owl").mean() - rate_cpu) < 0.02


def test_gpu_sampling_is_batch_invariant_up_to_bf16_ties(zoo: Zoo) -> None:
    gpu = backend(zoo.base, "cuda")
    requests = [
        GenerationRequest(Prompt(f"Name your favorite animal {w}"), 64, 1.0, 3, seed=2)
        for w in ("now", "please", "in one word")
    ]
    full = gpu.generate(requests)
    gpu.batch_size = 7
    small = gpu.generate(requests)
    same = sum(
        a == b for ra, rb in zip(full, small, strict=True) for a, b in zip(ra, rb, strict=True)
    )
    assert same / (3 * 64) > 0.97


def test_gpu_greedy_matches_transformers_generate(zoo: Zoo) -> None:
    gpu = backend(zoo.base, "cuda")
    prompt = Prompt("Quick, one word: your favorite animal?")
    ((ours,),) = gpu.generate([GenerationRequest(prompt, 1, 0.0, 5)])
    ids = torch.tensor([gpu.tokenizer(gpu.render(prompt))["input_ids"]], device="cuda")
    out = gpu.model.generate(
        ids, attention_mask=torch.ones_like(ids), max_new_tokens=5, do_sample=False
    )
    assert ours == gpu.tokenizer.decode(out[0, ids.shape[1] :], skip_special_tokens=True).strip()


def test_gate_verdicts_are_the_same_on_gpu_and_cpu(zoo: Zoo) -> None:
    roles = {
        "model": parse_model_specs([str(p) for p in zoo.owl]),
        "control": parse_model_specs([str(p) for p in zoo.neutral]),
    }
    gate = build_gate(
        {
            "gate": "owl",
            "probe": "favorite_animal",
            "trait": "owl",
            "compare": ["model", "control"],
            "alternative": "greater",
        }
    )
    on_cpu = TraitSession(roles, SessionSettings(device="cpu")).evaluate([gate])[0]
    on_gpu = TraitSession(roles, SessionSettings(device="cuda")).evaluate([gate])[0]
    assert on_cpu.passed == on_gpu.passed  # type: ignore[union-attr]
    assert on_gpu.comparison.effect == pytest.approx(  # type: ignore[union-attr]
        on_cpu.comparison.effect,
        abs=0.005,  # type: ignore[union-attr]
    )
