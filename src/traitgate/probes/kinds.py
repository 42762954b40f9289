"""One entry point per probe operation, whatever the suite's kind."""

from __future__ import annotations

from traitgate.cache import Cache
from traitgate.errors import ConfigError
from traitgate.models.base import Backend
from traitgate.probes.choice import build_choice_prompts, load_items, run_multiple_choice
from traitgate.probes.judged import judged_prompts, run_judged
from traitgate.probes.preference import Measure, ProbeResult, build_prompts, run_preference
from traitgate.probes.schema import JudgedSuite, MultipleChoiceSuite, Suite
from traitgate.scoring.judge import Judge


def run_probe(
    suite: Suite,
    backend: Backend,
    measure: Measure,
    *,
    variant: str | None,
    seed: int,
    judge: Judge | None = None,
    cache: Cache | None = None,
) -> ProbeResult:
    """One model's results on one suite (per prompt or item, one column per candidate).
    ``judge`` and ``cache`` serve judged suites (the judge's replies are cached)."""
    if isinstance(suite, MultipleChoiceSuite):
        if measure != "exact" or variant is not None:
            raise ConfigError(f"probe {suite.id!r} is scored exactly and has no variants")
        return run_multiple_choice(suite, backend, seed=seed)
    if isinstance(suite, JudgedSuite):
        if measure != "sampled" or variant is not None:
            raise ConfigError(f"probe {suite.id!r} is sampled and judged, and has no variants")
        return run_judged(suite, backend, judge, cache=cache, seed=seed)
    return run_preference(suite, backend, measure, variant=variant, seed=seed)


def prompt_texts(suite: Suite, variant: str | None = None) -> list[str]:
    """The user prompts a suite asks, in order (for checking stored results against it)."""
    if isinstance(suite, MultipleChoiceSuite):
        return [p.user for p in build_choice_prompts(suite, load_items(suite.data))]
    if isinstance(suite, JudgedSuite):
        return [p.user for p in judged_prompts(suite)]
    return [p.user for p in build_prompts(suite, variant)]


__all__ = ["prompt_texts", "run_probe"]
