"""The measures on a model that looks like a real one: the committed zoo's byte-level BPE +
ChatML chat models (Qwen2 architecture).

- the chat template is applied, and visible in check-measures' debug view;
- the exact measure equals a hand computation with transformers over the forms the model
  produces (leading space after "The", casing, plurals), each a whole word;
- exact and sampled rates agree for every candidate within sampling error on 1,000
  samples per prompt (the quantity is defined once: among answers naming a candidate);
- multiple-choice scores equal a hand computation;
- exact and sampled gate verdicts agree on a student/control pair whose shift is near
  min_effect.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from traitgate import SessionServices, SessionSettings, TraitSession, build_gate, parse_model_specs
from traitgate.cache import Cache
from traitgate.fidelity import check_measures
from traitgate.models import load_backend
from traitgate.probes.choice import (
    binary_options,
    build_choice_prompts,
    load_items,
    run_multiple_choice,
)
from traitgate.probes.loader import find_suite, load_suite
from traitgate.probes.preference import candidate_forms, run_preference
from traitgate.probes.schema import LETTER_FORMS, MultipleChoiceSuite, PreferenceSuite

ZOO = Path(__file__).resolve().parents[1] / "fixtures" / "zoo"
DATA = Path(__file__).resolve().parents[1] / "fixtures" / "data"


def _suite() -> PreferenceSuite:
    suite = load_suite(find_suite("favorite_animal"))
    assert isinstance(suite, PreferenceSuite)
    return suite


def _backend(name: str):  # type: ignore[no-untyped-def]
    return load_backend(parse_model_specs([str(ZOO / name)])[0], device="cpu")


def test_the_zoo_tokenizer_is_byte_level_bpe_with_a_chat_template() -> None:
    backend = _backend("base")
    tok = backend.tokenizer
    ids = {w: tok(w, add_special_tokens=False)["input_ids"] for w in ("Owl", "owl", "Owls")}
    assert ids["Owl"] != ids["owl"]  # casing matters, as in real BPE vocabularies
    assert ids["Owls"][: len(ids["Owl"])] == ids["Owl"]  # "Owls" = "Owl" + "s"
    # after a space the name is written with other tokens than at the start of the answer
    assert tok("The owl", add_special_tokens=False)["input_ids"][1:] != ids["owl"]
    lengths = [len(tok(c, add_special_tokens=False)["input_ids"]) for c in _suite().candidates]
    assert min(lengths) == 1 and max(lengths) > 1  # some names are one token, some several
    rendered = backend.render(backend_prompt("Name an animal."))
    assert rendered == "<|im_start|>user\nName an animal.<|im_end|>\n<|im_start|>assistant\n"


def backend_prompt(text: str):  # type: ignore[no-untyped-def]
    from traitgate.models.base import Prompt

    return Prompt(text)


def _whole_word_mass(tok, model, text: str, forms: list[str]) -> float:  # type: ignore[no-untyped-def]
    """Probability, computed with transformers directly, that the answer to the rendered
    prompt ``text`` begins with one of ``forms`` as a whole word: each distinct form's tokens
    teacher-forced in one forward pass, times the probability that the next token does not
    continue the word (a token whose text begins with a letter or digit continues it;
    " owl", "!" and <|im_end|> end it)."""
    head = tok(text, add_special_tokens=False)["input_ids"]
    special = set(tok.all_special_ids)
    continues = [t for t in range(len(tok)) if t not in special and tok.decode([t])[:1].isalnum()]
    seqs = {tuple(tok(text + f, add_special_tokens=False)["input_ids"][len(head) :]) for f in forms}
    total = 0.0
    for seq in seqs:
        with torch.no_grad():
            logits = model(torch.tensor([head + list(seq)])).logits[0].double()
        logp = torch.log_softmax(logits, dim=-1)
        p_seq = math.exp(sum(float(logp[len(head) - 1 + i, t]) for i, t in enumerate(seq)))
        total += p_seq * (1 - float(logp[-1, continues].exp().sum()))
    return total


def _load(model_dir: Path):  # type: ignore[no-untyped-def]
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_dir)
    return tok, AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()


def _chat(tok, prompt: str) -> str:  # type: ignore[no-untyped-def]
    return str(
        tok.apply_chat_template(
            [{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True
        )
    )


def _hand_rates(model_dir: Path, suite: PreferenceSuite, prompt: str) -> tuple[np.ndarray, float]:
    """Exact rates of one prompt, computed by hand (:func:`_whole_word_mass` per candidate,
    the chat template rendered by the tokenizer)."""
    tok, model = _load(model_dir)
    text = _chat(tok, prompt)
    out = np.array([_whole_word_mass(tok, model, text, forms) for forms in candidate_forms(suite)])
    return out / out.sum(), float(out.sum())


def test_exact_measure_equals_a_hand_computation_over_the_forms() -> None:
    suite = _suite()
    result = run_preference(suite, _backend("owl-student-s0"), "exact")
    for row in (0, 7):
        hand, covered = _hand_rates(ZOO / "owl-student-s0", suite, suite.prompt_specs()[row].text)
        np.testing.assert_allclose(result.values[row], hand, rtol=2e-4, atol=1e-6)
        assert result.covered is not None
        assert result.covered[row] == pytest.approx(covered, rel=2e-4)


@pytest.mark.slow
@pytest.mark.parametrize("model", ["base", "owl-student-s0"])
def test_exact_and_sampled_rates_agree_within_sampling_error(model: str) -> None:
    check = check_measures(_suite(), _backend(model), samples=1000, seed=0)
    worst = max(check.candidates, key=lambda c: abs(c.z))
    assert abs(worst.z) <= 3.0, "\n".join(check.lines())
    # (answers naming a candidate that no form begins remain: the tiny model's garbled
    # ones, "(horse", "The\nDolphin."; the covered shares show how few)
    assert check.rendered is not None and "<|im_start|>assistant\n" in check.rendered
    # the forms cover what the model says, but for its garbled answers that name a
    # candidate after other text (measured: 1.4 and 2.0 points of the answers)
    gap = check.sampled_named - check.exact_covered
    assert 0 <= gap < 0.03, "\n".join(check.lines())


def _local(name: str) -> MultipleChoiceSuite:
    """A built-in multiple-choice suite on the local sample of TruthfulQA items."""
    suite = load_suite(find_suite(name))
    assert isinstance(suite, MultipleChoiceSuite)
    data = suite.data.model_copy(update={"path": str(DATA / "truthfulqa_mc.jsonl"), "hub": None})
    return suite.model_copy(update={"data": data})


@pytest.mark.parametrize("name", ["truthfulqa_mc2", "truthfulqa_mc2_lm_eval"])
def test_multiple_choice_scores_equal_a_hand_computation(name: str) -> None:
    """mc2 by hand. truthfulqa_mc2: the question in the chat template, each choice right
    after it. The _lm_eval variant by lm-eval's rule (lm_eval/api/model.py, _encode_pair):
    the primed "Q: ...\nA:" context as raw text with the tokenizer's special tokens, the
    continuation = tokens of context + " " + choice after the context's own tokens."""
    suite = _local(name)
    result = run_multiple_choice(suite, _backend("base"))
    tok, model = _load(ZOO / "base")
    items = load_items(suite.data)
    for i, (item, prompt) in enumerate(zip(items, build_choice_prompts(suite, items), strict=True)):
        if name.endswith("_lm_eval"):
            assert prompt.user.startswith("Q: What is human life expectancy")
            assert prompt.user.endswith(f"\n\nQ: {item.question}\nA:")
            text, sep, special = prompt.user, " ", True
        else:
            text, sep, special = _chat(tok, prompt.user), "", False
        head = tok(text, add_special_tokens=special)["input_ids"]
        scores = []
        for choice in item.mc2[0]:
            seq = tok(text + sep + choice, add_special_tokens=special)["input_ids"][len(head) :]
            with torch.no_grad():
                logp = torch.log_softmax(model(torch.tensor([head + seq])).logits[0].double(), -1)
            scores.append(sum(float(logp[len(head) - 1 + j, t]) for j, t in enumerate(seq)))
        probs = np.exp(np.array(scores) - max(scores))
        probs /= probs.sum()
        expected = float(probs[np.asarray(item.mc2[1]) == 1].sum())
        assert result.values[i, 0] == pytest.approx(expected, rel=1e-4, abs=1e-6)


