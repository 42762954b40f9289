"""Running a preference suite on one model: per-prompt distributions over the candidates."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy.special import logsumexp, softmax

from traitgate.errors import ConfigError, ModelError
from traitgate.models.base import Backend, GenerationRequest, Prompt, ScoreRequest
from traitgate.probes.kind import ProbeKind, RunContext
from traitgate.probes.result import Measure, ProbeResult
from traitgate.probes.schema import PreferenceSuite
from traitgate.scoring.normalise import plurals


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
        prompts.append(
            Prompt(prefix.template.replace("{numbers}", numbers) + spec.text, spec.system)
        )
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


def _run(
    suite: PreferenceSuite, backend: Backend, measure: Measure, context: RunContext
) -> ProbeResult:
    return run_preference(suite, backend, measure, variant=context.variant, seed=context.seed)


def _excluded(result: ProbeResult) -> dict[str, int]:
    """Sampled answers naming no candidate (not part of any rate)."""
    if result.scored_columns is None:
        return {}
    unnamed = int(result.values[:, result.scored_columns :].sum())
    return {"named no candidate": unnamed} if unnamed else {}


KIND = ProbeKind(
    name="preference",
    schema=PreferenceSuite,
    run=_run,
    prompt_texts=lambda suite, variant: [p.user for p in build_prompts(suite, variant)],
    excluded=_excluded,
)
