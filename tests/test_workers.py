"""pytest-xdist workers: each pins its own GPU and runs its own share of the models, taking
the others' results from the shared cache (real tiny models, real threads, one cache)."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from traitgate import Gate, SessionServices, SessionSettings, TraitSession, parse_model_specs
from traitgate._plugin import xdist
from traitgate._plugin.xdist import XdistHooks, gpu_for_worker, share_cpu_threads, worker_shard
from traitgate.cache import Cache
from traitgate.models import Backend, ModelSpec

from .conftest import Zoo
from .test_session import CountingLoader, gate


@pytest.mark.parametrize(
    ("device", "worker", "gpus", "expected"),
    [
        ("auto", 0, 4, "cuda:0"),
        ("auto", 3, 4, "cuda:3"),
        ("auto", 5, 4, "cuda:1"),  # more workers than GPUs: they share, round robin
        ("auto", 2, 1, "auto"),  # one GPU: every worker uses it
        ("auto", 2, 0, "auto"),  # CPU only
        ("auto", None, 4, "auto"),  # not under xdist
        ("cuda:1", 3, 4, "cuda:1"),  # an explicit device wins
        ("cpu", 0, 4, "cpu"),
    ],
)
def test_each_worker_pins_its_own_gpu(
    device: str, worker: int | None, gpus: int, expected: str
) -> None:
    assert gpu_for_worker(device, worker, gpus) == expected


@pytest.mark.parametrize(
    ("workerid", "count", "expected"),
    [("gw0", 2, (0, 2)), ("gw3", 4, (3, 4)), ("gw0", 1, None), ("other", 2, None)],
)
def test_the_controller_tells_each_worker_its_share_through_workerinput(
    workerid: str, count: int, expected: tuple[int, int] | None
) -> None:
    """The controller's pytest_configure_node adds the share to the worker's workerinput
    (which xdist sends to the worker as config.workerinput); the worker reads it back."""
    node = SimpleNamespace(workerinput={"workerid": workerid, "workercount": count})
    XdistHooks.pytest_configure_node(node)
    worker_config = SimpleNamespace(workerinput=node.workerinput)
    assert worker_shard(worker_config) == expected  # type: ignore[arg-type]
    assert worker_shard(SimpleNamespace()) is None  # type: ignore[arg-type]  # controller


@pytest.mark.parametrize(
    ("cores", "workers", "expected"), [(2, 2, 1), (16, 4, 4), (2, 4, 1), (8, 3, 2)]
)
def test_workers_share_the_cpu_cores_out(
    monkeypatch: pytest.MonkeyPatch, cores: int, workers: int, expected: int
) -> None:
    """Each worker's torch and OpenMP get the cores divided among the workers (workers of
    one thread per core each spin against each other: on 2 cores, -n 2 ran the owl gates
    9x slower than one process)."""
    import torch

    told: list[int] = []
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(xdist, "_cores", lambda: cores)
    monkeypatch.setattr(torch, "set_num_threads", told.append)
    assert share_cpu_threads((0, workers)) == expected
    assert os.environ["OMP_NUM_THREADS"] == str(expected) and told == [expected]


def test_a_thread_count_set_by_the_user_and_a_plain_run_are_left_alone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import torch

    told: list[int] = []
    monkeypatch.setattr(torch, "set_num_threads", told.append)
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert share_cpu_threads((0, 2)) is None and os.environ["OMP_NUM_THREADS"] == "3"
    monkeypatch.delenv("OMP_NUM_THREADS")
    assert share_cpu_threads(None) is None and "OMP_NUM_THREADS" not in os.environ
    assert told == []


class LockedLoader(CountingLoader):
    """Loads one model at a time across threads: transformers' loading is not thread-safe
    (real xdist workers are processes); what is tested is which worker loads what."""

    lock = threading.Lock()

    def __call__(self, spec: ModelSpec) -> Backend:
        with self.lock:
            return super().__call__(spec)


def _session(
    zoo: Zoo,
    probes: Path,
    loader: CountingLoader,
    cache: Cache | None = None,
    log: Callable[[str], None] | None = None,
    **settings: Any,
) -> TraitSession:
    return TraitSession(
        roles={
            "model": parse_model_specs([str(p) for p in zoo.owl[:2]]),
            "control": parse_model_specs([str(p) for p in zoo.neutral[:2]]),
        },
        settings=SessionSettings(probe_paths=(probes,), **settings),
        services=SessionServices(loader=loader, cache=cache, **({"log": log} if log else {})),
    )


def _gates(probes: Path) -> list[Gate]:
    # the short probe: what is tested is which worker computes what, not the measure
    return [
        gate("owl", "owl", ["model", "control"], probes),
        gate("owl-s", "owl", ["model", "control"], probes, measure="sampled"),
    ]


@pytest.fixture
def reference(zoo: Zoo, brief_probes: Path, session_answers: Cache) -> list[float]:
    """The gates' p-values from one plain session (answers from the run's shared cache)."""
    return _pvalues(_session(zoo, brief_probes, CountingLoader(), cache=session_answers))


def _pvalues(session: TraitSession) -> list[float]:
    gates = _gates(*session.settings.probe_paths)
    outcomes = session.evaluate(gates, collected=True)
    return [outcomes[i].comparison.pvalue for i in range(len(gates))]  # type: ignore[union-attr]


def test_workers_split_the_models_and_agree(
    zoo: Zoo, brief_probes: Path, reference: list[float], tmp_path: Path
) -> None:
    loaders = [LockedLoader(), LockedLoader()]
    pvalues: list[list[float]] = [[], []]
    errors: list[BaseException] = []

    def worker(k: int) -> None:
        try:
            session = _session(
                zoo,
                brief_probes,
                loaders[k],
                cache=Cache(tmp_path / "c"),
                shard=(k, 2),
                poll_seconds=0.05,
            )
            pvalues[k] = _pvalues(session)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    # each model was loaded by exactly one worker; each worker loaded its own two
    assert sorted(loaders[0].loads + loaders[1].loads) == sorted(
        p.name for p in [*zoo.owl[:2], *zoo.neutral[:2]]
    )
    assert len(loaders[0].loads) == len(loaders[1].loads) == 2
    assert pvalues[0] == pvalues[1] == reference


def test_a_worker_runs_a_stalled_owners_models_itself(
    zoo: Zoo, brief_probes: Path, reference: list[float], tmp_path: Path
) -> None:
    loader = CountingLoader()
    lines: list[str] = []
    session = _session(
        zoo,
        brief_probes,
        loader,
        cache=Cache(tmp_path / "c"),
        log=lines.append,
        shard=(1, 2),
        poll_seconds=0.05,
        stall_seconds=0.3,
    )
    assert _pvalues(session) == reference  # worker 0 never came: it did all four
    assert len(loader.loads) == 4
    assert sum("its worker has stalled" in line for line in lines) == 2


def test_work_only_one_worker_asks_for_is_not_shared(
    zoo: Zoo, brief_probes: Path, tmp_path: Path
) -> None:
    # a Python test's ad-hoc gate runs on one worker only: waiting for the others would hang
    loader = CountingLoader()
    session = _session(
        zoo, brief_probes, loader, cache=Cache(tmp_path / "c"), shard=(1, 2), stall_seconds=3600.0
    )
    session.evaluate(_gates(brief_probes))  # not the collected family
    assert len(loader.loads) == 4
