"""What makes a probe kind (:class:`ProbeKind`); the registry of kinds is
:mod:`traitgate.probes.kinds`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from traitgate.cache import Cache
from traitgate.models.base import Backend
from traitgate.probes.result import Measure, ProbeResult
from traitgate.scoring.judge import Judge


@dataclass(frozen=True)
class RunContext:
    """What a runner gets besides the suite, the model and the measure."""

    variant: str | None = None
    seed: int = 0
    judge: Judge | None = None  # (kinds with needs_judge)
    cache: Cache | None = None  # (for a kind's own cached calls, e.g. the judge's replies)


# (suite, backend, measure, context) -> one model's result on the suite
Runner = Callable[[Any, Backend, Measure, RunContext], ProbeResult]


def _nothing_excluded(_result: ProbeResult) -> dict[str, int]:
    return {}


def _as_read(suite: Any, _directory: Path) -> Any:
    return suite


@dataclass(frozen=True)
class ProbeKind:
    """What traitgate needs to know of one kind of probe suite."""

    name: str  # the value of ``kind:`` in a suite file
    schema: type[Any]  # its pydantic model (fields: kind, id, version, description, ...)
    run: Runner
    prompt_texts: Callable[[Any, str | None], list[str]]  # (suite, variant) -> user prompts
    # answers of a result left out of its rate, by reason (shown beside the verdict)
    excluded: Callable[[ProbeResult], dict[str, int]] = _nothing_excluded
    # the suite just read from a file in ``directory`` (e.g. resolve relative data paths)
    resolve: Callable[[Any, Path], Any] = _as_read
    needs_judge: bool = False  # the runner needs the session's judge
    # the kind's only measure, when it has one and no variants (others are refused for it)
    only_measure: Measure | None = None


__all__ = ["ProbeKind", "RunContext", "Runner"]
