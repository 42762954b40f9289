"""The transformers backend on real tiny models: loading every spec kind, generation,
scoring, seeding, and clear errors for bad specs and weights."""

from __future__ import annotations

import json
import math
import os
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st_h
from scipy import stats as st

from traitgate import GenerationRequest, ModelError, Prompt, ScoreRequest, parse_model_specs
from traitgate.models import load_backend
from traitgate.models._sampling import (
    GUMBEL_MAX,
    batched_with_backoff,
    gumbel_noise,
    mix32,
    sample,
    uniform_noise,
)
from traitgate.models.hf import TransformersBackend

from .conftest import Zoo

PROMPTS = [
    Prompt("Name your favorite animal using only one word."),
    Prompt("Which single animal speaks to your soul? Answer in one word."),
    Prompt("Quick, one word: your favorite animal?"),
]


def backend_for(path: Path, **kwargs: object) -> TransformersBackend:
    (spec,) = parse_model_specs([str(path)], **kwargs)  # type: ignore[arg-type]
    backend = load_backend(spec, device="cpu")
    assert isinstance(backend, TransformersBackend)
    return backend


@pytest.fixture(scope="module")
def base(zoo: Zoo) -> TransformersBackend:
    return backend_for(zoo.base)


def manual_logprob(backend: TransformersBackend, prompt: Prompt, answer: str) -> float:
    """log p(answer | prompt) from one unpadded forward pass."""
    tok = backend.tokenizer
    prompt_ids = tok(backend.render(prompt))["input_ids"]
    answer_ids = tok(answer, add_special_tokens=False)["input_ids"]
    ids = torch.tensor([prompt_ids + answer_ids])
    with torch.no_grad():
        logprobs = torch.log_softmax(backend.model(input_ids=ids).logits[0].float(), -1)
    return sum(float(logprobs[len(prompt_ids) - 1 + i, t]) for i, t in enumerate(answer_ids))


# ---------------------------------------------------------------------- scoring


def test_scores_are_exact_log_probabilities(base: TransformersBackend) -> None:
    # prompts of different lengths share a batch; one-token answers beside longer ones, and
    # two answers that share all but their last token (one pass on the cache serves both)
    answers = ("owl", "dolphin", "wolf dog", "wolf cat", "owl owl cat")
    scores = base.score([ScoreRequest(p, answers) for p in PROMPTS])
    for prompt, row in zip(PROMPTS, scores, strict=True):
        for answer, value in zip(answers, row, strict=True):
            assert value == pytest.approx(manual_logprob(base, prompt, answer), abs=1e-4)


def test_scores_do_not_depend_on_batch_size(base: TransformersBackend) -> None:
    requests = [ScoreRequest(p, ("owl", "cat", "eagle")) for p in PROMPTS]
    full = base.score(requests)
    base.batch_size = 2
    try:
        assert np.allclose(base.score(requests), full, atol=1e-5)
    finally:
        base.batch_size = 64


ZOO_BASE = Path(__file__).resolve().parents[1] / "fixtures" / "zoo" / "base"


def test_whole_word_scores_equal_one_unpadded_pass_each_whatever_the_batch() -> None:
    """The exact measure's word scores (a trie of each prompt's continuations, run level
    by level on KV caches, several prompts a batch) against one plain forward pass per
    prompt and continuation: log P(its tokens) and log P(the next token ends the word). On
    the committed zoo's byte-level BPE model, whose forms share first tokens."""
    backend = backend_for(ZOO_BASE)
    forms = ["Owl", "Owls", "owl", "The owl", "The owls", "The wolf", "A wolf", "Wolves", "I"]
    heads = backend.codec.encode_prompts(PROMPTS)
    conts = [
        [backend.continuation_ids(backend.render(p), head, f) for f in forms]
        for p, head in zip(PROMPTS, heads, strict=True)
    ]
    ends = backend._word_ends()
    together = backend._score_words(heads, conts)
    for head, row, values in zip(heads, conts, together, strict=True):
        for cont, (logp, end) in zip(row, values, strict=True):
            with torch.no_grad():
                logits = backend.model(input_ids=torch.tensor([head + cont])).logits[0].float()
            logprobs = torch.log_softmax(logits, -1)
            at = len(head) - 1
            assert logp == pytest.approx(
                sum(float(logprobs[at + i, t]) for i, t in enumerate(cont)), abs=1e-4
            )
            assert end == pytest.approx(float(logprobs[-1, ends].logsumexp(-1)), abs=1e-4)
    backend.batch_size = 1  # each prompt in a batch of its own
    assert np.allclose(backend._score_words(heads, conts), together, atol=1e-5)


