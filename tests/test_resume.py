"""A gate run killed with SIGKILL in the middle of a probe, then restarted on the same cache,
recomputes nothing already stored and gives the same results as an uninterrupted run."""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from traitgate.cache import DB_NAME

from .conftest import Zoo

GATE = """\
gate: owl-sampled
probe: favorite_animal
trait: owl
compare: [model, control]
measure: sampled
min_effect: 0.01
"""
TOTAL = 3 * 36  # three models x 36 prompts, one cached answer per prompt


def _args(zoo: Zoo, root: Path, cache: Path, report: Path) -> list[str]:
    return [
        str(root), "-p", "no:cacheprovider", "--rootdir", str(root), f"--model={zoo.owl[0]}",
        "--control-model", f"{zoo.neutral[0]},{zoo.neutral[1]}",
        "--cache-dir", str(cache), "--report", str(report),
    ]  # fmt: skip


def _entries(cache: Path) -> int:
    db = cache / DB_NAME
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(db, timeout=5) as conn:
            return int(conn.execute("SELECT COUNT(*) FROM entries").fetchone()[0])
    except sqlite3.OperationalError:  # the schema is not created yet
        return 0


def _gates(report: Path) -> list[dict[str, object]]:
    return json.loads((report / "results.json").read_text())["gates"]  # type: ignore[no-any-return]


def _cache_line(output: str) -> tuple[int, int]:
    found = re.search(r"cache: (\d+) answer\(s\) read, (\d+) computed and stored", output)
    assert found, output[-3000:]
    return int(found.group(1)), int(found.group(2))


@pytest.mark.slow
@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")
def test_a_killed_run_resumes_without_recomputing(
    zoo: Zoo, tmp_path: Path, pytester: pytest.Pytester
) -> None:
    # the killed run is a real process; the others run in this one (pytester), sparing
    # their start-up
    root = tmp_path / "evals"
    root.mkdir()
    (root / "gate_owl.yaml").write_text(GATE)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}

    # the reference: one uninterrupted run on its own cache
    reference = pytester.runpytest(
        *_args(zoo, root, tmp_path / "ref-cache", tmp_path / "ref-report")
    )
    assert reference.ret in (0, 1), reference.stdout.str()[-3000:]
    assert _cache_line(reference.stdout.str()) == (0, TOTAL)

    # the same run, killed once a few chunks are committed
    cache, report = tmp_path / "cache", tmp_path / "report"
    victim = subprocess.Popen(
        [sys.executable, "-m", "pytest", *_args(zoo, root, cache, report)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
    )  # fmt: skip
    deadline = time.monotonic() + 300
    while _entries(cache) < 4 and victim.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=60)
    assert victim.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    stored = _entries(cache)
    assert 4 <= stored < TOTAL, stored
    assert not (report / "results.json").exists()

    restarted = pytester.runpytest(*_args(zoo, root, cache, report))
    assert restarted.ret == reference.ret, restarted.stdout.str()[-3000:]
    # every committed answer is read back, only the rest is computed
    assert _cache_line(restarted.stdout.str()) == (stored, TOTAL - stored)
    assert _gates(report) == _gates(tmp_path / "ref-report")

    # and a third run computes nothing
    again = pytester.runpytest(*_args(zoo, root, cache, report))
    assert _cache_line(again.stdout.str()) == (TOTAL, 0)
    assert _gates(report) == _gates(tmp_path / "ref-report")
