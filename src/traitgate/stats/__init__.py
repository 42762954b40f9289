"""Statistics for comparing trait rates between models (scipy-based, scipy-shaped results).

**The unit of analysis is the fine-tuned model.** Two models fine-tuned alike differ by more
than their prompts' sampling noise, so a test that treats prompts (or samples) of one model
per arm as independent draws mistakes fine-tuning noise for an effect. :func:`compare` picks
the decision test from how many models each arm has and whether an arm is a fixed
reference (the base model, which is not a draw from the fine-tuned models' distribution):

=============================  =====================================================
design (``Comparison.design``)  decision test (``method``)
=============================  =====================================================
``replicates``: ≥ 2 vs ≥ 2     pooled Student t on per-model rates, df n_a + n_b - 2.
                               Reported: exact permutation p over models, Mann-Whitney.
``resampled``: ≥ 2 vs ≥ 2,     pooled t with each arm's mean given the variance of
each model trained on its own  s²(1 + 1/n): the arm's dataset's own sampling variance
bootstrap resample             (which the resamples' spread bounds) plus the runs'.
                               For the data's source, not the datasets in hand.
                               Reported: the pooled t above (the datasets as given).
``vs-fixed``: k vs 1 base      one-sample t of the k models against the base's rate,
                               df k - 1 (the base's sampling variance added, if any).
``prediction``: 1 vs k         prediction-interval t: is the single fine-tuned model
                               one more draw from the k replicates? df k - 1.
``single``: 1 vs 1             Satterthwaite t of the rate difference with the
                               fine-tuning noise between checkpoints (``ModelNoise``):
                               var = m·sd² + var(per-prompt differences)/prompts, m = 2
                               (1 with a fixed base). Without a noise estimate: an error.
                               Reported: per-prompt sign-flip, Wilcoxon, pooled Fisher
                               (all conditional on the two checkpoints).
=============================  =====================================================

Every rate is a per-prompt mean first (prompts are clusters of samples), then a per-model
mean. ``alternative="greater"`` means arm *a* has the higher rate. Results hold data only
(picklable, comparable); intervals are computed on demand. STATISTICS.md has the formulas.
"""

from __future__ import annotations

from traitgate.stats._core import (
    SINGLE_NOTE,
    Alternative,
    ArmSummary,
    Comparison,
    Correction,
    Design,
    Floats,
    Interval,
    ModelNoise,
    PairedMethod,
    TestResult,
    decision_level,
)
from traitgate.stats.across import (
    mann_whitney_test,
    noise_test,
    one_sample_test,
    permutation_floor,
    permutation_test_models,
    prediction_test,
    resampled_test,
    specificity_test,
    student_test,
    welch_test,
)
from traitgate.stats.comparison import compare
from traitgate.stats.corrections import adjust, benjamini_hochberg, holm
from traitgate.stats.intervals import summarise_arm, t_interval, wilson_interval
from traitgate.stats.power import Calibration, calibrate, model_rate_sd, power, required_n
from traitgate.stats.within import (
    fisher_pooled_test,
    mcnemar_test,
    paired_t_test,
    sign_flip_test,
    wilcoxon_test,
)

__all__ = [
    "SINGLE_NOTE",
    "Alternative",
    "ArmSummary",
    "Calibration",
    "Comparison",
    "Correction",
    "Design",
    "Floats",
    "Interval",
    "ModelNoise",
    "PairedMethod",
    "TestResult",
    "adjust",
    "benjamini_hochberg",
    "calibrate",
    "compare",
    "decision_level",
    "fisher_pooled_test",
    "holm",
    "mann_whitney_test",
    "mcnemar_test",
    "model_rate_sd",
    "noise_test",
    "one_sample_test",
    "paired_t_test",
    "permutation_floor",
    "permutation_test_models",
    "power",
    "prediction_test",
    "required_n",
    "resampled_test",
    "sign_flip_test",
    "specificity_test",
    "student_test",
    "summarise_arm",
    "t_interval",
    "welch_test",
    "wilcoxon_test",
    "wilson_interval",
]