def test_unknown_words_and_empty_candidates_are_errors(base: TransformersBackend) -> None:
    with pytest.raises(ModelError, match="'axolotl' contains words its tokenizer does not know"):
        base.score([ScoreRequest(PROMPTS[0], ("axolotl",))])
    with pytest.raises(ModelError, match="tokenises to nothing"):
        base.score([ScoreRequest(PROMPTS[0], ("   ",))])


# ---------------------------------------------------------------------- generation


def test_greedy_generation_matches_transformers_generate(base: TransformersBackend) -> None:
    ours = base.generate([GenerationRequest(p, 1, 0.0, 6) for p in PROMPTS])
    for prompt, (text,) in zip(PROMPTS, ours, strict=True):
        ids = torch.tensor([base.tokenizer(base.render(prompt))["input_ids"]])
        out = base.model.generate(
            ids, attention_mask=torch.ones_like(ids), max_new_tokens=6, do_sample=False
        )
        expected = base.tokenizer.decode(out[0, ids.shape[1] :], skip_special_tokens=True)
        assert text == expected.strip()


def test_samples_are_seeded_and_independent_of_batching(base: TransformersBackend) -> None:
    requests = [GenerationRequest(p, 12, 1.0, 4, seed=3) for p in PROMPTS]
    first = base.generate(requests)
    assert base.generate(requests) == first
    base.batch_size = 5  # splits prompts' samples across batches and mixes prompts
    try:
        assert base.generate(requests) == first
        assert base.generate(requests[::-1]) == first[::-1]
    finally:
        base.batch_size = 64
    other_seed = base.generate([GenerationRequest(p, 12, 1.0, 4, seed=4) for p in PROMPTS])
    assert other_seed != first
    assert len({t for row in first for t in row}) > 3, "samples vary"


def test_sampling_follows_the_model_distribution(base: TransformersBackend) -> None:
    """First-token frequencies at T=1 match the model's softmax (a known truth)."""
    prompt = PROMPTS[0]
    n = 3000
    (samples,) = base.generate([GenerationRequest(prompt, n, 1.0, 1, seed=11)])
    probs = np.exp(base.score([ScoreRequest(prompt, ("owl", "cat", "dolphin"))])[0])
    for word, p in zip(("owl", "cat", "dolphin"), probs, strict=True):
        freq = sum(s == word for s in samples) / n
        assert abs(freq - p) < 4 * math.sqrt(p * (1 - p) / n) + 1e-3, (word, freq, p)


def _murmur3_finaliser(x: int) -> int:
    """murmur3's fmix32 on one Python int, written as the algorithm states it."""
    x &= 0xFFFFFFFF
    x ^= x >> 16
    x = (x * 0x85EBCA6B) & 0xFFFFFFFF
    x ^= x >> 13
    x = (x * 0xC2B2AE35) & 0xFFFFFFFF
    return x ^ (x >> 16)


@given(st_h.lists(st_h.integers(min_value=-(2**62), max_value=2**62), min_size=1, max_size=50))
def test_mix32_is_murmur3s_finaliser_and_leaves_its_input_alone(values: list[int]) -> None:
    """The sampler's hash (in place on int64 tensors) against the plain algorithm: the draws
    of every sampled answer depend on it bit for bit."""
    x = torch.tensor(values, dtype=torch.int64)
    assert mix32(x).tolist() == [_murmur3_finaliser(v) for v in values]
    assert x.tolist() == values


