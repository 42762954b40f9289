r"""In which order, and in which process, each model runs its probes.

A session hands the scheduler one :class:`ModelWork` per model (the :class:`ProbeRun`\ s it
still needs) and a function that runs one. :class:`Serial` runs them all, in order.
:class:`Sharded` is for pytest-xdist workers sharing one cache: each worker runs the models
it owns (every ``count``-th, from its ``index``) first, marks each done in the cache, then
waits for the others' owners; if the cache stops growing for ``stall_seconds`` (a crashed or
stuck owner) it runs that model itself. Either way every process ends with every result.

:class:`LazyModel` loads a model on first use (the first cache miss), at most once, so a
model whose answers are all cached is never loaded.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from traitgate.cache import Cache
from traitgate.errors import TraitgateError
from traitgate.models import Backend, ModelSpec
from traitgate.probes.result import Measure
from traitgate.probes.schema import Suite

if TYPE_CHECKING:
    from traitgate.gate import Gate

RunKey = tuple[str, str, str, str | None]  # suite id, version, measure, variant


@dataclass(frozen=True)
class ProbeRun:
    """One probe measurement to make on a model: a suite, a measure and a variant."""

    suite: Suite
    measure: Measure
    variant: str | None = None

    @property
    def key(self) -> RunKey:
        return (self.suite.id, str(self.suite.version), self.measure, self.variant)

    @classmethod
    def of(cls, gate: Gate) -> ProbeRun:
        return cls(gate.suite, gate.spec.measure, gate.spec.variant)


@dataclass(frozen=True)
class ModelWork:
    """One model's outstanding probe runs; ``marker`` names them (weights, runs, seed) in
    the cache's completion markers."""

    spec: ModelSpec
    runs: dict[Any, Any]
    marker: str


class Scheduler(Protocol):
    def run(
        self,
        work: Sequence[ModelWork],
        execute: Callable[[ModelWork], None],
        log: Callable[[str], None],
    ) -> None: ...


class Serial:
    """Every model here, in the given order."""

    def run(
        self,
        work: Sequence[ModelWork],
        execute: Callable[[ModelWork], None],
        log: Callable[[str], None],
    ) -> None:
        for position, item in enumerate(work, start=1):
            log(f"[{position}/{len(work)}] {item.spec.label}: {len(item.runs)} probe run(s)")
            execute(item)


@dataclass
class Sharded:
    """This worker's models first (marked done as they finish), then the others' once their
    owner has marked them done, or here if the shared cache stalls."""

    index: int
    count: int
    cache: Cache
    stall_seconds: float = 300.0
    poll_seconds: float = 0.5

    def run(
        self,
        work: Sequence[ModelWork],
        execute: Callable[[ModelWork], None],
        log: Callable[[str], None],
    ) -> None:
        owned = {item.spec.location for k, item in enumerate(work) if k % self.count == self.index}
        ordered = sorted(work, key=lambda item: item.spec.location not in owned)  # stable
        for position, item in enumerate(ordered, start=1):
            if item.spec.location not in owned and not self._wait_for(item.marker):
                log(f"{item.spec.label}: its worker has stalled; running it here")
            log(f"[{position}/{len(ordered)}] {item.spec.label}: {len(item.runs)} probe run(s)")
            execute(item)
            self.cache.mark_done(item.marker)

    def _wait_for(self, marker: str) -> bool:
        """Wait until another worker has marked a model done; False if the cache stopped
        growing for ``stall_seconds`` first."""
        last, since = -1, time.monotonic()
        while not self.cache.is_done(marker):
            entries = self.cache.write_mark()
            if entries != last:
                last, since = entries, time.monotonic()
            elif time.monotonic() - since > self.stall_seconds:
                return False
            time.sleep(self.poll_seconds)
        return True


class LazyModel:
    """A model loaded by ``load`` on the first call, at most once; a load error is kept and
    raised again on every call (each probe run that needs the model reports it)."""

    def __init__(self, load: Callable[[], Backend]) -> None:
        self._load = load
        self._model: Backend | None = None
        self._error: TraitgateError | None = None

    def __call__(self) -> Backend:
        if self._model is None and self._error is None:
            try:
                self._model = self._load()
            except TraitgateError as exc:
                self._error = exc
        if self._error is not None:
            raise self._error
        assert self._model is not None
        return self._model

    def close(self) -> None:
        if self._model is not None:
            self._model.close()


__all__ = ["LazyModel", "ModelWork", "Scheduler", "Serial", "Sharded"]
