"""Many real screens on the zoo (issue 17): how often `traitgate screen` flags exchangeable
data (a null), and how often it finds the owl teacher's data for owl (a known effect), each
screen with its own seeds and bootstrap samples, run exactly as the command runs them.

    python bench/screen_null.py --work /tmp/screen-null --null 40 --positive 20

- null screen i: the neutral teacher's 600 numbers (fixtures/screen/neutral.jsonl) shuffled
  with seed i and split in two halves of 300, one half screened against the other, both
  distilled from the neutral teacher (the data are exchangeable: anything flagged is false);
- positive screen i: the owl teacher's numbers against the neutral teacher's (the README's
  screen), each distilled from its own teacher;

screen i's runs use seeds 1000 + 10 i + k (k < runs), so no two screens share a run. The
screens' default settings otherwise (4 runs per arm of 20 steps, q = 0.05). Each screen is
appended to ``results.jsonl`` in the work folder when done, so an interrupted study resumes;
its runs are deleted once scanned. Also reported: how strongly run k of the data and run k
of the reference (sharing a seed) correlate, per candidate's log rate around its arm's mean:
the pairing the unpaired across-runs test ignores (tests/test_screen.py simulates it).
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

from traitgate.cache import Cache
from traitgate.screen import ScreenOptions, ScreenResult, screen
from traitgate.session_config import SessionServices, SessionSettings
from traitgate.stats import benjamini_hochberg, resampled_test, student_test

ROOT = Path(__file__).resolve().parent.parent
ZOO = ROOT / "fixtures" / "zoo"
DATA = ROOT / "fixtures" / "screen"


def _pair_correlation(result: ScreenResult) -> float:
    """Correlation of run k's deviations from its arm's mean log rates (over candidates and
    runs) between the data arm and the reference arm."""
    arms = result.scan.shifts[0].results
    devs = []
    for arm in arms:
        logs = np.log(np.array([r.values.mean(axis=0) for r in arm]))
        devs.append((logs - logs.mean(axis=0)).ravel())
    return float(np.corrcoef(devs[0], devs[1])[0, 1])


def _record(kind: str, i: int, result: ScreenResult) -> dict[str, Any]:
    shifts = {r.gate.trait: r for r in result.scan.shifts}
    owl = shifts["owl"]
    return {
        "kind": kind,
        "screen": i,
        "flagged": [name.split("/", 1)[1] for name in result.flagged],
        "lead": result.scan.lead.gate.trait,
        "min_adjusted_p": min(r.adjusted_pvalue for r in result.scan.shifts),
        "owl_effect": owl.comparison.effect,
        "owl_adjusted_p": owl.adjusted_pvalue,
        "owl_specificity_rank": owl.specificity.rank if owl.specificity else None,
        "pair_correlation": _pair_correlation(result),
        # each run's rate per candidate (mean over prompts), so other tests can be tried
        "candidates": list(result.scan.shifts[0].results[0][0].candidates),
        "rates": [
            [r.values.mean(axis=0).round(8).tolist() for r in arm]
            for arm in result.scan.shifts[0].results
        ],
        "seconds": round(result.seconds, 1),
    }


def _one(kind: str, i: int, work: Path, cache: Cache) -> dict[str, Any]:
    options = ScreenOptions(seed=1000 + 10 * i)
    settings = SessionSettings(device="cpu", correction="bh")
    runs = work / f"{kind}-{i}"
    if kind == "null":
        lines = (DATA / "neutral.jsonl").read_text().splitlines()
        random.Random(i).shuffle(lines)
        runs.mkdir(parents=True, exist_ok=True)
        a, b = runs / "half-a.jsonl", runs / "half-b.jsonl"
        a.write_text("\n".join(lines[::2]) + "\n")
        b.write_text("\n".join(lines[1::2]) + "\n")
        data, reference, teacher, ref_teacher = a, b, "neutral", "neutral"
    else:
        data, reference, teacher, ref_teacher = (
            DATA / "owl.jsonl", DATA / "neutral.jsonl", "owl", "neutral",
        )  # fmt: skip
    teachers = {name: str(ZOO / f"teacher-{name}") for name in (teacher, ref_teacher)}
    result = screen(
        str(ZOO / "base"), data, ["favorite_animal"], work=runs / "runs", reference=reference,
        teacher=teachers[teacher], reference_teacher=teachers[ref_teacher], options=options,
        settings=settings, services=SessionServices(cache=cache),
    )  # fmt: skip
    record = _record(kind, i, result)
    shutil.rmtree(runs)
    return record


def _upper(k: int, n: int) -> float:
    """One-sided 95% Clopper-Pearson upper bound on a rate seen k times in n."""
    return 1.0 if k == n else float(stats.beta.ppf(0.95, k + 1, n - k))


def _found(record: dict[str, Any], test: Any) -> list[str]:
    """The candidates a scan with ``test`` (BH at q = 0.05, one-sided: the data pushes up)
    flags, largest effect first, from the record's per-run rates (what the screen decides
    on: the exact measure)."""
    data, reference = (np.array(arm) for arm in record["rates"])
    tests = [test(data[:, c], reference[:, c], "greater") for c in range(data.shape[1])]
    adjusted = benjamini_hochberg([t.pvalue for t in tests])
    found = [c for c in range(len(tests)) if adjusted[c] < 0.05]
    return [record["candidates"][c] for c in sorted(found, key=lambda c: -tests[c].effect)]


def summarise(records: list[dict[str, Any]]) -> list[str]:
    """For both tests, from the stored rates: the screen's (resampled: each arm's mean
    carries its dataset's sampling variance) and the plain pooled t it replaced."""
    lines = []
    for name, test in (
        ("resampled t (the screen's)", resampled_test),
        ("plain pooled t", student_test),
    ):
        lines.append(f"{name}:")
        null = [_found(r, test) for r in records if r["kind"] == "null"]
        if null:
            k = sum(bool(f) for f in null)
            lines.append(
                f"  null (neutral half vs half): {k} of {len(null)} screens flagged anything "
                f"(rate {k / len(null):.3f}, 95% upper bound {_upper(k, len(null)):.3f}; q = 0.05)"
            )
        owl = [(r, _found(r, test)) for r in records if r["kind"] == "positive"]
        if owl:
            found = sum("owl" in f for _, f in owl)
            first = sum(bool(f) and f[0] == "owl" for _, f in owl)
            lines.append(
                f"  known effect (owl data vs neutral data): owl flagged in {found} of "
                f"{len(owl)} screens, first (largest effect) in {first}"
            )
    owl_records = [r for r in records if r["kind"] == "positive"]
    if owl_records:
        ranks = sorted(int(r["owl_specificity_rank"]) for r in owl_records)
        effects = [float(r["owl_effect"]) for r in owl_records]
        lines.append(
            f"owl's specificity ranks {ranks}; effect median {np.median(effects):+.4f} "
            f"(range {min(effects):+.4f} to {max(effects):+.4f})"
        )
    rhos = [float(r["pair_correlation"]) for r in records]
    if rhos:
        lines.append(
            f"correlation of paired runs (same seed, both arms): median {np.median(rhos):.2f} "
            f"(range {min(rhos):.2f} to {max(rhos):.2f}) over {len(rhos)} screens"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--null", type=int, default=40, help="null screens (default 40)")
    parser.add_argument("--positive", type=int, default=20, help="owl screens (default 20)")
    args = parser.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    out = args.work / "results.jsonl"
    records = [json.loads(line) for line in out.read_text().splitlines()] if out.exists() else []
    done = {(r["kind"], r["screen"]) for r in records}
    cache = Cache(args.work / "cache")
    todo = [("null", i) for i in range(args.null)] + [("positive", i) for i in range(args.positive)]
    start = time.perf_counter()
    for kind, i in (t for t in todo if t not in done):
        record = _one(kind, i, args.work, cache)
        records.append(record)
        with out.open("a") as f:
            f.write(json.dumps(record) + "\n")
        flagged = record["flagged"] or "nothing"
        print(
            f"[{time.perf_counter() - start:.0f} s] {kind} {i}: flagged {flagged}"
            f" (lead {record['lead']}, pair r {record['pair_correlation']:.2f})",
            file=sys.stderr, flush=True,
        )  # fmt: skip
    print("\n".join(summarise(records)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