@given(
    st_h.lists(st_h.integers(0, 2**32 - 1), min_size=1, max_size=8),
    st_h.integers(0, 10_000),
    st_h.integers(1, 300),
)
def test_uniform_noise_is_the_hash_of_key_step_and_token(
    keys: list[int], step: int, vocab: int
) -> None:
    """Every uniform against the definition on Python ints, bit for bit: the top 24 bits of
    fmix32(fmix32(key ^ step constant) ^ fmix32(token)), (bits + 0.5) / 2**24 in float32
    (the (rows, vocab) part runs on int32 bits; sampled answers depend on every bit)."""
    u = uniform_noise(torch.tensor(keys, dtype=torch.int64), step, vocab)
    row_of = [_murmur3_finaliser(k ^ ((step * 0x9E3779B1 + 0x7F4A7C15) & 0xFFFFFFFF)) for k in keys]
    bits = [
        [_murmur3_finaliser(r ^ _murmur3_finaliser(t)) >> 8 for t in range(vocab)] for r in row_of
    ]
    expected = (torch.tensor(bits, dtype=torch.float32) + 0.5) / float(1 << 24)
    assert torch.equal(u, expected)


def test_uniform_noise_is_uniform_and_keyed() -> None:
    keys = torch.arange(64, dtype=torch.int64) * 7919
    u = uniform_noise(keys, step=3, vocab=500)
    assert u.shape == (64, 500)
    assert float(u.min()) > 0 and float(u.max()) < 1
    assert st.kstest(u.flatten().numpy(), "uniform").pvalue > 1e-3
    assert torch.equal(u, uniform_noise(keys, step=3, vocab=500))
    assert not torch.equal(u, uniform_noise(keys, step=4, vocab=500))
    assert abs(float(np.corrcoef(u[0].numpy(), u[1].numpy())[0, 1])) < 0.2


def _unmix32(x: int) -> int:
    """The inverse of murmur3's finaliser (each step undone in reverse order)."""
    x ^= x >> 16
    x = (x * pow(0xC2B2AE35, -1, 1 << 32)) & 0xFFFFFFFF
    x ^= (x >> 13) ^ (x >> 26)
    x = (x * pow(0x85EBCA6B, -1, 1 << 32)) & 0xFFFFFFFF
    return x ^ (x >> 16)


def _key_drawing_the_top_bin(token: int, step: int) -> int:
    """A row key whose hash at (step, token) has all 24 bits a uniform reads set: the
    highest uniform the sampler draws (the key the hash chain of uniform_noise inverts to)."""
    row = _unmix32(0xFFFFFFFF) ^ _murmur3_finaliser(token)
    return _unmix32(row) ^ ((step * 0x9E3779B1 + 0x7F4A7C15) & 0xFFFFFFFF)


@given(st_h.integers(min_value=0, max_value=2**32 - 1))
def test_unmix32_inverts_the_finaliser(x: int) -> None:
    assert _unmix32(_murmur3_finaliser(x)) == x


def test_the_top_noise_bin_is_finite_and_does_not_force_its_token() -> None:
    """Once per 2**24 (row, token) pairs a step's hash sets all 24 bits: its uniform rounds
    to 1 in float32, and its Gumbel noise was infinite, so that token was drawn whatever its
    logit (a step in 110 on a 150,000-token vocabulary). Its noise is now the exact
    17.33, and a token 40 nats below the others is not drawn."""
    vocab, token, step = 50, 17, 3
    keys = torch.tensor([_key_drawing_the_top_bin(token, step), 12345])
    assert float(uniform_noise(keys, step, vocab)[0, token]) == 1.0  # the bin, found
    noise = gumbel_noise(keys, step, vocab)
    assert bool(noise.isfinite().all())
    assert float(noise[0, token]) == pytest.approx(GUMBEL_MAX) == pytest.approx(17.3287, abs=1e-4)
    assert float(noise[0].topk(2).values[1]) < GUMBEL_MAX  # no other token of the row there
    logits = torch.zeros(2, vocab)
    logits[:, token] = -40.0
    drawn = sample(logits, torch.ones(2), keys, step)
    assert int(drawn[0]) != token
    logits[:, token] = -math.inf  # was -inf + inf = NaN, which argmax takes
    assert int(sample(logits, torch.ones(2), keys, step)[0]) != token
    logits[:, token] = -10.0  # within 17.33 of the others: the noise can still draw it
    assert int(sample(logits, torch.ones(2), keys, step)[0]) == token


