"""The answer cache: content addressing, exact round trips, chunked resumable work on a real
tiny model, and two processes sharing one file."""

from __future__ import annotations

import json
import multiprocessing
import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from traitgate.cache import DB_NAME, Cache, clear_cache
from traitgate.cached_backend import CachedBackend, _chunks, request_key
from traitgate.errors import ConfigError
from traitgate.models import load_backend, parse_model_specs
from traitgate.models.base import Backend, GenerationRequest, Prompt, ScoreRequest
from traitgate.probes import find_suite, load_suite
from traitgate.probes.preference import build_prompts, candidate_forms

from . import cache_workers
from .conftest import Zoo


def test_keys_change_with_everything_that_determines_an_answer() -> None:
    request = GenerationRequest(Prompt("q", "s"), n=10, temperature=1.0, max_new_tokens=8, seed=0)
    key = request_key("fp", "probe@1", request)
    assert key == request_key("fp", "probe@1", GenerationRequest(Prompt("q", "s"), 10, 1.0, 8, 0))
    variants = [
        request_key("fp2", "probe@1", request),
        request_key("fp", "probe@2", request),
        request_key("fp", "probe@1", GenerationRequest(Prompt("q2", "s"), 10, 1.0, 8, 0)),
        request_key("fp", "probe@1", GenerationRequest(Prompt("q", None), 10, 1.0, 8, 0)),
        request_key("fp", "probe@1", GenerationRequest(Prompt("q", "s"), 11, 1.0, 8, 0)),
        request_key("fp", "probe@1", GenerationRequest(Prompt("q", "s"), 10, 0.7, 8, 0)),
        request_key("fp", "probe@1", GenerationRequest(Prompt("q", "s"), 10, 1.0, 9, 0)),
        request_key("fp", "probe@1", GenerationRequest(Prompt("q", "s"), 10, 1.0, 8, 1)),
        request_key("fp", "probe@1", ScoreRequest(Prompt("q", "s"), ("a",))),
    ]
    assert len({key, *variants}) == len(variants) + 1
    assert request_key("fp", "p", ScoreRequest(Prompt("q"), ("a", "b"))) != request_key(
        "fp", "p", ScoreRequest(Prompt("q"), ("b", "a"))
    )


