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


class SlowScorer:
    """A model stand-in: each request's scores are a function of its prompt, computed
    slowly enough that two processes overlap."""

    label = "slow"
    fingerprint = "slow-fp"

    def score(self, requests):  # type: ignore[no-untyped-def]
        import time

        time.sleep(0.05 * len(requests))
        return [
            [float(len(r.prompt.user)), float(sum(map(ord, r.prompt.user)) % 7)] for r in requests
        ]


def score_shared(directory: str, worker: int, out: str, barrier: object) -> None:
    """Score the same 24 requests as the other worker through one cache; write what this
    process computed and the answers it returned."""
    import json

    from traitgate.cached_backend import CachedBackend
    from traitgate.models.base import Prompt, ScoreRequest

    requests = [ScoreRequest(Prompt(f"question {i}"), ("a", "b")) for i in range(24)]
    cache = Cache(Path(directory))
    backend = CachedBackend(
        "slow", "slow-fp", SlowScorer, cache=cache, probe="p@1", rows_per_chunk=4,
        poll_seconds=0.05,
    )  # fmt: skip
    barrier.wait()  # type: ignore[attr-defined]
    answers = backend.score(requests)
    cache.close()
    Path(out).write_text(json.dumps({"computed": backend.computed, "answers": answers}))