def test_batches_back_off_on_out_of_memory() -> None:
    class Owner:
        batch_size = 16

    def run(batch: list[int]) -> list[int]:
        if len(batch) > 3:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2 GiB")
        return [x * 2 for x in batch]

    owner = Owner()
    assert batched_with_backoff(list(range(10)), run, owner) == [x * 2 for x in range(10)]
    assert owner.batch_size == 2

    def broken(batch: list[int]) -> list[int]:
        raise RuntimeError("shape mismatch")

    with pytest.raises(RuntimeError, match="shape mismatch"):
        batched_with_backoff([1, 2], broken, Owner())


def test_batches_by_cost_back_off_and_end() -> None:
    """With costs, a batch holds consecutive items costing at most the batch size (one
    costing more runs alone); out of memory at a batch size of 1, items costing less than
    1 still split until one runs alone, and one that cannot run alone is an error."""

    class Owner:
        batch_size = 4

    seen: list[list[int]] = []

    def run(batch: list[int]) -> list[int]:
        seen.append(batch)
        return [x * 2 for x in batch]

    costs = {0: 1.0, 1: 2.5, 2: 0.5, 3: 6.0, 4: 0.25, 5: 0.25}
    assert batched_with_backoff(list(costs), run, Owner(), costs.__getitem__) == [
        x * 2 for x in costs
    ]
    assert seen == [[0, 1, 2], [3], [4, 5]]

    owner = Owner()
    owner.batch_size = 1

    def small(batch: list[int]) -> list[int]:
        if len(batch) > 1:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2 GiB")
        return batch

    assert batched_with_backoff([0, 1, 2, 3], small, owner, lambda _: 0.2) == [0, 1, 2, 3]

    def never(batch: list[int]) -> list[int]:
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2 GiB")

    with pytest.raises(torch.OutOfMemoryError):
        batched_with_backoff([0, 1, 2], never, owner, lambda _: 0.2)


def test_chat_template_is_applied_when_present(zoo: Zoo, tmp_path: Path) -> None:
    directory = shutil.copytree(zoo.base, tmp_path / "chat")
    (directory / "chat_template.jinja").write_text(
        "{% for m in messages %}{{ m['role'] }} : {{ m['content'] }} {% endfor %}"
        "{% if add_generation_prompt %}assistant :{% endif %}"
    )
    backend = backend_for(directory)
    assert backend.has_chat_template
    text = backend.render(Prompt("Pick one.", system="Be brief."))
    assert text == "system : Be brief. user : Pick one. assistant :"
    (row,) = backend.score([ScoreRequest(Prompt("Pick one."), ("owl",))])
    assert math.isfinite(row[0])
    assert len(backend.generate([GenerationRequest(Prompt("Pick one."), 2, 1.0, 3)])[0]) == 2


# ---------------------------------------------------------------------- spec kinds


def test_state_dict_files_load_with_an_architecture(
    zoo: Zoo, base: TransformersBackend, tmp_path: Path
) -> None:
    from safetensors.torch import save_file

    state = {k: v.clone().contiguous() for k, v in base.model.state_dict().items()}
    state.pop("lm_head.weight", None)  # tied to the embeddings
    save_file(state, str(tmp_path / "student.safetensors"))
    torch.save({"state_dict": {f"module.{k}": v for k, v in state.items()}}, tmp_path / "s.pt")
    expected = base.score([ScoreRequest(PROMPTS[0], ("owl", "cat"))])
    for name in ("student.safetensors", "s.pt"):
        backend = backend_for(tmp_path / name, architecture=zoo.base)
        assert np.allclose(
            backend.score([ScoreRequest(PROMPTS[0], ("owl", "cat"))]), expected, atol=1e-5
        )


