"""The screens behind the README's "Before training" table and docs/screen-study.md's grid,
run as `traitgate screen` runs them (default seeds), one row each.

    python bench/screen_grid.py --work /tmp/screen-grid [--rows readme|grid|all]

Rows: the owl and wolf teachers' numbers against the neutral teacher's (distilled, from
`base`; the grid adds 10 and 60 steps and lr 3e-4 and 3e-3), the owl numbers from `base-alt`
(another initialisation), two halves of the neutral numbers, the neutral numbers against the
default reference (the same numbers distilled from the base), and sft on the owl numbers
against the base's own filtered answers. The wolf numbers are made as bench/screen_study.py
makes them (the committed wolf teacher, 1,500 prompts, the published filter, 600 kept).
Prints a markdown table: what was flagged, the trait's rank by effect, specificity rank,
effect and adjusted p, and the correlation over the 21 animals of the screen's log-rate
shifts with what training did (the zoo's 4 students of that trait minus its 4 controls,
all from `base`, in log rate; the study's first question).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from screen_study import log_rates, write_data  # (bench/, the script's folder, is on the path)

from traitgate.cache import Cache
from traitgate.screen import ScreenOptions, ScreenResult, screen
from traitgate.session_config import SessionServices, SessionSettings

ROOT = Path(__file__).resolve().parent.parent
ZOO = ROOT / "fixtures" / "zoo"
DATA = ROOT / "fixtures" / "screen"


@dataclass(frozen=True)
class Row:
    label: str
    trait: str
    data: str  # owl, wolf, neutral, neutral-a (a half)
    reference: str | None  # neutral, neutral-b, or None (the default)
    teacher: str | None  # None: sft
    reference_teacher: str | None
    base: str = "base"
    steps: int = 20
    lr: float = 1e-3


def _rows(which: str) -> list[Row]:
    def pair(trait: str, base: str = "base", steps: int = 20, lr: float = 1e-3) -> Row:
        label = f"{trait} teacher's numbers vs neutral teacher's"
        return Row(label, trait, trait, "neutral", trait, "neutral", base, steps, lr)

    readme = [
        pair("owl"),
        pair("wolf"),
        pair("owl", base="base-alt"),
        Row(
            "neutral numbers, one half vs the other",
            "owl",
            "neutral-a",
            "neutral-b",
            "neutral",
            "neutral",
        ),
        Row(
            "neutral numbers vs the same distilled from `base` (the default reference)",
            "owl",
            "neutral",
            None,
            "neutral",
            None,
        ),
        Row("owl numbers, sft, vs `base`'s own answers (filtered)", "owl", "owl", None, None, None),
    ]
    grid = [
        pair(trait, steps=steps, lr=lr)
        for trait in ("owl", "wolf")
        for steps, lr in ((10, 1e-3), (60, 1e-3), (20, 3e-4), (20, 3e-3))
    ]
    return {"readme": readme, "grid": grid, "all": readme + grid}[which]


def _data(name: str, work: Path, wolf: Path | None) -> Path:
    if name == "wolf":
        assert wolf is not None
        return wolf
    if name in ("neutral-a", "neutral-b"):  # the halves test_screen.py uses
        lines = (DATA / "neutral.jsonl").read_text().splitlines()
        out = work / f"{name}.jsonl"
        out.write_text("\n".join(lines[::2] if name.endswith("a") else lines[1::2]) + "\n")
        return out
    return DATA / f"{name}.jsonl"


def _students_shift(trait: str) -> dict[str, float]:
    """Each animal's log-rate shift of the zoo's students of ``trait`` against its controls."""
    from traitgate.probes.loader import find_suite, load_suite

    suite = load_suite(find_suite("favorite_animal"))
    students = log_rates(sorted(ZOO.glob(f"{trait}-student-s*")), suite)
    controls = log_rates(sorted(ZOO.glob("control-s[0-3]")), suite)
    return dict(zip(suite.candidates, (students - controls).tolist(), strict=True))


def _correlation(result: ScreenResult, shift: dict[str, float]) -> float:
    spec = result.scan.shifts[0].specificity
    assert spec is not None
    effects = dict(spec.effects)
    names = list(shift)
    return float(np.corrcoef([effects[n] for n in names], [shift[n] for n in names])[0, 1])


def _cell(result: ScreenResult, trait: str) -> str:
    shifts = result.scan.shifts
    mine = next(r for r in shifts if r.gate.trait == trait)
    order = sorted(shifts, key=lambda r: -r.comparison.effect)
    rank = 1 + order.index(mine)
    spec = mine.specificity.rank if mine.specificity else "-"
    return f"{trait}: {rank}, {spec}, {mine.comparison.effect:+.4f}, {mine.adjusted_pvalue:.2g}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--rows", choices=("readme", "grid", "all"), default="all")
    args = parser.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    rows = _rows(args.rows)
    wolf = write_data(args.work / "data")["wolf"] if any(r.data == "wolf" for r in rows) else None
    cache = Cache(args.work / "cache")
    shifts = {t: _students_shift(t) for t in ("owl", "wolf")}
    print("| data vs reference | base | steps, lr | flagged | the trait: rank by effect, "
          "specificity rank, effect, adj. p | lead | r with students | s |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|")
    for i, row in enumerate(rows):
        teachers = {n: str(ZOO / f"teacher-{n}") for n in (row.teacher, row.reference_teacher) if n}
        reference = _data(row.reference, args.work, wolf) if row.reference else None
        result = screen(
            str(ZOO / row.base), _data(row.data, args.work, wolf), ["favorite_animal"],
            work=args.work / f"runs-{i}", reference=reference,
            teacher=teachers.get(row.teacher or ""),
            reference_teacher=teachers.get(row.reference_teacher or ""),
            options=ScreenOptions(steps=row.steps, lr=row.lr),
            settings=SessionSettings(device="cpu", correction="bh"),
            services=SessionServices(cache=cache),
        )  # fmt: skip
        flagged = len(result.flagged)
        lead = result.scan.lead.gate.trait
        print(
            f"| {row.label} | `{row.base}` | {row.steps}, {row.lr:g} | {flagged} | "
            f"{_cell(result, row.trait)} | {lead} | "
            f"{_correlation(result, shifts[row.trait]):+.2f} | {result.seconds:.0f} |",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
