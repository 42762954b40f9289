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