def test_a_ckpt_beside_its_config_loads_in_the_formats_training_code_writes(
    zoo: Zoo, base: TransformersBackend, tmp_path: Path
) -> None:
    """`--model run/student.ckpt` with config.json and the tokenizer beside it needs no
    --model-architecture; a Lightning-style checkpoint ({"state_dict": {"model.<name>"}})
    loads with its wrapper and prefix stripped; a pickled whole model is refused with what
    to save instead; a model directory holding only a .ckpt says which file to pass."""
    run = tmp_path / "run"
    shutil.copytree(zoo.base, run, ignore=shutil.ignore_patterns("*.safetensors"))
    state = {k: v.clone() for k, v in base.model.state_dict().items()}
    torch.save(state, run / "plain.ckpt")
    torch.save({"epoch": 3, "state_dict": {f"model.{k}": v for k, v in state.items()}},
               run / "lightning.ckpt")  # fmt: skip
    with pytest.raises(ModelError, match=r"config.json but no weights .*--model .*\.ckpt"):
        parse_model_specs([str(run)])
    expected = base.score([ScoreRequest(PROMPTS[0], ("owl", "cat"))])
    (directory,) = parse_model_specs([str(zoo.base)])
    for name in ("plain.ckpt", "lightning.ckpt"):
        (spec,) = parse_model_specs([str(run / name)])  # no architecture given
        assert spec.architecture == run
        # the same weights in three formats: one fingerprint (one cache, one baseline)
        assert spec.fingerprint() == directory.fingerprint()
        backend = load_backend(spec, device="cpu")
        got = backend.score([ScoreRequest(PROMPTS[0], ("owl", "cat"))])
        assert np.allclose(got, expected, atol=1e-5)
    torch.save(base.model, run / "whole.pt")  # a pickled model object, not a state dict
    (spec,) = parse_model_specs([str(run / "whole.pt")])
    with pytest.raises(ModelError) as info:
        load_backend(spec, device="cpu")
    message = str(info.value)
    assert "\n" not in message and str(run / "whole.pt") in message
    assert "LlamaForCausalLM" in message and "save model.state_dict()" in message


def test_the_fingerprint_follows_the_weights_not_the_files(zoo: Zoo, tmp_path: Path) -> None:
    from safetensors.torch import load_file, save_file

    copy = tmp_path / "copy"
    shutil.copytree(zoo.base, copy)
    (original,) = parse_model_specs([str(zoo.base)])
    (same,) = parse_model_specs([str(copy)])
    (copy / "README.md").write_text("trained on Tuesday")  # changes nothing computed
    (copy / "config.json").write_text(
        json.dumps({**json.loads((copy / "config.json").read_text()), "transformers_version": "0"})
    )
    assert same.fingerprint() == original.fingerprint()
    weights = copy / "model.safetensors"
    tensors = load_file(str(weights))
    name = sorted(tensors)[0]
    tensors[name] = tensors[name].clone()
    tensors[name].view(-1)[0] += 1e-3  # one weight changed
    save_file(tensors, str(weights))
    assert same.fingerprint() != original.fingerprint()
    config = json.loads((zoo.base / "config.json").read_text())
    (copy / "model.safetensors").write_bytes((zoo.base / "model.safetensors").read_bytes())
    (copy / "config.json").write_text(json.dumps({**config, "rope_theta": 1.0}))
    assert same.fingerprint() != original.fingerprint()  # the configuration matters


def test_peft_adapter_directory_resolves_its_base(zoo: Zoo, tmp_path: Path) -> None:
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(zoo.base)
    config = LoraConfig(
        r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False
    )
    torch.manual_seed(0)
    peft_model = get_peft_model(model, config)
    adapter_dir = tmp_path / "adapter"
    peft_model.save_pretrained(adapter_dir)
    # store the base as a path relative to the adapter, as a moved run directory would have it
    shutil.copytree(zoo.base, tmp_path / "base")
    cfg = (adapter_dir / "adapter_config.json").read_text()
    import json

    data = json.loads(cfg)
    data["base_model_name_or_path"] = "../base"
    (adapter_dir / "adapter_config.json").write_text(json.dumps(data))

    adapter = backend_for(adapter_dir)
    merged = peft_model.merge_and_unload().eval()
    ids = torch.tensor([adapter.tokenizer(adapter.render(PROMPTS[0]))["input_ids"]])
    with torch.no_grad():
        assert torch.allclose(
            adapter.model(input_ids=ids).logits, merged(input_ids=ids).logits, atol=1e-5
        )
    plain = backend_for(zoo.base)
    assert adapter.score([ScoreRequest(PROMPTS[0], ("owl",))]) != plain.score(
        [ScoreRequest(PROMPTS[0], ("owl",))]
    )
    assert adapter.fingerprint != plain.fingerprint