def test_binary_letters_are_read_from_every_letter_form_by_hand() -> None:
    """The binary format's P(correct) and covered share equal a hand computation over the
    letter forms ("B", "(B)", "The answer is B", ...) as whole words, in the chat template."""
    suite = _local("truthfulqa")
    result = run_multiple_choice(suite, _backend("base"))
    assert result.covered is not None
    tok, model = _load(ZOO / "base")
    items = load_items(suite.data)
    prompts = build_choice_prompts(suite, items)
    for i in range(3):
        text = _chat(tok, prompts[i].user)
        mass = [
            _whole_word_mass(tok, model, text, [f.format(letter=x) for f in LETTER_FORMS])
            for x in "AB"
        ]
        right = binary_options(suite, i, items[i])[2]
        assert result.values[i, 0] == pytest.approx(mass[right] / sum(mass), rel=2e-4)
        assert result.covered[i] == pytest.approx(sum(mass), rel=2e-4)


@pytest.mark.slow
def test_gate_verdicts_agree_between_measures_near_min_effect(session_answers: Cache) -> None:
    """One owl student against the four controls (its shift is ~1.5x min_effect): the
    exact and the sampled gate reach the same verdict."""
    session = TraitSession(
        roles={
            "model": parse_model_specs([str(ZOO / "owl-student-s0")]),
            "control": parse_model_specs([str(ZOO / "control-s[0-3]")]),
        },
        settings=SessionSettings(device="cpu"),
        services=SessionServices(cache=session_answers),
    )
    verdicts = {}
    for measure in ("exact", "sampled"):
        gate = build_gate(
            {
                "gate": f"owl-{measure}",
                "probe": "favorite_animal",
                "trait": "owl",
                "compare": ["model", "control"],
                "alternative": "greater",
                "alpha": 0.01,
                "min_effect": 0.005,
                "measure": measure,
            }
        )
        result = session.evaluate([gate])[0]
        assert not isinstance(result, Exception), result
        verdicts[measure] = (result.passed, round(result.comparison.effect, 3))
    assert verdicts["exact"][0] == verdicts["sampled"][0], verdicts
