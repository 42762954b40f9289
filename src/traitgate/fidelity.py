"""Can the exact measure be trusted on this model? Compare it with sampled answers.

Both measures estimate one quantity: the probability that an answer names a candidate,
among answers naming any candidate. The exact measure computes it from the suite's
``forms`` (how an answer can begin); the sampled measure counts what the model says, read by
the suite's matcher. On a prompt, the sampled count of a candidate among ``n`` answers
naming one is binomial with the exact probability when the forms cover how the model names
candidates; so each candidate's mean sampled rate minus its mean exact rate, divided by the
binomial standard error, is a z score that is standard normal when the measures agree.
``traitgate check-measures`` prints this per candidate, the answers that named a candidate
in a way no form begins with (what to add to ``forms``), and the mass each measure covers.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from traitgate.errors import ConfigError
from traitgate.models.base import Backend
from traitgate.probes.preference import build_prompts, run_preference
from traitgate.probes.result import ProbeResult
from traitgate.probes.schema import PreferenceSuite

# |z| above this for any candidate means the two measures disagree on this model (with 21
# candidates, a normal |z| > 3.5 happens with probability ~1%)
Z_LIMIT = 3.5


@dataclass(frozen=True)
class CandidateCheck:
    candidate: str
    exact: float  # mean over prompts of the exact rate
    sampled: float  # mean over prompts of the sampled rate (among answers naming one)
    se: float  # binomial SE of the sampled mean if the exact rates were the truth
    z: float


@dataclass(frozen=True)
class MeasureCheck:
    suite: str
    model: str
    samples: int
    candidates: tuple[CandidateCheck, ...]
    exact_covered: float  # mean probability on the forms
    sampled_named: float  # mean share of samples naming a candidate
    unformed: tuple[str, ...]  # commonest answers naming a candidate that no form begins
    rendered: str | None = None  # the first prompt as the model sees it (chat template)

    @property
    def agree(self) -> bool:
        return all(abs(c.z) <= Z_LIMIT for c in self.candidates)

    def lines(self) -> list[str]:
        out = [
            f"{self.model} on {self.suite}: exact vs sampled ({self.samples} samples per "
            "prompt), rate = share among answers naming a candidate",
            *([f"  prompt 1 as the model sees it: {self.rendered!r}"] if self.rendered else []),
            f"  {'candidate':<14} {'exact':>8} {'sampled':>8} {'SE':>8} {'z':>7}",
        ]
        for c in sorted(self.candidates, key=lambda c: -abs(c.z)):
            flag = "  <- disagree" if abs(c.z) > Z_LIMIT else ""
            out.append(
                f"  {c.candidate:<14} {c.exact:8.4f} {c.sampled:8.4f} {c.se:8.4f} {c.z:+7.2f}{flag}"
            )
        out.append(
            f"  covered: the forms carry {self.exact_covered:.1%} of the answers' probability; "
            f"{self.sampled_named:.1%} of sampled answers name a candidate"
        )
        if self.unformed:
            shown = ", ".join(repr(a) for a in self.unformed)
            out.append(f"  answers naming a candidate that no form begins: {shown}")
        verdict = (
            "agree: every |z| <= 3.5"
            if self.agree
            else "DISAGREE: the exact measure's forms miss how this model names candidates "
            "(add them to the suite's forms) or the model is not what the suite assumes; "
            "gate on measure: sampled until they agree"
        )
        out.append(f"  {verdict}")
        return out


def check_measures(
    suite: PreferenceSuite, backend: Backend, *, samples: int = 200, seed: int = 0
) -> MeasureCheck:
    """Run both measures of ``suite`` on ``backend`` (``samples`` answers per prompt) and
    compare them per candidate."""
    sampled_spec = suite.measures.sampled
    if sampled_spec is None or suite.measures.exact is None:
        raise ConfigError(f"probe {suite.id!r} needs both an exact and a sampled measure")
    more = sampled_spec.model_copy(update={"samples": samples})
    wider = suite.model_copy(
        update={"measures": suite.measures.model_copy(update={"sampled": more})}
    )
    exact = run_preference(wider, backend, "exact")
    sampled = run_preference(wider, backend, "sampled", seed=seed)
    check = compare_measures(wider, exact, sampled)
    render = getattr(backend, "render", None)  # local models: the text the tokenizer reads
    if callable(render):
        check = dataclasses.replace(check, rendered=str(render(build_prompts(wider)[0])))
    return check


def compare_measures(
    suite: PreferenceSuite, exact: ProbeResult, sampled: ProbeResult
) -> MeasureCheck:
    """Per candidate, the z score of the sampled mean rate against the exact one."""
    n = sampled.answers()  # answers naming a candidate, per prompt
    checks = []
    for cand in suite.candidates:
        e = exact.trait_rates(cand)
        s = sampled.trait_rates(cand)
        se = float(np.sqrt(np.sum(e * (1 - e) / n))) / len(n)
        diff = float(s.mean() - e.mean())
        z = diff / se if se > 0 else (0.0 if diff == 0 else float("inf"))
        checks.append(CandidateCheck(cand, float(e.mean()), float(s.mean()), se, z))
    assert exact.covered is not None
    assert sampled.covered is not None
    return MeasureCheck(
        suite=suite.id,
        model=exact.model,
        samples=int(sampled.samples or 0),
        candidates=tuple(checks),
        exact_covered=float(np.mean(exact.covered)),
        sampled_named=float(np.mean(sampled.covered)),
        unformed=tuple(sampled.examples.get("unformed", [])),
    )


__all__ = ["CandidateCheck", "MeasureCheck", "check_measures", "compare_measures"]
