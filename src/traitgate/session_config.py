"""A session's configuration: the settings its results depend on and the services it does
its work with (both frozen; see :class:`traitgate.session.TraitSession`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from traitgate._checks import check_seed
from traitgate.baseline import Baseline
from traitgate.cache import Cache
from traitgate.models import Backend, ModelSpec
from traitgate.progress import TaskFactory
from traitgate.scoring.judge import Judge
from traitgate.stats import Correction

Loader = Callable[[ModelSpec], Backend]


def _quiet(_message: str) -> None:
    pass


@dataclass(frozen=True)
class SessionSettings:
    """What a session's results depend on, fixed for its lifetime."""

    seed: int = 0
    device: str = "auto"
    correction: Correction = "holm"
    probe_paths: tuple[Path, ...] = ()
    judge_model: str | None = None  # an inspect-ai model name, or a local model path
    # under pytest-xdist: (this worker, workers). Each worker first runs the models it owns
    # (every count-th, from its index), then takes the others' results from the shared
    # cache once their owner has marked them done; if the cache stops growing for
    # stall_seconds (a crashed or stuck owner), it runs the model itself.
    shard: tuple[int, int] | None = None
    stall_seconds: float = 300.0
    poll_seconds: float = 0.5

    def __post_init__(self) -> None:
        check_seed(self.seed, "seed")


@dataclass(frozen=True)
class SessionServices:
    """What a session does its work with. ``baseline`` serves the base and control roles
    from stored results; ``judge`` scores judged probes (default: built on first use from
    ``SessionSettings.judge_model``); ``loader`` loads a model (default: :func:`load_backend`)."""

    loader: Loader | None = None
    log: Callable[[str], None] = _quiet
    cache: Cache | None = None
    progress: TaskFactory | None = None
    baseline: Baseline | None = None
    judge: Judge | None = None


__all__ = ["Loader", "SessionServices", "SessionSettings"]