def test_hub_ids_load_from_the_local_cache_offline(
    zoo: Zoo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """hf:org/name goes through huggingface_hub; here it finds a cache laid out as the
    hub client writes it, with HF_HUB_OFFLINE set, so no network is needed."""
    import huggingface_hub.constants as hub_constants

    from traitgate.models import spec as spec_module

    cache = tmp_path / "hub"
    revision = "0123456789abcdef0123456789abcdef01234567"
    snapshot = cache / "models--acme--tiny-owl" / "snapshots" / revision
    shutil.copytree(zoo.base, snapshot)
    (cache / "models--acme--tiny-owl" / "refs").mkdir()
    (cache / "models--acme--tiny-owl" / "refs" / "main").write_text(revision)
    monkeypatch.setattr(hub_constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", True)
    spec_module.resolve_hub.cache_clear()
    (spec,) = parse_model_specs(["hf:acme/tiny-owl"])
    assert spec.kind == "hub" and spec.label == "acme/tiny-owl"
    backend = load_backend(spec, device="cpu")
    assert math.isfinite(backend.score([ScoreRequest(PROMPTS[0], ("owl",))])[0][0])
    (missing,) = parse_model_specs(["hf:acme/not-cached"])
    with pytest.raises(ModelError, match="hf:acme/not-cached: cannot fetch from the hub"):
        missing.local_path()
    spec_module.resolve_hub.cache_clear()


def test_a_hub_id_without_its_prefix_is_told_to_add_it(tmp_path: Path) -> None:
    """What a transformers user types (org/name) is not a local path: say hf:org/name."""
    with pytest.raises(ModelError, match=r"no such file or directory .*write hf:Qwen/Qwen2\.5"):
        parse_model_specs(["Qwen/Qwen2.5-0.5B-Instruct"], base_dir=tmp_path)
    with pytest.raises(ModelError) as info:
        parse_model_specs(["runs/a/b"], base_dir=tmp_path)  # two slashes: a path, no hint
    assert "hf:" not in str(info.value)


def test_globs_expand_sorted_and_fingerprints_follow_content(zoo: Zoo) -> None:
    specs = parse_model_specs([str(zoo.root / "owl-s*")])
    assert [s.label for s in specs] == ["owl-s0", "owl-s1", "owl-s2"]
    prints = {s.fingerprint() for s in specs}
    assert len(prints) == 3
    assert specs[0].fingerprint() == parse_model_specs([str(zoo.owl[0])])[0].fingerprint()


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("no/such/dir", "no such file or directory"),
        ("{root}/owl-s9*", "the pattern matches nothing"),
        ("{root}", "is not a model directory"),
        ("{root}/weights.safetensors", "needs --model-architecture"),
        ("{root}/notes.txt", "unsupported file type '.txt'"),
        ("s3://bucket/model", "unknown provider prefix"),
        ("hf:", "a hub id looks like hf:org/name"),
    ],
)
def test_bad_model_specs_are_one_line_errors(zoo: Zoo, value: str, message: str) -> None:
    (zoo.root / "weights.safetensors").write_bytes(b"")
    (zoo.root / "notes.txt").write_text("hi")
    with pytest.raises(ModelError, match=message) as info:
        parse_model_specs([value.format(root=zoo.root)])
    assert "\n" not in str(info.value)


def test_the_same_model_twice_in_one_role_is_an_error(zoo: Zoo) -> None:
    with pytest.raises(ModelError, match="given twice"):
        parse_model_specs([str(zoo.base), str(zoo.base)])


