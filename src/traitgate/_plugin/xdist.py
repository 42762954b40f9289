"""pytest-xdist: each worker runs its share of the models (and, with several GPUs, on its
own GPU, on the CPU with its share of the cores), and reads the others' results from the
shared cache.

:class:`XdistHooks` is registered only when pytest-xdist is installed. In the controller it
tells each worker its share through ``workerinput``; a worker reads it back with
:func:`worker_shard`. Outside xdist (or with one worker) there is no share: run everything.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import pytest

SHARD_KEY = "traitgate_shard"  # [worker index, worker count] in a worker's workerinput


class XdistHooks:
    """Hooks that exist only under pytest-xdist."""

    @staticmethod
    def pytest_configure_node(node: Any) -> None:
        """Controller, once per worker before it starts: its index and the worker count."""
        data = node.workerinput
        workerid = str(data["workerid"])
        if workerid.startswith("gw") and workerid[2:].isdigit():
            data[SHARD_KEY] = [int(workerid[2:]), int(data["workercount"])]


def register(config: pytest.Config) -> None:
    if config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(XdistHooks(), "traitgate-xdist")


def worker_shard(config: pytest.Config) -> tuple[int, int] | None:
    """(index, count) of this xdist worker; None in the controller, without xdist, or when
    there is only one worker."""
    data = getattr(config, "workerinput", None)
    shard = data.get(SHARD_KEY) if data is not None else None
    if not shard or int(shard[1]) < 2:
        return None
    return int(shard[0]), int(shard[1])


def share_cpu_threads(shard: tuple[int, int] | None) -> int | None:
    """In a worker, torch's CPU threads (and OpenMP's) are this machine's cores shared out
    among the workers, unless OMP_NUM_THREADS is set: by default each process starts one
    thread per core, and workers on the same cores then spin against each other: on a
    2-core machine, `pytest evals/ -n 2` on the zoo's owl students took 244-277 s that way,
    24-27 s with a thread each, 28 s without xdist (BENCHMARKS.md). Returns the thread
    count set (None: left alone). Before torch is imported the environment suffices;
    after, torch is told too."""
    if shard is None or os.environ.get("OMP_NUM_THREADS"):
        return None
    threads = max(1, _cores() // shard[1])
    os.environ["OMP_NUM_THREADS"] = str(threads)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(threads)
    return threads


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # (macOS, Windows)
        return os.cpu_count() or 1


def gpu_for_worker(device: str, worker: int | None, cuda_devices: int) -> str:
    """The device of xdist worker ``worker`` (its index): with ``auto`` and more than one GPU,
    worker k uses ``cuda:{k mod GPUs}``, so ``pytest -n <GPUs>`` gives each worker its own
    GPU. An explicit device, one GPU, or no worker leave ``device`` as it is."""
    if device != "auto" or worker is None or cuda_devices < 2:
        return device
    return f"cuda:{worker % cuda_devices}"


def worker_device(device: str, shard: tuple[int, int] | None) -> str:
    """This process's device: :func:`gpu_for_worker` with the GPUs counted (which imports
    torch: only in a worker that may need it)."""
    if device != "auto" or shard is None:
        return device
    import torch

    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    return gpu_for_worker(device, shard[0], gpus)
