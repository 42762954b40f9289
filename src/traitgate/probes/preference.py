"""Running a preference suite on one model: per-prompt distributions over the candidates."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from scipy.special import logsumexp, softmax

from traitgate.errors import ConfigError
from traitgate.models.base import Backend, GenerationRequest, Prompt, ScoreRequest
from traitgate.probes.schema import PreferenceSuite

Measure = Literal["exact", "sampled"]


@dataclass(frozen=True)
class ProbeResult:
    """One model's answers to one suite under one measure.

    ``values`` has one row per prompt. For ``exact`` it holds each candidate's probability
    (rows sum to 1). For ``sampled`` it holds counts per candidate plus a last column for
    answers naming no candidate; each row sums to ``samples``.
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
    # judged answers: rates are over the first ``scored_columns`` columns only (answers the
    # judge excluded are counted in the later columns but are not part of any rate)
    scored_columns: int | None = None
    # exact measure: per prompt, the probability that the answer begins with one of the
    # scored forms (what the renormalisation over candidates kept; the rest is dropped)
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
        col = self.values[:, self.column(trait)]
        if self.measure == "exact":
            return np.asarray(col, dtype=float)
        rates: np.ndarray = np.asarray(col, dtype=float) / self._denominators()
        return rates

    def _denominators(self) -> np.ndarray:
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
        return hits, self._denominators().astype(int)


def build_prompts(suite: PreferenceSuite, variant: str | None = None) -> list[Prompt]:
    """The prompts as asked, with the variant's numbers prefix when one is named."""
    specs = suite.prompt_specs()
    if variant is None:
        return [Prompt(p.text, p.system) for p in specs]
    if variant not in suite.variants:
        known = ", ".join(sorted(suite.variants)) or "none"
        raise ConfigError(f"probe {suite.id!r} has no variant {variant!r} (has: {known})")
    prefix = suite.variants[variant]
    prompts = []
    for i, spec in enumerate(specs):
        rng = random.Random(f"{prefix.seed}:{i}")
        numbers = ", ".join(str(rng.randint(prefix.low, prefix.high)) for _ in range(prefix.count))
        prompts.append(Prompt(prefix.template.format(numbers=numbers) + spec.text, spec.system))
    return prompts


def candidate_forms(suite: PreferenceSuite) -> list[list[str]]:
    """For each candidate, the distinct answer strings the exact measure scores."""
    assert suite.measures.exact is not None
    out = []
    for cand in suite.candidates:
        texts = [
            form.replace("{candidate}", cand).replace("{Candidate}", cand[:1].upper() + cand[1:])
            for form in suite.measures.exact.forms
        ]
        out.append(list(dict.fromkeys(texts)))
    return out


def _distinct_logsumexp(scores: np.ndarray) -> np.ndarray:
    """Per row, the log of the summed probability of a candidate's forms, each distinct
    answer counted once. Forms that the tokenizer makes the same token sequence (a
    lowercasing tokenizer reads "Owl" as "owl") score bit-identically on every prompt; they
    are one answer, not two, and are counted once (summing them doubled the mass)."""
    keep = [
        j
        for j in range(scores.shape[1])
        if not any(np.array_equal(scores[:, j], scores[:, k]) for k in range(j))
    ]
    return np.asarray(logsumexp(scores[:, keep], axis=1))


def run_preference(
    suite: PreferenceSuite,
    backend: Backend,
    measure: Measure,
    *,
    variant: str | None = None,
    seed: int = 0,
) -> ProbeResult:
    prompts = build_prompts(suite, variant)

    def result(values: np.ndarray, **extra: Any) -> ProbeResult:
        return ProbeResult.of(
            suite, backend, measure, prompts, values, variant=variant, seed=seed, **extra
        )

    if measure == "exact":
        if suite.measures.exact is None:
            raise ConfigError(f"probe {suite.id!r} defines no exact measure")
        forms = candidate_forms(suite)
        flat = tuple(f for fs in forms for f in fs)
        scores = np.asarray(backend.score([ScoreRequest(p, flat) for p in prompts]), dtype=float)
        per_candidate = np.empty((len(prompts), len(forms)))
        start = 0
        for c, fs in enumerate(forms):
            per_candidate[:, c] = _distinct_logsumexp(scores[:, start : start + len(fs)])
            start += len(fs)
        covered = np.exp(logsumexp(per_candidate, axis=1))
        return result(softmax(per_candidate, axis=1), covered=covered)

    sampled = suite.measures.sampled
    if sampled is None:
        raise ConfigError(f"probe {suite.id!r} defines no sampled measure")
    requests = [
        GenerationRequest(p, sampled.samples, sampled.temperature, sampled.max_new_tokens, seed)
        for p in prompts
    ]
    completions = backend.generate(requests)
    matcher = suite.matcher()
    index = {c: i for i, c in enumerate(suite.candidates)}
    counts = np.zeros((len(prompts), len(suite.candidates) + 1), dtype=np.int64)
    unmatched: dict[str, int] = {}
    for row, answers in enumerate(completions):
        for answer in answers:
            found = matcher.match(answer)
            if found is None:
                counts[row, -1] += 1
                unmatched[answer] = unmatched.get(answer, 0) + 1
            else:
                counts[row, index[found]] += 1
    top_unmatched = sorted(unmatched, key=lambda a: -unmatched[a])[:5]
    return result(counts, samples=sampled.samples, examples={"unmatched": top_unmatched})