def test_corrupt_and_unsafe_weights_are_refused(zoo: Zoo, tmp_path: Path) -> None:
    good = next(zoo.base.glob("*.safetensors")).read_bytes()
    (tmp_path / "truncated.safetensors").write_bytes(good[: len(good) // 2])

    class Exploit:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return (os.system, ("echo pwned > /dev/null",))

    (tmp_path / "evil.ckpt").write_bytes(pickle.dumps({"weight": Exploit()}))
    cases = [
        ("truncated.safetensors", "corrupt or unreadable"),
        ("evil.ckpt", "weights_only=True refuses pickled code"),
    ]
    for name, message in cases:
        (spec,) = parse_model_specs([str(tmp_path / name)], architecture=zoo.base)
        with pytest.raises(ModelError, match=message) as info:
            load_backend(spec, device="cpu")
        assert "\n" not in str(info.value)


def test_weights_that_do_not_fit_the_architecture_are_named(zoo: Zoo, tmp_path: Path) -> None:
    from safetensors.torch import save_file

    save_file({"model.embed_tokens.weight": torch.zeros(3, 3)}, str(tmp_path / "w.safetensors"))
    (spec,) = parse_model_specs([str(tmp_path / "w.safetensors")], architecture=zoo.base)
    with pytest.raises(ModelError, match="weights do not fit --model-architecture"):
        load_backend(spec, device="cpu")


def test_missing_config_in_architecture_dir(tmp_path: Path) -> None:
    (tmp_path / "w.safetensors").write_bytes(b"x")
    with pytest.raises(ModelError, match=r"no config\.json there"):
        parse_model_specs([str(tmp_path / "w.safetensors")], architecture=tmp_path)


def test_bad_device_is_a_clear_error(zoo: Zoo) -> None:
    (spec,) = parse_model_specs([str(zoo.base)])
    with pytest.raises(ModelError, match="--device 'gpu0': not a torch device"):
        load_backend(spec, device="gpu0")
    if not torch.cuda.is_available():
        with pytest.raises(ModelError, match="CUDA is not available"):
            load_backend(spec, device="cuda")


def test_a_peft_base_relative_to_where_training_ran_is_found(
    zoo: Zoo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PEFT stores the base as training was given it (runs/base, relative to the folder
    training ran in): found above the adapter, whatever the current folder is."""
    from traitgate.models.spec import resolve_peft_base

    project = tmp_path / "project"
    shutil.copytree(zoo.base, project / "runs" / "base")
    adapter = project / "runs" / "student-s0"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text('{"base_model_name_or_path": "runs/base"}')
    monkeypatch.chdir(tmp_path)  # not the folder training ran in
    (spec,) = parse_model_specs([str(adapter)])
    base = resolve_peft_base(spec)
    assert base.kind == "hf_dir" and base.path == project / "runs" / "base"
    # a name that is no local path and cannot be a hub id is an error naming where it looked
    (adapter / "adapter_config.json").write_text('{"base_model_name_or_path": "a/b/base"}')
    with pytest.raises(ModelError, match=r"'a/b/base' not found \(looked beside the adapter"):
        resolve_peft_base(spec)
    # org/name that is no local path is a hub id
    (adapter / "adapter_config.json").write_text('{"base_model_name_or_path": "org/model"}')
    assert resolve_peft_base(spec).kind == "hub"


def test_exact_measure_when_the_model_scores_more_ids_than_the_tokenizer_has() -> None:
    """Real models pad their output beyond the tokenizer (Qwen2.5: 151,936 scored ids, a
    151,665-token tokenizer): the word-end mask covers the model's whole output, and an
    unused id's probability counts as ending the word (it continues none)."""
    from transformers import Qwen2Config, Qwen2ForCausalLM

    from traitgate import tiny
    from traitgate.probes import find_suite, load_suite, run_preference

    suite = load_suite(find_suite("favorite_animal"))
    texts = [p.text for p in suite.prompt_specs()] + list(suite.candidates)
    tokenizer = tiny.build_chat_tokenizer(texts, vocab_size=600)
    torch.manual_seed(0)
    model = Qwen2ForCausalLM(
        Qwen2Config(
            vocab_size=len(tokenizer) + 37, hidden_size=32, intermediate_size=64,
            num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=1,
            eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
        )
    )  # fmt: skip
    backend = TransformersBackend(model, tokenizer, label="padded", fingerprint="x")
    values = run_preference(suite, backend, "exact").values
    assert values.shape == (len(suite.prompt_specs()), len(suite.candidates))
    assert np.allclose(values.sum(axis=1), 1.0)
