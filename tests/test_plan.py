"""The power planner, checked against simulated studies run through the real decision test."""

from __future__ import annotations

import math

import numpy as np
import pytest

from traitgate.cli import main
from traitgate.planner import PlanRow, plan
from traitgate.stats import compare

SIMS = 1000
ALPHA = 0.01


def simulate(
    row: PlanRow,
    replicates: int,
    effect: float,
    *,
    base: float,
    model_sd: float,
    interaction_sd: float,
    seed: int,
) -> float:
    """Share of simulated studies in which compare() rejects at ALPHA (greater)."""
    rng = np.random.default_rng(seed)
    rejections = 0
    for _ in range(SIMS):
        arms = []
        for rate in (base + effect, base):
            offsets = rng.normal(0, model_sd, size=(replicates, 1))
            interaction = rng.normal(0, interaction_sd, size=(replicates, row.prompts))
            p = np.clip(rate + offsets + interaction, 0, 1)
            if row.samples is not None:
                p = rng.binomial(row.samples, p) / row.samples
            arms.append(p)
        rejections += compare(arms[0], arms[1], "greater").pvalue < ALPHA
    return rejections / SIMS


@pytest.mark.parametrize("which", [0, 1])  # the exact measure and sampled x25
def test_planned_replicates_reach_the_target_power_and_one_fewer_does_not(which: int) -> None:
    settings = {"base": 0.10, "model_sd": 0.01, "interaction_sd": 0.02}
    rows = plan(
        0.04, 0.10, prompts=20, candidate_forms=30, model_sd=0.01, interaction_sd=0.02,
        samples=(25,), alpha=ALPHA, target_power=0.8,
    )  # fmt: skip
    row = rows[which]
    assert row.measure == ("exact" if which == 0 else "sampled")
    se = math.sqrt(0.8 * 0.2 / SIMS)
    achieved = simulate(row, row.replicates, 0.04, seed=1, **settings)
    assert achieved >= 0.8 - 3 * se, (row, achieved)
    if row.replicates > 2:
        fewer = simulate(row, row.replicates - 1, 0.04, seed=2, **settings)
        assert fewer < 0.8 + 3 * se, (row, fewer)
    # the decision test the plan relies on holds its level at that design
    null = simulate(row, row.replicates, 0.0, seed=3, **settings)
    assert null <= ALPHA + 3 * math.sqrt(ALPHA * (1 - ALPHA) / SIMS), null


def test_sampling_noise_costs_replicates_and_the_exact_measure_has_none() -> None:
    rows = plan(0.02, 0.1, prompts=30, candidate_forms=40, model_sd=0.0, samples=(10, 100))
    exact, s10, s100 = rows
    assert exact.samples is None and exact.replicates == 2 and exact.power == 1.0
    assert s10.replicates > s100.replicates >= 2
    # root mean square of the two arms' binomial noise (0.10 and 0.12)
    assert s10.rate_sd == pytest.approx(math.sqrt((0.1 * 0.9 + 0.12 * 0.88) / 2 / 10 / 30))
    assert exact.sequences == 2 * 2 * 30 * 40


def test_impossible_requests_are_errors() -> None:
    with pytest.raises(ValueError, match="alternative"):
        plan(-0.05, 0.1, prompts=10, candidate_forms=10, model_sd=0.01)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        plan(0.5, 0.7, prompts=10, candidate_forms=10, model_sd=0.01)


def test_plan_command(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["plan", "--probe", "favorite_animal", "--effect", "0.05", "--base-rate", "0.12"])
    out = capsys.readouterr().out
    assert code == 0
    assert "probe favorite_animal v2" in out and "sd 0.01" in out
    lines = [line for line in out.splitlines() if line.startswith(("exact", "sampled"))]
    assert len(lines) == 5 and lines[0].split()[1] == "36"  # the suite's 36 prompts
    assert (
        main(["plan", "--probe", "favorite_animal", "--effect", "-0.1", "--base-rate", "0.1"]) == 2
    )
    assert "plan: effect -0.1 cannot be detected" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("effect", "base", "model_sd", "interaction_sd", "prompts", "which"),
    [
        (0.03, 0.10, 0.012, 0.02, 20, 0),  # exact
        (0.03, 0.10, 0.012, 0.02, 20, 1),  # sampled x25
        (0.05, 0.12, 0.01, 0.0, 36, 0),  # the README's row: exact, 3 replicates, 0.94
    ],
)
def test_printed_power_is_within_0_02_of_the_simulated_decision_test(
    effect: float, base: float, model_sd: float, interaction_sd: float, prompts: int, which: int
) -> None:
    """10,000 simulated studies per row through stats.compare (the pooled t the replicate
    gates decide with). Sampling noise is drawn independently per model, as the planner
    assumes; traitgate's common random numbers cancel part of it, so real sampled studies
    have at least this power."""
    rows = plan(
        effect, base, prompts=prompts, candidate_forms=30, model_sd=model_sd,
        interaction_sd=interaction_sd, samples=(25,), alpha=ALPHA, target_power=0.8,
    )  # fmt: skip
    row = rows[which]
    rng = np.random.default_rng(60 + which)
    sims, rejections = 10_000, 0
    for _ in range(sims):
        arms = []
        for rate in (base + effect, base):
            p = rate + rng.normal(0, model_sd, (row.replicates, 1))
            p = np.clip(p + rng.normal(0, interaction_sd, (row.replicates, row.prompts)), 0, 1)
            if row.samples is not None:
                p = rng.binomial(row.samples, p) / row.samples
            arms.append(p)
        rejections += compare(arms[0], arms[1], "greater", beside=False).pvalue < ALPHA
    assert abs(rejections / sims - row.power) < 0.02, (row, rejections / sims)
    if prompts == 36:
        assert (row.replicates, round(row.power, 2)) == (3, 0.94)
