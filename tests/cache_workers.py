"""Processes that share one answer cache (test_cache.py). Spawned children import this
module only: it stays free of torch and the test fixtures, so each starts in a fraction of
a second."""

from __future__ import annotations

from pathlib import Path

from traitgate.cache import Cache


def write_and_read(directory: str, worker: int, rounds: int) -> None:
    cache = Cache(Path(directory))
    for i in range(rounds):
        entries = {f"{worker}-{i}-{j}": [float(worker), float(i), float(j)] for j in range(5)}
        cache.put_many(entries, model=f"m{worker}", probe="p", kind="score")
        cache.get_many([f"{1 - worker}-{i}-0"])  # read what the other process wrote
    cache.close()


def open_together(directory: str, worker: int, barrier: object) -> None:
    barrier.wait()  # type: ignore[attr-defined]
    cache = Cache(Path(directory))
    cache.put_many({f"w{worker}": [float(worker)]}, model="m", probe="p", kind="score")
    cache.close()
