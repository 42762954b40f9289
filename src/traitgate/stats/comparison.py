"""The comparison of two arms: the decision test chosen by the design (see the package
docstring), with the other tests reported."""

from __future__ import annotations

import dataclasses
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike

from traitgate.stats._core import (
    SINGLE_NOTE,
    Alternative,
    Comparison,
    Design,
    ModelNoise,
    PairedMethod,
    TestResult,
    _as_2d,
    _check_level,
    _model_rates,
    _need,
    _reference_variance,
    _rounding_variance,
)
from traitgate.stats.across import (
    mann_whitney_test,
    noise_test,
    one_sample_test,
    permutation_test_models,
    prediction_test,
    resampled_test,
    student_test,
)
from traitgate.stats.intervals import _summarise
from traitgate.stats.within import fisher_pooled_test, sign_flip_test, wilcoxon_test


def compare(
    a: ArrayLike,
    b: ArrayLike,
    alternative: Alternative = "two-sided",
    *,
    fixed: Literal["a", "b"] | None = None,
    noise: ModelNoise | None = None,
    counts_a: tuple[ArrayLike, ArrayLike] | None = None,
    counts_b: tuple[ArrayLike, ArrayLike] | None = None,
    paired_method: PairedMethod = "permutation",
    confidence_level: float = 0.95,
    seed: int = 0,
    beside: bool = True,
    resampled: bool = False,
) -> Comparison:
    """Compare the trait rate of arm ``a`` with arm ``b``.

    ``a`` and ``b`` are per-prompt rates of shape (models, prompts). ``fixed`` names an
    arm that is a fixed reference model (the base): with one model there it is tested with
    the one-sample t, not as a draw. ``noise`` is the fine-tuning noise between checkpoints,
    required with one model per arm. ``counts_*`` are per-prompt (hits, samples) of the
    sampled measure, shape (models, prompts): per-model rates are then exact ratios of
    integer totals (equal counts give equal rates), the base's binomial variance enters the
    one-sample t, and one model per arm reports the pooled Fisher test. ``beside=False``
    skips the tests reported beside the decision (the decision is the same; for simulations).
    ``resampled``: each model was fine-tuned on its own bootstrap resample of its arm's
    data; with two or more models per arm the decision is :func:`resampled_test` (design
    ``resampled``), the plain pooled t reported beside it.
    """
    x, y = _as_2d(a), _as_2d(b)
    ma, mb = _model_rates(x, counts_a), _model_rates(y, counts_b)
    floor = max(_rounding_variance(x, counts_a), _rounding_variance(y, counts_b))
    _check_level(confidence_level)
    arm_a, arm_b = _summarise(x, ma, confidence_level), _summarise(y, mb, confidence_level)

    def made(test: TestResult, reported: tuple[TestResult, ...], design: Design) -> Comparison:
        return Comparison(test, reported, design, arm_a, arm_b, noise=noise)

    if resampled:  # (refused with fewer than two models per arm)
        test = resampled_test(ma, mb, alternative, floor=floor)
        fixed_data = (student_test(ma, mb, alternative, floor=floor),) if beside else ()
        return made(test, fixed_data, "resampled")
    if x.shape[0] >= 2 and y.shape[0] >= 2:
        reported = (
            (
                permutation_test_models(ma, mb, alternative, seed=seed),
                mann_whitney_test(ma, mb, alternative),
            )
            if beside
            else ()
        )
        return made(student_test(ma, mb, alternative, floor=floor), reported, "replicates")
    single_side = "a" if x.shape[0] == 1 else "b"
    if x.shape[0] >= 2 or y.shape[0] >= 2:
        if fixed == single_side:
            counts = counts_a if fixed == "a" else counts_b
            ref_var = _reference_variance(counts)
            test = one_sample_test(ma, mb, alternative, reference_variance=ref_var, floor=floor)
            return made(test, (), "vs-fixed")
        cmp = made(prediction_test(ma, mb, alternative, floor=floor), (), "prediction")
        if max(x.shape[0], y.shape[0]) < 3:
            note = "only two replicates: the prediction test has one degree of freedom"
            cmp = dataclasses.replace(cmp, note=note)
        return cmp
    _need(x.shape[1] == y.shape[1], "one model per arm needs the same prompts in both arms")
    _need(
        noise is not None,
        "one model per arm: the fine-tuning noise between checkpoints is unknown, so no "
        "test can hold its level; state model_sd (the SD of replicate models' rates) or "
        "give replicates",
    )
    assert noise is not None
    decision = noise_test(x[0], y[0], alternative, noise=noise, fixed=fixed is not None)
    if not beside:
        return Comparison(decision, (), "single", arm_a, arm_b, SINGLE_NOTE, noise)
    paired = {
        "permutation": sign_flip_test(x[0], y[0], alternative, seed=seed),
        "wilcoxon": wilcoxon_test(x[0], y[0], alternative, seed=seed),
    }
    others: list[TestResult] = [paired[paired_method]]
    others += [t for k, t in paired.items() if k != paired_method]
    if counts_a is not None and counts_b is not None:
        ka, na = (int(np.sum(v)) for v in counts_a)
        kb, nb = (int(np.sum(v)) for v in counts_b)
        others.append(fisher_pooled_test(ka, na, kb, nb, alternative))
    return Comparison(decision, tuple(others), "single", arm_a, arm_b, SINGLE_NOTE, noise)
