"""Power planning: how many replicate models, prompts and samples a study needs.

The decision test with replicates is a t test across models (SPEC, Statistics), so what
matters is the standard deviation of one model's measured rate. It has three parts
(:func:`traitgate.stats.model_rate_sd`): fine-tuning noise between models (``model_sd``,
which no number of prompts or samples removes), model-by-prompt interaction averaged over
the prompts, and, for the sampled measure only, binomial noise of the samples. The exact
measure has no sampling noise, which is why it needs far less compute for the same power.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from traitgate.stats import Alternative, model_rate_sd, power, required_n


@dataclass(frozen=True)
class PlanRow:
    measure: str  # exact | sampled
    samples: int | None  # per prompt (sampled measure)
    prompts: int
    replicates: int  # models per arm
    power: float  # at that many replicates
    rate_sd: float  # standard deviation of one model's rate
    sequences: int  # sequences generated or continuations scored, both arms

    def describe(self) -> str:
        what = "exact" if self.samples is None else f"sampled x{self.samples}"
        return (
            f"{what:<13} {self.prompts:>7} {self.replicates:>10} {self.power:>6.2f} "
            f"{self.rate_sd:>8.4f} {self.sequences:>14,}"
        )


HEADER = (
    f"{'measure':<13} {'prompts':>7} {'replicates':>10} {'power':>6} {'rate sd':>8} "
    f"{'sequences':>14}"
)


def plan(
    effect: float,
    base_rate: float,
    *,
    prompts: int,
    candidate_forms: int,
    model_sd: float,
    interaction_sd: float = 0.0,
    samples: Sequence[int] = (25, 50, 100, 200),
    alpha: float = 0.01,
    target_power: float = 0.8,
    alternative: Alternative = "greater",
) -> list[PlanRow]:
    """Replicates per arm needed to detect ``effect`` (a difference of rates) at
    ``target_power``, for the exact measure and for the sampled measure at each number of
    ``samples`` per prompt. ``candidate_forms``: continuations scored per prompt (exact)."""
    if not 0 <= base_rate <= 1 or not 0 <= base_rate + effect <= 1:
        raise ValueError("base_rate and base_rate + effect must lie in [0, 1]")
    if (
        effect == 0
        or (alternative == "greater" and effect < 0)
        or (alternative == "less" and effect > 0)
    ):
        raise ValueError(f"effect {effect} cannot be detected with alternative {alternative!r}")
    if model_sd < 0 or interaction_sd < 0:
        raise ValueError("model_sd and interaction_sd must be >= 0")
    rows = []
    for n_samples in (None, *samples):
        # the pooled t's standard error holds the two arms' variances, which differ by
        # their binomial noise: use their root mean square
        sd = math.sqrt(
            sum(
                model_rate_sd(
                    rate,
                    prompts=prompts,
                    samples=n_samples,
                    prompt_sd=interaction_sd,
                    model_sd=model_sd,
                )
                ** 2
                for rate in (base_rate, base_rate + effect)
            )
            / 2
        )
        if sd == 0:  # no noise at all: two models per arm already separate any effect
            n, achieved = 2, 1.0
        else:
            n = required_n(
                effect, sd, target_power=target_power, alpha=alpha, alternative=alternative
            )
            achieved = power(effect, sd, n, alpha=alpha, alternative=alternative)
        per_model = prompts * (candidate_forms if n_samples is None else n_samples)
        rows.append(
            PlanRow(
                "exact" if n_samples is None else "sampled",
                n_samples,
                prompts,
                n,
                achieved,
                sd,
                2 * n * per_model,
            )
        )
    return rows


__all__ = ["HEADER", "PlanRow", "plan"]
