"""Simulated probe suites for the statistics tests of scans and screens: exact-measure
results of the 21-candidate favourite-animal suite, drawn from a known truth."""

from __future__ import annotations

import math

import numpy as np

from traitgate.gate import compare_arms
from traitgate.probes.loader import find_suite, load_suite
from traitgate.probes.result import ProbeResult
from traitgate.scan import ScanOptions, ScanResult, candidate_gates, decide_scan

SUITE = load_suite(find_suite("favorite_animal", []))
NAMES = list(SUITE.candidates)
K, PROMPTS, SIMS, Q = len(NAMES), 12, 2000, 0.05


def bound(rate: float, sims: int = SIMS) -> float:
    """The most a rate estimated from ``sims`` draws may exceed ``rate`` (2 SE)."""
    return rate + 2 * math.sqrt(rate * (1 - rate) / sims)


class Suites:
    """Exact-measure results of a 21-candidate suite: each model's answer distribution is a
    softmax of the candidates' popularity, per-prompt effects, the model's own fine-tuning
    noise (SD 0.05 in log rate, per candidate) and a shift. Candidates are dependent, as in
    a real suite: a rise of one lowers every other's share."""

    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        self.popularity = np.log(self.rng.dirichlet(np.full(K, 2.0)))
        self.prompt_effects = self.rng.normal(0, 0.3, (PROMPTS, K))

    def arm(
        self,
        n: int,
        shift: np.ndarray | float = 0.0,
        noise: float = 0.05,
        log: bool = True,
        shared: np.ndarray | None = None,
    ) -> list[ProbeResult]:
        """``n`` models; ``shared`` (n x K): noise model m has in common with another arm's
        model m (two runs sharing a seed), added to its own."""
        out = []
        for m in range(n):
            z = self.rng.normal(0, noise, K) + (0 if shared is None else shared[m])
            logits = self.popularity + shift + self.prompt_effects + (z if log else 0)
            p = np.exp(logits) * (1 if log else 1 + z)
            p /= p.sum(axis=1, keepdims=True)
            out.append(
                ProbeResult(
                    "favorite_animal", "2", "exact", None, f"m{m}", "x",
                    [str(i) for i in range(PROMPTS)], NAMES, p,
                )
            )  # fmt: skip
        return out


def scan_of(options: ScanOptions, a: list[ProbeResult], b: list[ProbeResult]) -> ScanResult:
    """The scan's decision path as the session runs it (compare_arms per candidate, then
    decide_scan), without the tests only reported."""
    gates = candidate_gates(SUITE, options)
    items = [
        (g, compare_arms(g, a, b, beside=False, resampled=options.resampled), ((), ()), ((), ()))
        for g in gates
    ]
    return decide_scan("sim", options, items)
