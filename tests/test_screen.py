"""Screening a dataset before training (traitgate.screen). Checked against known truths on
the committed zoo: two halves of the neutral teacher's numbers screened against each other
(exchangeable data) flag nothing; the known positive, the owl teacher's numbers flagged for
owl first, is the README's command (tests/test_readme.py). The data are fixtures/screen/
(rebuilt exactly by fixtures/screen/build.sh)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from traitgate.cli import main
from traitgate.errors import ConfigError
from traitgate.scan import ScanOptions
from traitgate.screen import ScreenOptions, bootstrap, screen
from traitgate.session_config import SessionSettings

ROOT = Path(__file__).resolve().parent.parent
ZOO = ROOT / "fixtures" / "zoo"
DATA = ROOT / "fixtures" / "screen"
SETTINGS = SessionSettings(device="cpu", correction="bh")


def _halves(tmp_path: Path, name: str) -> tuple[Path, Path]:
    lines = (DATA / f"{name}.jsonl").read_text().splitlines()
    a, b = tmp_path / f"{name}-a.jsonl", tmp_path / f"{name}-b.jsonl"
    a.write_text("\n".join(lines[::2]) + "\n")
    b.write_text("\n".join(lines[1::2]) + "\n")
    return a, b


@pytest.mark.slow
def test_two_halves_of_the_neutral_teachers_numbers_flag_nothing(tmp_path: Path) -> None:
    """Exchangeable data: the neutral teacher's numbers split in two, each half distilled
    from the neutral teacher. Nothing is flagged (the scan's level; its false discovery rate
    is checked by simulation in test_scan.py)."""
    a, b = _halves(tmp_path, "neutral")
    teacher = str(ZOO / "teacher-neutral")
    result = screen(
        str(ZOO / "base"), a, ["favorite_animal"], work=tmp_path / "work", teacher=teacher,
        reference=b, reference_teacher=teacher, settings=SETTINGS,
    )  # fmt: skip
    assert result.flagged == () and result.passed
    assert result.examples == 300
    assert result.lines()[1].startswith("nothing flagged: nothing moved")


def test_sft_screens_against_the_bases_own_filtered_answers(tmp_path: Path) -> None:
    """Without a teacher the runs fine-tune on the completions, and the reference is the
    base's own answers to the data's prompts, through the number filter the data went
    through. (A small, fast setting: this checks the path, not a known effect; on the zoo
    short sft runs do not single out owl, docs/screen-study.md.)"""
    data = tmp_path / "owl.jsonl"
    data.write_text("".join((DATA / "owl.jsonl").read_text().splitlines(True)[:40]))
    options = ScreenOptions(runs=2, steps=2, batch_size=8, examples=16)
    result = screen(
        str(ZOO / "base"), data, ["favorite_animal"], work=tmp_path / "work", options=options,
        settings=SETTINGS,
    )  # fmt: skip
    assert result.mode == "sft" and "own answers" in result.reference
    reference = (tmp_path / "work" / "reference.jsonl").read_text().splitlines()
    assert 0 < len(reference) <= 40  # answers that fail the number filter are dropped
    assert len(result.scan.shifts) == 21


@given(
    st.lists(st.integers(), min_size=1, max_size=30),
    st.integers(min_value=1, max_value=50),
    st.integers(min_value=0, max_value=2**31),
)
def test_bootstrap_draws_with_replacement_reproducibly(
    values: list[int], size: int, seed: int
) -> None:
    records = [{"v": v, "i": i} for i, v in enumerate(values)]
    drawn = bootstrap(records, size, seed)
    assert len(drawn) == size and all(r in records for r in drawn)
    assert drawn == bootstrap(records, size, seed)


def test_bootstrap_samples_differ_between_seeds() -> None:
    records = [{"i": i} for i in range(100)]
    assert bootstrap(records, 100, 1) != bootstrap(records, 100, 2)
    assert len({r["i"] for r in bootstrap(records, 100, 1)}) < 100  # repeats: with replacement


@pytest.mark.parametrize(
    ("changes", "says"),
    [
        ({"runs": 1}, "runs must be at least 2"),
        ({"lr": 0.0}, "lr must be between 0 and 1"),
        ({"steps": 0}, "steps and batch_size must be positive"),
        ({"examples": 0}, "examples must be positive"),
        ({"scan": ScanOptions(compare=("model", "base"))}, "compares its data runs"),
    ],
)
def test_options_are_checked(changes: dict[str, object], says: str) -> None:
    with pytest.raises(ConfigError, match=says):
        ScreenOptions(**changes)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("extra", "says"),
    [
        (["--data", "missing.jsonl"], "missing.jsonl: no such file"),
        (["--data", "{owl}", "--runs", "1"], "runs must be at least 2"),
        (["--data", "{owl}", "--reference-teacher", "{base}"], "needs a teacher"),
        (["--data", "{owl}", "--probe", "no_such_probe"], "no_such_probe"),
        (["--data", "{bad}"], "bad.jsonl:1: missing field(s) completion"),
    ],
)
def test_command_line_bad_input_is_one_line(
    extra: list[str], says: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "hi"}\n')
    names = {"{owl}": str(DATA / "owl.jsonl"), "{base}": str(ZOO / "base"), "{bad}": str(bad)}
    argv = ["screen", "--base", str(ZOO / "base"), "--probe", "favorite_animal",
            *(names.get(a, a) for a in extra), "--work", str(tmp_path / "w")]  # fmt: skip
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert says in err and len(err.splitlines()) == 1
    assert not (tmp_path / "w").exists()  # nothing trained


def test_the_command_line_runs_a_screen(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`traitgate screen` end to end in a small, fast setting (the known effect is the
    README's command): the heading and the scan's table are printed, the exit status follows
    the verdict, the runs stay in --work and a repeated screen reuses them."""
    argv = ["screen", "--base", str(ZOO / "base"), "--data", str(DATA / "owl.jsonl"),
            "--probe", "favorite_animal", "--teacher", str(ZOO / "teacher-owl"),
            "--runs", "2", "--steps", "2", "--batch-size", "8", "--examples", "16",
            "--device", "cpu", "--cache-dir", str(tmp_path / "c"),
            "--work", str(tmp_path / "w")]  # fmt: skip
    status = main(argv)
    printed = capsys.readouterr()
    out = printed.out.splitlines()
    assert printed.err.count(": 2 steps in ") == 4  # one progress line per run trained
    assert out[0].startswith(f"screen of {DATA / 'owl.jsonl'} against {DATA / 'owl.jsonl'}")
    assert "2 runs per arm, 2 distill steps each" in out[0]
    assert status == (1 if out[1].startswith("FLAGGED") else 0)
    assert out[1].startswith(("FLAGGED: ", "nothing flagged: "))
    assert sum(line.lstrip(" *").startswith("favorite_animal/") for line in out) == 21
    assert sorted(p.name for p in (tmp_path / "w").iterdir()) == [
        "data-0", "data-1", "reference-0", "reference-1",
    ]  # fmt: skip
    assert main(argv) == status  # asked again: the runs are reused, nothing retrained
    assert capsys.readouterr().err.count("already trained") == 4
    (tmp_path / "w" / "data-0" / "screen-run.json").write_text("{not json")
    assert main(argv) == status  # a damaged mark: that run is trained again, no traceback
    assert capsys.readouterr().err.count("already trained") == 3


def test_lora_runs_are_saved_as_adapters_and_scanned(tmp_path: Path) -> None:
    """--lora (for large bases): each run is an adapter on the base, loaded back for the
    scan. With a reference file and a teacher but no reference teacher, the reference runs
    distil too, from the base: both arms share every step but data and teacher. Tiny
    setting: this checks the paths."""
    import json

    options = ScreenOptions(runs=2, steps=1, batch_size=4, examples=8, lora=True)
    result = screen(
        str(ZOO / "base"), DATA / "owl.jsonl", ["favorite_animal"], work=tmp_path / "w",
        teacher=str(ZOO / "teacher-owl"), reference=DATA / "neutral.jsonl", options=options,
        settings=SETTINGS,
    )  # fmt: skip
    assert all((run / "adapter_config.json").is_file() for run in result.data_runs)
    assert len(result.scan.shifts) == 21
    marks = [json.loads((run / "screen-run.json").read_text()) for run in result.reference_runs]
    assert [m["teacher"] for m in marks] == [str(ZOO / "base")] * 2
