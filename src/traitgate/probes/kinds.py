"""The probe-kind registry: one :class:`~traitgate.probes.kind.ProbeKind` per ``kind:`` a
suite file may name.

A kind is a schema (the suite's pydantic model), a runner (one model's
:class:`~traitgate.probes.result.ProbeResult` on a suite), the prompt texts it asks, and
optionally the answers it leaves out of a rate and what to do after a suite file is read.
A new kind is one new module defining its ``ProbeKind`` plus one :func:`register` call (the
built-in kinds are registered below); loading, lint, gates, sessions, baselines, caches and
reports go through the registry.
"""

from __future__ import annotations

from typing import Any

from traitgate.cache import Cache
from traitgate.errors import ConfigError
from traitgate.models.base import Backend
from traitgate.probes import choice, judged, preference
from traitgate.probes.kind import ProbeKind, RunContext
from traitgate.probes.result import Measure, ProbeResult
from traitgate.scoring.judge import Judge

REGISTRY: dict[str, ProbeKind] = {}


def register(kind: ProbeKind) -> ProbeKind:
    """Add a kind (a name may be registered once)."""
    if kind.name in REGISTRY and REGISTRY[kind.name] is not kind:
        raise ValueError(f"probe kind {kind.name!r} is already registered")
    REGISTRY[kind.name] = kind
    return kind


def kind_of(suite: Any) -> ProbeKind:
    """The registered kind of a suite."""
    return REGISTRY[suite.kind]


def run_probe(
    suite: Any,
    backend: Backend,
    measure: Measure,
    *,
    variant: str | None,
    seed: int,
    judge: Judge | None = None,
    cache: Cache | None = None,
) -> ProbeResult:
    """One model's results on one suite (per prompt or item, one column per candidate).
    ``judge`` and ``cache`` serve kinds that need them (a judged suite caches its judge's
    replies)."""
    kind = kind_of(suite)
    if kind.only_measure is not None and (measure != kind.only_measure or variant is not None):
        raise ConfigError(
            f"probe {suite.id!r} ({kind.name}) has only the {kind.only_measure} measure and "
            "no variants"
        )
    return kind.run(suite, backend, measure, RunContext(variant, seed, judge, cache))


def prompt_texts(suite: Any, variant: str | None = None) -> list[str]:
    """The user prompts a suite asks, in order (for checking stored results against it)."""
    return kind_of(suite).prompt_texts(suite, variant)


def excluded(suite: Any, result: ProbeResult) -> dict[str, int]:
    return kind_of(suite).excluded(result)


for _kind in (preference.KIND, choice.KIND, judged.KIND):  # the built-in kinds
    register(_kind)

__all__ = ["REGISTRY", "ProbeKind", "excluded", "kind_of", "prompt_texts", "register", "run_probe"]
