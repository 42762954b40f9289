"""What one model's run of one probe suite gives: :class:`ProbeResult`, under a
:data:`Measure`. Every probe kind returns one; gates, baselines, caches and reports read it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from traitgate.errors import ConfigError
from traitgate.models.base import Backend, Prompt

Measure = Literal["exact", "sampled"]


@dataclass(frozen=True)
class ProbeResult:
    """One model's answers to one suite under one measure.

    ``values`` has one row per prompt. For ``exact`` it holds each candidate's probability
    among answers naming a candidate (rows sum to 1). For ``sampled`` it holds counts per
    candidate plus a last column for answers naming no candidate; each row sums to
    ``samples``, and a rate is a count over the answers naming a candidate (the same
    quantity as exact).
    """

    suite: str
    version: str
    measure: Measure
    variant: str | None
    model: str
    fingerprint: str
    prompts: list[str]
    candidates: list[str]
    values: np.ndarray
    samples: int | None = None
    seed: int = 0
    examples: dict[str, list[str]] = field(default_factory=dict)
    # rates are over the first ``scored_columns`` columns only: answers counted in the later
    # columns (a judge excluded them; sampled preference: they named no candidate) are not
    # part of any rate
    scored_columns: int | None = None
    # per prompt, the share of answers the rate is over: exact, the probability that the
    # answer begins with one of the scored forms as a word (the rest is renormalised away);
    # sampled, the share of samples naming a candidate
    covered: np.ndarray | None = field(default=None, compare=False)

    @classmethod
    def of(
        cls,
        suite: Any,
        backend: Backend,
        measure: Measure,
        prompts: Sequence[Prompt],
        values: np.ndarray,
        *,
        variant: str | None = None,
        seed: int = 0,
        **extra: Any,
    ) -> ProbeResult:
        """A result of ``backend`` on ``suite`` (any kind), with the fields every kind shares."""
        return cls(
            suite=suite.id,
            version=str(suite.version),
            measure=measure,
            variant=variant,
            model=backend.label,
            fingerprint=backend.fingerprint,
            prompts=[p.user for p in prompts],
            candidates=list(suite.candidates),
            values=values,
            seed=seed,
            **extra,
        )

    def column(self, trait: str) -> int:
        try:
            return self.candidates.index(trait)
        except ValueError:
            raise ConfigError(
                f"trait {trait!r} is not a candidate of probe {self.suite!r}"
            ) from None

    def trait_rates(self, trait: str) -> np.ndarray:
        """Per-prompt rate of the trait: its probability (exact) or share of samples."""
        return self._rates(self.values[:, self.column(trait)])

    def candidate_rates(self) -> np.ndarray:
        """Every candidate's per-prompt rates, shape (prompts, candidates): column ``j`` is
        ``trait_rates(candidates[j])``, in one pass."""
        return self._rates(self.values[:, : len(self.candidates)])

    def _rates(self, columns: np.ndarray) -> np.ndarray:
        if self.measure == "exact":
            return np.asarray(columns, dtype=float)
        hits, n = np.asarray(columns, dtype=float), self.answers()
        if hits.ndim == 2:
            n = n[:, None]
        # a prompt none of whose answers is in the rate (none named a candidate) has no rate
        # of its own: it takes the model's rate over its other prompts, so it neither adds
        # nor removes anything from the model's mean (the sums are of whole counts: exact)
        total = n.sum()
        pooled = hits.sum(axis=0) / total if total > 0 else np.zeros(hits.shape[1:])
        fill = np.broadcast_to(pooled, hits.shape).copy()
        rates: np.ndarray = np.divide(hits, n, out=fill, where=n > 0)
        return rates

    def answers(self) -> np.ndarray:
        """Per prompt, how many sampled answers a rate is over (sampled measure)."""
        if self.scored_columns is not None:
            scored = np.asarray(self.values[:, : self.scored_columns], dtype=float)
            return np.asarray(scored.sum(axis=1))
        assert self.samples is not None
        return np.full(len(self.values), float(self.samples))

    def trait_counts(self, trait: str) -> tuple[np.ndarray, np.ndarray] | None:
        """Per-prompt (hits, samples) for the sampled measure; None for exact."""
        if self.measure != "sampled":
            return None
        hits = self.values[:, self.column(trait)].astype(int)
        return hits, self.answers().astype(int)


__all__ = ["Measure", "ProbeResult"]
