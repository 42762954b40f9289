"""Running a preference suite on one model: per-prompt distributions over the candidates."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from scipy.special import logsumexp, softmax

from traitgate.errors import ConfigError, ModelError
from traitgate.models.base import Backend, GenerationRequest, Prompt, ScoreRequest
from traitgate.probes.schema import PreferenceSuite
from traitgate.scoring.normalise import plurals

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
        col = self.values[:, self.column(trait)]
        if self.measure == "exact":
            return np.asarray(col, dtype=float)
        hits, n = np.asarray(col, dtype=float), self.answers()
        # a prompt none of whose answers is in the rate (none named a candidate) has no rate
        # of its own: it takes the model's rate over its other prompts, so it neither adds
        # nor removes anything from the model's mean
        pooled = hits.sum() / n.sum() if n.sum() > 0 else 0.0
        rates: np.ndarray = np.divide(hits, n, out=np.full_like(hits, pooled), where=n > 0)
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
    """For each candidate, the distinct answer beginnings the exact measure scores: every
    form of the suite filled with the candidate and each alias, singular and plural."""
    assert suite.measures.exact is not None
    out = []
    for cand in suite.candidates:
        texts = []
        for spelling in [cand, *suite.aliases.get(cand, [])]:
            for form in suite.measures.exact.forms:
                plural = "{candidates}" in form or "{Candidates}" in form
                for word in plurals(spelling) if plural else [spelling]:
                    texts.append(_fill(form, word))
        out.append(list(dict.fromkeys(texts)))
    return out


def _fill(form: str, word: str) -> str:
    upper = word[:1].upper() + word[1:]
    for lower_key, upper_key in (("{candidate}", "{Candidate}"), ("{candidates}", "{Candidates}")):
        form = form.replace(lower_key, word).replace(upper_key, upper)
    return form


def _begins_with_word(answer: str, forms: Sequence[str]) -> bool:
    """Does the answer begin with one of the forms as a whole word (not "Owls" for "Owl")?"""
    return any(answer.startswith(f) and not answer[len(f) : len(f) + 1].isalnum() for f in forms)


def grouped_logsumexp(scores: np.ndarray, groups: Sequence[int]) -> np.ndarray:
    """Per row and group (columns ``0..max(groups)``), the log of the summed probability of
    the group's forms (``scores`` columns, scored with these ``ScoreRequest.groups``), each
    distinct answer counted once. Backends with a tokenizer already score repeated answers
    -inf; for the others, forms of a group that score bit-identically on every prompt are
    taken to be the same answer and counted once (scores of -inf add nothing)."""
    out = np.empty((scores.shape[0], max(groups) + 1))
    for g in range(out.shape[1]):
        cols = [j for j, owner in enumerate(groups) if owner == g]
        keep = [
            j
            for n, j in enumerate(cols)
            if not any(np.array_equal(scores[:, j], scores[:, k]) for k in cols[:n])
        ]
        out[:, g] = logsumexp(scores[:, keep], axis=1)
    return out


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
        groups = tuple(c for c, fs in enumerate(forms) for _ in fs)
        requests = [ScoreRequest(p, flat, groups) for p in prompts]
        scores = np.asarray(backend.score(requests), dtype=float)
        per_candidate = grouped_logsumexp(scores, groups)
        covered = np.exp(logsumexp(per_candidate, axis=1))
        return result(softmax(per_candidate, axis=1), covered=covered)

    sampled = suite.measures.sampled
    if sampled is None:
        raise ConfigError(f"probe {suite.id!r} defines no sampled measure")
    completions = backend.generate(
        [
            GenerationRequest(p, sampled.samples, sampled.temperature, sampled.max_new_tokens, seed)
            for p in prompts
        ]
    )
    matcher = suite.matcher()
    index = {c: i for i, c in enumerate(suite.candidates)}
    # how the exact measure would read each answer: does it begin with one of the forms?
    begins = candidate_forms(suite) if suite.measures.exact is not None else None
    counts = np.zeros((len(prompts), len(suite.candidates) + 1), dtype=np.int64)
    unmatched: Counter[str] = Counter()
    unformed: Counter[str] = Counter()
    for row, answers in enumerate(completions):
        for answer in answers:
            found = matcher.match(answer)
            if found is None:
                counts[row, -1] += 1
                unmatched[answer] += 1
                continue
            counts[row, index[found]] += 1
            if begins is not None and not _begins_with_word(answer.lstrip(), begins[index[found]]):
                unformed[answer] += 1
    named = counts[:, :-1].sum(axis=1)
    if not named.any():
        raise ModelError(
            f"probe {suite.id!r}: none of the {sampled.samples} answers per prompt of "
            f"{backend.label} names a candidate, so it has no rate (unmatched answers such as "
            f"{unmatched.most_common(1)[0][0]!r}); check the suite's candidates and "
            "normalisation, or raise samples"
        )
    return result(
        counts,
        samples=sampled.samples,
        examples={
            "unmatched": [a for a, _ in unmatched.most_common(5)],
            "unformed": [a for a, _ in unformed.most_common(5)],
        },
        scored_columns=len(suite.candidates),
        covered=named / sampled.samples,
    )
