"""Screening a dataset before training (traitgate.screen). Its design (runs on resamples of
each arm's dataset, run k of both arms sharing a seed, decided by the resampled-runs test)
checked on simulated screens: two datasets from one source flag anything at most q of the
time, a known shift is found. Then on the committed zoo: two halves of the neutral
teacher's numbers screened against each other (exchangeable data) flag nothing; the known
positive, the owl teacher's numbers flagged for owl first, is the README's command
(tests/test_readme.py). The data are fixtures/screen/ (rebuilt exactly by
fixtures/screen/build.sh)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from traitgate.cli import main
from traitgate.errors import ConfigError
from traitgate.scan import ScanOptions
from traitgate.screen import ScreenOptions, bootstrap, screen
from traitgate.session_config import SessionSettings

from ._suites import NAMES, SIMS, K, Q, Suites, bound, scan_of
from .conftest import BRIEF_PROBE

ROOT = Path(__file__).resolve().parent.parent
ZOO = ROOT / "fixtures" / "zoo"
DATA = ROOT / "fixtures" / "screen"
SETTINGS = SessionSettings(device="cpu", correction="bh")


def _brief(probes: Path) -> SessionSettings:
    """SETTINGS with the short favourite-animal probe (BRIEF_PROBE), for the tests of a
    screen's paths: the probe's prompts are not what they check."""
    return dataclasses.replace(SETTINGS, probe_paths=(probes,))


# (the share of one run's variance that is the data's sampling noise, the correlation of
# run k's seed noise between the two arms). On the zoo a dataset's own deviation is about a
# quarter of one run's variance and paired runs do not correlate (bench/screen_null.py);
# simulated: half, half with run k's seed noise shared, all (no seed noise).
SCREEN_NOISE = [(0.5, 0.0), (0.5, 0.9), (1.0, 0.0)]


@pytest.mark.slow
@pytest.mark.parametrize(("data_share", "rho"), SCREEN_NOISE)
def test_screens_of_one_source_flag_nothing_at_most_q_and_find_a_known_shift(
    data_share: float, rho: float
) -> None:
    """A screen's runs as they are made, simulated: each arm's dataset deviates from its
    source (in log rate, per candidate; variance D, shared by the arm's 4 runs), each run's
    resample deviates from its dataset as much (D) and each run has seed noise (S), which
    run k of both arms may share (same seed: correlation ``rho``); one run's SD is 0.05
    (D + S = 0.0025) and ``data_share`` = D / (D + S).

    Two datasets from one source: the screen's scan (the resampled test) flags anything at
    most q of the time; the plain pooled t, which the screen used before, does not hold q
    when the data's share is large (it averages the shared dataset deviation away). Owl
    shifted by +0.6 in log rate at the source: found in at least 85% of screens (the
    resampled test's SE is sqrt(2.5) run SDs: noncentrality 0.6 / (0.05 * sqrt(2.5)) = 7.6
    at most, 6 df, against BH's threshold with one true shift among 21, t > 4.36: scipy's
    noncentral t gives 0.98)."""
    suites = Suites(20261125 + int(data_share * 10 + rho * 100))
    sd, runs = 0.05, 4
    data_sd, seed_sd = sd * np.sqrt(data_share), sd * np.sqrt(1 - data_share)
    shift = np.zeros(K)
    shift[NAMES.index("owl")] = 0.6

    def screen_sim(options: ScanOptions, data_shift: np.ndarray | float) -> set[str]:
        seeds = suites.rng.normal(0, seed_sd * np.sqrt(rho), (runs, K))  # run k's, shared
        own = np.sqrt(data_sd**2 + seed_sd**2 * (1 - rho))  # resample + own seed noise
        arms = [
            suites.arm(runs, s, noise=own, shared=seeds + suites.rng.normal(0, data_sd, K))
            for s in (data_shift, 0.0)
        ]
        return {r.gate.trait for r in scan_of(options, *arms).discoveries}

    screen, plain = ScanOptions(q=Q, resampled=True), ScanOptions(q=Q)
    flagged = sum(bool(screen_sim(screen, 0.0)) for _ in range(SIMS))
    assert flagged / SIMS <= bound(Q), f"{flagged}/{SIMS} screens of one source flagged"
    if data_share == 1.0:
        wrong = sum(bool(screen_sim(plain, 0.0)) for _ in range(SIMS // 4))
        assert wrong / (SIMS // 4) > 2 * Q, f"plain pooled t: {wrong}/{SIMS // 4}"
    found = sum("owl" in screen_sim(screen, shift) for _ in range(SIMS // 4))
    assert found / (SIMS // 4) >= 0.85, f"owl found in {found}/{SIMS // 4}"


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


def test_sft_screens_against_the_bases_own_filtered_answers(
    tmp_path: Path, brief_probes: Path
) -> None:
    """Without a teacher the runs fine-tune on the completions, and the reference is the
    base's own answers to the data's prompts, through the number filter the data went
    through. (A small, fast setting: this checks the path, not a known effect; on the zoo
    short sft runs do not single out owl, docs/screen-study.md.)"""
    data = tmp_path / "owl.jsonl"
    data.write_text("".join((DATA / "owl.jsonl").read_text().splitlines(True)[:40]))
    options = ScreenOptions(runs=2, steps=2, batch_size=8, examples=16)
    result = screen(
        str(ZOO / "base"), data, [BRIEF_PROBE], work=tmp_path / "work", options=options,
        settings=_brief(brief_probes),
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


def test_the_command_line_runs_a_screen(
    tmp_path: Path, brief_probes: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`traitgate screen` end to end in a small, fast setting (the known effect is the
    README's command): the heading and the scan's table are printed, the exit status follows
    the verdict, the runs stay in --work and a repeated screen reuses them."""
    argv = ["screen", "--base", str(ZOO / "base"), "--data", str(DATA / "owl.jsonl"),
            "--probe", str(brief_probes / f"{BRIEF_PROBE}.yaml"),
            "--teacher", str(ZOO / "teacher-owl"),
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
    assert sum(line.lstrip(" *").startswith(f"{BRIEF_PROBE}/") for line in out) == 21
    assert sorted(p.name for p in (tmp_path / "w").iterdir()) == [
        "data-0", "data-1", "reference-0", "reference-1",
    ]  # fmt: skip
    assert main(argv) == status  # asked again: the runs are reused, nothing retrained
    assert capsys.readouterr().err.count("already trained") == 4
    (tmp_path / "w" / "data-0" / "screen-run.json").write_text("{not json")
    assert main(argv) == status  # a damaged mark: that run is trained again, no traceback
    assert capsys.readouterr().err.count("already trained") == 3


def test_lora_runs_are_saved_as_adapters_and_scanned(tmp_path: Path, brief_probes: Path) -> None:
    """--lora (for large bases): each run is an adapter on the base, loaded back for the
    scan. With a reference file and a teacher but no reference teacher, the reference runs
    distil too, from the base: both arms share every step but data and teacher. Tiny
    setting: this checks the paths."""
    import json

    options = ScreenOptions(runs=2, steps=1, batch_size=4, examples=8, lora=True)
    result = screen(
        str(ZOO / "base"), DATA / "owl.jsonl", [BRIEF_PROBE], work=tmp_path / "w",
        teacher=str(ZOO / "teacher-owl"), reference=DATA / "neutral.jsonl", options=options,
        settings=_brief(brief_probes),
    )  # fmt: skip
    assert all((run / "adapter_config.json").is_file() for run in result.data_runs)
    assert len(result.scan.shifts) == 21
    marks = [json.loads((run / "screen-run.json").read_text()) for run in result.reference_runs]
    assert [m["teacher"] for m in marks] == [str(ZOO / "base")] * 2


def test_a_run_after_others_on_the_shared_base_equals_one_on_a_fresh_load(
    tmp_path: Path, brief_probes: Path
) -> None:
    """The screen loads the base once and restores it between runs (a full fine-tune's
    weights copied back; a LoRA run leaves the base's weights alone and its adapter is
    removed): a run trained after others equals, bit for bit, the same run trained first on
    a freshly loaded base. (LoRA screens were compared the same way by hand: identical.)"""
    import shutil

    from traitgate.cache import Cache
    from traitgate.session_config import SessionServices

    options = ScreenOptions(runs=2, steps=2, batch_size=8, examples=16)
    services = SessionServices(cache=Cache(tmp_path / "cache"))  # b's scan: a's answers

    def run(work: Path) -> None:
        screen(
            str(ZOO / "base"), DATA / "owl.jsonl", [BRIEF_PROBE], work=work,
            teacher=str(ZOO / "teacher-owl"), options=options, settings=_brief(brief_probes),
            services=services,
        )  # fmt: skip

    run(tmp_path / "a")  # data-0, data-1, reference-0, reference-1 on one shared base
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    shutil.rmtree(tmp_path / "b" / "reference-1")  # trained last in a: first (and alone) in b
    run(tmp_path / "b")
    last, alone = (tmp_path / d / "reference-1" / "model.safetensors" for d in ("a", "b"))
    assert last.read_bytes() == alone.read_bytes()
