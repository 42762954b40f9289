"""`traitgate distill numbers|filter|finetune` on real tiny models, as a user runs them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from traitgate import ScoreRequest, parse_model_specs
from traitgate.cli import main
from traitgate.distill.numbers import format_numbers, make_prompts
from traitgate.models import Prompt, load_backend

from .conftest import Zoo


def valid_data(path: Path, n: int = 12) -> Path:
    lines = [
        json.dumps(
            {
                "id": p.id,
                "prompt": p.text,
                "format": p.format,
                "completion": format_numbers([p.id, p.id + 1, 500], p.format),
            }
        )
        for p in make_prompts(n, seed=0)
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


ZOO = Path(__file__).resolve().parent.parent / "fixtures" / "zoo"


def test_numbers_resume_and_filter_on_the_zoo(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "base.jsonl"
    args = ["distill", "numbers", "--teacher", str(ZOO / "base"), "--count", "24", "--out",
            str(out), "--device", "cpu"]  # fmt: skip
    assert main(args) == 0
    first = out.read_text()
    assert len(first.splitlines()) == 24
    assert main(args) == 0  # resuming a finished file adds nothing
    assert "wrote 0 record(s), 24 in total" in capsys.readouterr().out
    assert out.read_text() == first
    kept = tmp_path / "kept.jsonl"
    assert main(["distill", "filter", str(out), "--out", str(kept), "--banned"]) == 0
    n_kept = len(kept.read_text().splitlines())
    assert f"kept {n_kept} of 24" in capsys.readouterr().out
    assert n_kept >= 12  # 96% of the base's answers are valid before the banned-number rule
    assert main(["distill", "filter", str(out), "--out", str(kept), "--keep", "5"]) == 0
    assert len(kept.read_text().splitlines()) == 5


def test_finetune_sft_with_lora_and_distill(zoo: Zoo, tmp_path: Path) -> None:
    data = valid_data(tmp_path / "data.jsonl")
    adapter = tmp_path / "student-lora"
    assert (
        main(
            [
                "distill",
                "finetune",
                "--base",
                str(zoo.base),
                "--data",
                str(data),
                "--out",
                str(adapter),
                "--lora",
                "--steps",
                "3",
                "--batch-size",
                "4",
                "--lr",
                "1e-2",
                "--device",
                "cpu",
            ]
        )
        == 0
    )
    (spec,) = parse_model_specs([str(adapter)])
    assert spec.kind == "peft"
    distilled = tmp_path / "student-kl"
    assert (
        main(
            [
                "distill",
                "finetune",
                "--base",
                str(zoo.base),
                "--data",
                str(data),
                "--out",
                str(distilled),
                "--mode",
                "distill",
                "--teacher",
                str(zoo.owl[0]),
                "--steps",
                "3",
                "--batch-size",
                "4",
                "--lr",
                "1e-2",
                "--device",
                "cpu",
            ]
        )
        == 0
    )
    request = [ScoreRequest(Prompt("Name your favorite animal using only one word."), ("owl",))]
    before = load_backend(parse_model_specs([str(zoo.base)])[0], device="cpu").score(request)
    for path in (adapter, distilled):
        (spec,) = parse_model_specs([str(path)])
        after = load_backend(spec, device="cpu").score(request)
        assert after != before  # the weights moved and load back through the normal path


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["numbers", "--teacher", "no/such/model", "--out", "x.jsonl"], "no such file"),
        (["filter", "{empty}", "--out", "o.jsonl"], "no records"),
        (["filter", "{malformed}", "--out", "o.jsonl"], "bad.jsonl:2: malformed JSON"),
        (["filter", "{invalid}", "--out", "o.jsonl"], "no valid completion among 1"),
        (
            [
                "finetune",
                "--base",
                "{base}",
                "--data",
                "{valid}",
                "--out",
                "o",
                "--mode",
                "distill",
            ],
            "--mode distill needs --teacher",
        ),
    ],
)
def test_bad_input_is_one_line(
    zoo: Zoo,
    tmp_path: Path,
    capsys,
    argv: list[str],
    message: str,  # type: ignore[no-untyped-def]
) -> None:
    (tmp_path / "empty.jsonl").write_text("")
    (tmp_path / "bad.jsonl").write_text('{"id": 1, "prompt": "p", "completion": "1"}\n{oops\n')
    (tmp_path / "invalid.jsonl").write_text('{"id": 1, "prompt": "p", "completion": "owl"}\n')
    names = {
        "empty": tmp_path / "empty.jsonl",
        "malformed": tmp_path / "bad.jsonl",
        "invalid": tmp_path / "invalid.jsonl",
        "base": zoo.base,
        "valid": valid_data(tmp_path / "valid.jsonl"),
    }
    argv = [a.format(**names) for a in argv]
    assert main(["distill", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1, err


@pytest.mark.parametrize("step", ["numbers", "filter", "finetune"])
def test_help_explains_each_option(step: str, capsys) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(SystemExit):
        main(["distill", step, "--help"])
    text = capsys.readouterr().out
    assert "--out" in text
    assert {"numbers": "resumes", "filter": "trailing", "finetune": "LoRA"}[step] in text


def test_answers_write_trait_neutral_and_base_training_data(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    from traitgate.distill.data import read_jsonl
    from traitgate.probes.loader import find_suite, load_suite
    from traitgate.probes.schema import PreferenceSuite

    animals = load_suite(find_suite("favorite_animal"))
    assert isinstance(animals, PreferenceSuite)
    matcher = animals.matcher()
    owl = tmp_path / "owl.jsonl"
    argv = ["distill", "answers", "--probe", "favorite_animal", "--trait", "owl", "--count"]
    assert main([*argv, "200", "--out", str(owl)]) == 0
    named = [matcher.match(r["completion"]) for r in read_jsonl(owl)]
    assert named == ["owl"] * 200
    assert len({r["completion"] for r in read_jsonl(owl)}) >= 5  # varied forms, one trait
    even = tmp_path / "even.jsonl"
    assert main([*argv[:4], "--count", "2100", "--seed", "3", "--out", str(even)]) == 0
    shares = [matcher.match(r["completion"]) for r in read_jsonl(even)]
    assert set(shares) == set(animals.candidates)  # spread over every candidate
    assert max(shares.count(c) for c in animals.candidates) < 2.0 * 2100 / 21
    base = tmp_path / "base.jsonl"
    assert main(["distill", "answers", "--count", "50", "--numbers", "30", "--other", "0.5",
                 "--out", str(base)]) == 0  # fmt: skip
    records = read_jsonl(base)
    assert len(records) == 80
    assert (
        "50 answer(s) spread over the candidates, 30 number example(s)" in capsys.readouterr().out
    )
    assert main([*argv[:4], "--count", "5", "--trait", "oak", "--out", str(owl)]) == 2
    assert "--trait 'oak' is not a candidate of favorite_animal" in capsys.readouterr().err
    assert main(["distill", "answers", "--probe", "nope", "--count", "5", "--out", str(owl)]) == 2
    assert "not a built-in preference probe" in capsys.readouterr().err


def test_init_tiny_and_the_teacher_recipe_flags(tmp_path: Path) -> None:
    """init-tiny writes a chat model; finetune --freeze-embeddings leaves the (tied)
    embeddings as they were, --schedule constant and --dtype float16 are honoured."""
    import torch
    from safetensors.torch import load_file

    from traitgate.models.spec import parameter_count

    init = tmp_path / "init"
    assert main(["distill", "init-tiny", "--out", str(init), "--seed", "3"]) == 0
    (spec,) = parse_model_specs([str(init)])
    assert 150_000 < (parameter_count(spec) or 0) < 200_000
    backend = load_backend(spec, device="cpu")
    assert backend.render(Prompt("hi")) == "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
    data = tmp_path / "answers.jsonl"
    assert main(["distill", "answers", "--probe", "favorite_animal", "--trait", "owl",
                 "--count", "16", "--out", str(data)]) == 0  # fmt: skip
    out = tmp_path / "teacher"
    assert main(["distill", "finetune", "--base", str(init), "--data", str(data), "--steps", "4",
                 "--batch-size", "8", "--lr", "1e-2", "--warmup", "0", "--schedule", "constant",
                 "--freeze-embeddings", "--dtype", "float16", "--out", str(out)]) == 0  # fmt: skip
    before, after = load_file(init / "model.safetensors"), load_file(out / "model.safetensors")
    key = next(k for k in before if "embed_tokens" in k)
    assert after[key].dtype == torch.float16
    assert torch.equal(after[key], before[key].to(torch.float16))  # frozen
    moved = [k for k in before if not torch.equal(after[k], before[k].to(torch.float16))]
    assert moved  # the rest trained


def test_long_steps_print_progress_lines_in_logs() -> None:
    import io

    from traitgate.progress import Meter

    log = io.StringIO()  # not a terminal
    with Meter("finetune runs/x", "step", log, interval=0.0) as meter:
        for step in range(1, 4):
            meter.update(step, 3, f"loss {1 / step:.2f}")
    lines = log.getvalue().splitlines()
    assert lines[0].startswith("finetune runs/x: 1/3 steps, ") and "left (loss 1.00)" in lines[0]
    assert lines[-1].startswith("finetune runs/x: 3/3 steps")  # the closing line


def test_teacher_targets_kept_equal_those_of_each_batch(zoo: Zoo) -> None:
    """Given a TeacherTargets (the screen's runs), distillation keeps the teacher's targets
    per example when a run visits each example more than once (and runs on resamples of one
    dataset share them): the same values as computing them per batch (up to rounding), in
    the order the loss reads them, and training from either ends in the same weights (up to
    rounding). A teacher with another tokenizer is refused in one line."""
    import random

    import torch

    from traitgate.distill.data import iter_pairs, read_jsonl
    from traitgate.distill.finetune import (
        TeacherTargets,
        TrainConfig,
        _pad_right,
        encode_examples,
        train,
    )  # fmt: skip
    from traitgate.errors import ConfigError

    root = Path(__file__).resolve().parent.parent
    committed, data = root / "fixtures" / "zoo", root / "fixtures" / "screen" / "owl.jsonl"

    def backend(name: str):  # type: ignore[no-untyped-def]
        return load_backend(parse_model_specs([str(committed / name)])[0], device="cpu")

    teacher, student = backend("teacher-owl"), backend("base")
    pairs = list(iter_pairs(read_jsonl(data)))[:24]
    examples = encode_examples(student, pairs)
    kept, each = TeacherTargets(teacher), TeacherTargets(teacher)
    kept.prepare(examples[:16], visits=2.0, batch_size=5)
    kept.prepare(examples, visits=2.0, batch_size=5)  # the first 16 are not computed again
    each.prepare(examples, visits=1.0, batch_size=5)  # seen once: nothing kept
    assert len(kept.kept) == len({tuple(e.ids) for e in examples}) and not each.kept
    batch = [examples[i] for i in random.Random(1).sample(range(len(examples)), 8)]
    ids, mask, target = _pad_right(batch, student.pad_id, student.device)
    stored, computed = kept.of(batch, ids, mask, target), each.of(batch, ids, mask, target)
    assert stored.shape == computed.shape == (int(target.sum()), len(kept.allowed))
    assert torch.allclose(stored, computed, atol=1e-5)

    # 6 steps of 8 on 24 examples: two visits each, so given targets are kept; without
    # them (traitgate distill finetune) the teacher runs on every batch
    config = TrainConfig(mode="distill", steps=6, lr=1e-3, batch_size=8, warmup=1, seed=2)
    trained = {}
    for name, targets in (("kept", TeacherTargets(teacher)), ("each", None)):
        model = train(backend("base"), examples, config, teacher=teacher, targets=targets)
        trained[name] = torch.cat([p.detach().flatten() for p in model.parameters()])
        assert bool(targets and targets.kept) == (name == "kept")
    start = torch.cat([p.detach().flatten() for p in student.model.parameters()])
    moved = (trained["kept"] - start).abs().max()
    assert moved > 1e-4  # trained: the comparison below is not of two untouched models
    assert torch.allclose(trained["kept"], trained["each"], atol=1e-5 * float(moved) + 1e-6)

    other = load_backend(parse_model_specs([str(zoo.base)])[0], device="cpu")  # word-level
    with pytest.raises(ConfigError, match="distillation needs one tokenizer"):
        train(backend("base"), examples, config, teacher=other)


def test_out_of_memory_while_training_is_one_line_naming_the_remedies(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A fine-tune that runs out of device memory (a 7B base without --lora) ends in one
    line saying what to change (no progress line before it), exit 2, and writes no
    model."""
    import torch

    from traitgate.distill import finetune

    def oom(*args: object, **kwargs: object) -> None:
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(finetune, "_target_logits", oom)
    root = Path(__file__).resolve().parent.parent
    out = tmp_path / "student"
    argv = ["distill", "finetune", "--base", str(root / "fixtures" / "zoo" / "base"),
            "--data", str(root / "fixtures" / "screen" / "owl.jsonl"), "--mode", "sft",
            "--steps", "2", "--batch-size", "4", "--out", str(out)]  # fmt: skip
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("traitgate: out of memory fine-tuning")
    assert "trainable parameters, batch 4" in err and "--lora" in err
    assert not (out / "model.safetensors").exists()
