"""pytest-xdist: each worker runs its share of the models (and, with several GPUs, on its
own GPU), and reads the others' results from the shared cache.

:class:`XdistHooks` is registered only when pytest-xdist is installed. In the controller it
tells each worker its share through ``workerinput``; a worker reads it back with
:func:`worker_shard`. Outside xdist (or with one worker) there is no share: run everything.
"""

from __future__ import annotations

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