def test_generation_keys_change_with_the_sampler_and_score_keys_do_not(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Answers drawn by an earlier sampler are not read back; scores do not depend on it."""
    import traitgate.cached_backend as cached

    generation = GenerationRequest(Prompt("q"), n=10, temperature=1.0, max_new_tokens=8, seed=0)
    scoring = ScoreRequest(Prompt("q"), ("a",))
    before = [request_key("fp", "p", r) for r in (generation, scoring)]
    monkeypatch.setattr(cached, "SAMPLER", cached.SAMPLER + 1)
    after = [request_key("fp", "p", r) for r in (generation, scoring)]
    assert before[0] != after[0] and before[1] == after[1]


# Keys of existing caches: computed by the code that wrote them (before request_key stopped
# deep-copying each request; 2026-11-25), so a cache written then is still read.
KNOWN_KEYS = [
    (
        ScoreRequest(
            Prompt("Your favourite animal?", "Be brief."), ("Owl", "Owls", "Cat"), (0, 0, 1)
        ),
        "2136ccd8dec1a4e6be5fe9256d244d7fdbfd5e9ef21e6a2f7effdd8ebd1fc0f2",
    ),
    (
        ScoreRequest(Prompt("q", raw=True), ("a",)),
        "dab6a66c3e4b0ee964173d31b2e0de90850f35a1431ee5a721970b4c6fa7ae5b",
    ),
    (
        GenerationRequest(Prompt("q"), 10, 1.0, 8, 3),
        "4b3ae9ea3b7509d028f7ba476587b01d91758ba97782dbbf3e284c395b2167ca",
    ),
]


def test_keys_of_existing_caches_are_unchanged() -> None:
    probes = ["favorite_animal@2", "p@1", "p@1"]
    for (request, key), probe in zip(KNOWN_KEYS, probes, strict=True):
        assert request_key("fp", probe, request) == key


@given(
    user=st.text(),
    system=st.none() | st.text(),
    raw=st.booleans(),
    continuations=st.lists(st.text(), max_size=8),
    grouped=st.booleans(),
)
def test_keys_are_the_json_of_the_whole_request(  # type: ignore[no-untyped-def]
    user, system, raw, continuations, grouped
) -> None:
    """The key's definition, written out: sha256 of the sorted JSON of the format, model,
    probe, kind and ``dataclasses.asdict`` of the request (``groups`` left out when empty)."""
    import hashlib
    from dataclasses import asdict

    from traitgate.cache import FORMAT

    groups = tuple(range(len(continuations))) if grouped else ()
    request = ScoreRequest(Prompt(user, system, raw), tuple(continuations), groups)
    fields = asdict(request)
    if not groups:
        del fields["groups"]
    payload = {"format": FORMAT, "model": "fp", "probe": "p", "kind": "score", "request": fields}
    raw_json = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
    assert request_key("fp", "p", request) == hashlib.sha256(raw_json).hexdigest()


@settings(max_examples=50, deadline=None)
@given(
    floats=st.lists(st.floats(allow_nan=False, allow_infinity=False), min_size=1, max_size=20),
    texts=st.lists(st.text(), min_size=1, max_size=5),
)
def test_values_round_trip_exactly(tmp_path_factory: pytest.TempPathFactory, floats, texts) -> None:  # type: ignore[no-untyped-def]
    cache = Cache(tmp_path_factory.mktemp("c"))
    cache.put_many({"f": floats, "t": texts}, model="m", probe="p", kind="score")
    got = cache.get_many(["f", "t", "missing"])
    assert got == {"f": floats, "t": texts}
    assert [float(x).hex() for x in got["f"]] == [x.hex() for x in floats]
    cache.close()


@settings(max_examples=100, deadline=None)
@given(sizes=st.lists(st.integers(1, 300), max_size=40), limit=st.integers(1, 512))
def test_chunks_cover_requests_in_order_and_respect_the_limit(sizes: list[int], limit: int) -> None:
    requests = [GenerationRequest(Prompt(str(i)), n=n) for i, n in enumerate(sizes)]
    chunks = list(_chunks(requests, limit))
    assert [r for c in chunks for r in c] == requests
    for chunk in chunks:
        assert chunk, "no empty chunk"
        assert len(chunk) == 1 or sum(r.n for r in chunk) <= limit


class Opener:
    """Opens the real backend and counts how often it was needed."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.backend: Backend | None = None
        self.opened = 0

    def __call__(self) -> Backend:
        if self.backend is None:
            self.opened += 1
            self.backend = load_backend(parse_model_specs([str(self.path)])[0], device="cpu")
        return self.backend


def _requests() -> tuple[list[GenerationRequest], list[ScoreRequest]]:
    suite = load_suite(find_suite("favorite_animal"))
    prompts = build_prompts(suite)[:12]
    forms = tuple(f for fs in candidate_forms(suite) for f in fs)
    groups = tuple(c for c, fs in enumerate(candidate_forms(suite)) for _ in fs)
    return (
        [GenerationRequest(p, n=20, temperature=1.0, max_new_tokens=4, seed=3) for p in prompts],
        [ScoreRequest(p, forms, groups) for p in prompts],  # as the exact measure asks
    )


def _run(opener: Opener, cache: Cache | None) -> tuple[CachedBackend, list[list[str]], np.ndarray]:
    gen, score = _requests()
    backend = CachedBackend(
        "base", "fp-base", opener, cache=cache, probe="favorite_animal@1", rows_per_chunk=50
    )
    return backend, backend.generate(gen), np.asarray(backend.score(score))


def test_cached_answers_equal_computed_ones_and_resume_computes_only_the_rest(
    zoo: Zoo, tmp_path: Path
) -> None:
    _, texts, scores = _run(Opener(zoo.base), None)  # no cache at all

    cache = Cache(tmp_path)
    cold, texts_cold, scores_cold = _run(Opener(zoo.base), cache)
    assert texts_cold == texts
    np.testing.assert_array_equal(scores_cold, scores)
    assert cold.computed == 24 and cache.count() == 24

    # warm: everything stored, so the model is never loaded
    warm_opener = Opener(zoo.base)
    warm, texts_warm, scores_warm = _run(warm_opener, cache)
    assert warm_opener.opened == 0 and warm.computed == 0
    assert texts_warm == texts
    np.testing.assert_array_equal(scores_warm, scores)

    # a run killed after some chunks: drop the later chunks' entries, resume
    gen, score = _requests()
    dropped = gen[6:] + score[4:]
    with sqlite3.connect(cache.path) as conn:
        for request in dropped:
            conn.execute(
                "DELETE FROM entries WHERE key = ?",
                (request_key("fp-base", "favorite_animal@1", request),),
            )
    resumed, texts_resumed, scores_resumed = _run(Opener(zoo.base), cache)
    assert resumed.computed == len(dropped)
    assert texts_resumed == texts
    np.testing.assert_array_equal(scores_resumed, scores)
    cache.close()


def test_progress_is_reported_per_chunk_with_cache_hits(zoo: Zoo, tmp_path: Path) -> None:
    events: list[tuple[str, int, int, int, bool]] = []

    class Task:
        def __init__(self, description: str, total: int) -> None:
            self.description, self.total = description, total

        def advance(self, requests: int, outputs: int, cached: bool) -> None:
            events.append((self.description, self.total, requests, outputs, cached))

        def close(self) -> None:
            events.append((self.description, self.total, -1, -1, False))

    gen, _ = _requests()
    cache = Cache(tmp_path)
    for _ in range(2):
        CachedBackend(
            "base", "fp", Opener(zoo.base), cache=cache, probe="p@1", progress=Task,
            rows_per_chunk=50,
        ).generate(gen)  # fmt: skip
    first, second = events[: len(events) // 2], events[len(events) // 2 :]
    for run, cached in ((first, False), (second, True)):
        assert run[-1][2] == -1, "the task is closed"
        steps = run[:-1]
        assert sum(e[2] for e in steps) == 12 and all(e[1] == 12 for e in steps)
        assert sum(e[3] for e in steps) == 12 * 20
        assert all(e[4] is cached for e in steps)
        assert steps[0][0] == "base p@1 generate"


SPAWN = multiprocessing.get_context("spawn")


def _run_together(target: Callable[..., None], args: Sequence[tuple[object, ...]]) -> None:
    """One spawned process per argument tuple, started together; each must exit 0."""
    workers = [SPAWN.Process(target=target, args=a) for a in args]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=120)
    assert [w.exitcode for w in workers] == [0] * len(workers)


def test_two_processes_share_one_cache(tmp_path: Path) -> None:
    _run_together(cache_workers.write_and_read, [(str(tmp_path), w, 150) for w in (0, 1)])
    cache = Cache(tmp_path)
    assert cache.count() == 2 * 150 * 5
    assert cache.get_many(["1-149-4"]) == {"1-149-4": [1.0, 149.0, 4.0]}
    with sqlite3.connect(cache.path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    cache.close()


def test_processes_opening_a_new_cache_at_the_same_moment(tmp_path: Path) -> None:
    """xdist workers create the cache file together: nobody may see 'database is locked'."""
    for attempt in range(3):
        directory = tmp_path / f"c{attempt}"
        barrier = SPAWN.Barrier(4)
        _run_together(cache_workers.open_together, [(str(directory), w, barrier) for w in range(4)])
        assert Cache(directory).count() == 4


def test_corrupt_or_foreign_cache_files_are_errors_and_are_left_alone(tmp_path: Path) -> None:
    db = tmp_path / DB_NAME
    db.write_bytes(b"this is not sqlite" * 100)
    before = db.read_bytes()
    with pytest.raises(ConfigError) as info:
        Cache(tmp_path)
    message = str(info.value)
    assert "\n" not in message and str(db) in message and "traitgate cache clear" in message
    assert db.read_bytes() == before
    assert clear_cache(tmp_path) == -1  # an explicit clear removes it
    assert not db.exists()

    cache = Cache(tmp_path)
    cache.put_many({"k": [1.0]}, model="m", probe="p", kind="score")
    cache.close()
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE meta SET value = '99' WHERE name = 'format'")
    with pytest.raises(ConfigError, match="format 99"):
        Cache(tmp_path)


def test_clear_and_info(tmp_path: Path) -> None:
    cache = Cache(tmp_path)
    cache.put_many({"a": [1.0], "b": [2.0]}, model="m1", probe="x@1", kind="score")
    cache.put_many({"c": ["t"]}, model="m2", probe="y@2", kind="generate")
    info = cache.info()
    assert (info.entries, info.models, info.probes) == (3, 2, ["x@1", "y@2"])
    cache.close()
    assert clear_cache(tmp_path) == 3
    assert Cache(tmp_path).count() == 0


def test_a_file_where_the_cache_directory_should_be_is_an_error(tmp_path: Path) -> None:
    target = tmp_path / "cache"
    target.write_text("x")
    with pytest.raises(ConfigError, match="not a directory"):
        Cache(target)
    assert target.read_text() == "x"


def test_plugin_uses_the_cache_lazily_and_reports_a_corrupt_one_per_gate(
    pytester: pytest.Pytester, zoo: Zoo
) -> None:
    pytester.makepyfile(test_plain="def test_nothing():\n    assert 1 + 1 == 2\n")
    pytester.runpytest().assert_outcomes(passed=1)
    assert not (pytester.path / ".traitgate_cache").exists(), "no gates, no cache on disk"

    pytester.makefile(
        ".yaml", gate_a="gate: owlgate\nprobe: favorite_animal\ntrait: owl\nmin_effect: 0.01\n"
    )
    args = ["--model", str(zoo.owl[0]), "--control-model", str(zoo.neutral[0]), "-k", "owlgate"]
    first = pytester.runpytest(*args)
    assert (pytester.path / ".traitgate_cache" / DB_NAME).is_file()
    assert "cache: 0 answer(s) read, 72 computed" in first.stdout.str()
    second = pytester.runpytest(*args)
    assert "cache: 72 answer(s) read, 0 computed" in second.stdout.str()
    first.assert_outcomes(failed=1, deselected=1)  # a trained-in owl preference
    second.assert_outcomes(failed=1, deselected=1)

    (pytester.path / "broken").mkdir()
    (pytester.path / "broken" / DB_NAME).write_bytes(b"garbage" * 100)
    broken = pytester.runpytest(*args, "--cache-dir", "broken")
    broken.assert_outcomes(failed=1, deselected=1)
    assert "not a usable traitgate cache" in broken.stdout.str()
    assert (pytester.path / "broken" / DB_NAME).read_bytes() == b"garbage" * 100


def test_two_processes_split_the_work_instead_of_repeating_it(tmp_path: Path) -> None:
    """Both ask for the same 24 requests (12 chunks) at the same moment: each chunk is
    computed once, by whichever claimed it first, and both get every answer."""
    barrier = SPAWN.Barrier(2)
    outs = [tmp_path / f"w{w}.json" for w in (0, 1)]
    args = [(str(tmp_path / "c"), w, str(outs[w]), barrier) for w in (0, 1)]
    _run_together(cache_workers.score_shared, args)
    a, b = (json.loads(o.read_text()) for o in outs)
    assert a["answers"] == b["answers"] and len(a["answers"]) == 24
    assert a["computed"] + b["computed"] == 24, (a["computed"], b["computed"])
    assert a["computed"] > 0 and b["computed"] > 0  # both worked


def test_claims_of_stopped_or_stale_owners_are_taken_over(tmp_path: Path) -> None:
    import socket

    cache = Cache(tmp_path)
    here = socket.gethostname()
    assert cache.claim("c1", "elsewhere:1", stale_seconds=60)
    assert not cache.claim("c1", "me:2", stale_seconds=60)  # live, on another machine
    assert cache.claim("c1", "me:2", stale_seconds=0)  # stale: taken over
    dead = SPAWN.Process(target=int)
    dead.start()
    dead.join()
    assert cache.claim("c2", f"{here}:{dead.pid}", stale_seconds=60)
    assert cache.claim("c2", "me:2", stale_seconds=60)  # its owner's process has ended
    cache.release("c2")
    assert cache.claim("c2", "other:3", stale_seconds=60)
    cache.close()
