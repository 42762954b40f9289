"""The MLP known-positive for the replicate statistics: students sharing the teacher's
initialisation learn to classify digits from auxiliary logits on noise; students from another
initialisation do not. One accuracy per seed; the seed (model) is the unit of analysis."""

from __future__ import annotations

import numpy as np
import pytest

from traitgate import stats
from traitgate.distill.mlp import MLPConfig, run

pytest.importorskip("sklearn", reason="scikit-learn ships the digits data set")


@pytest.mark.slow
def test_shared_initialisation_transfers_and_the_statistics_see_it() -> None:
    result = run(range(4), MLPConfig(hidden=256, teacher_steps=300, student_steps=1500))
    assert min(result.teacher) > 0.9
    same, other = np.array(result.same_init), np.array(result.different_init)
    comparison = stats.compare(same[:, None], other[:, None], "greater")
    assert comparison.design == "replicates"
    assert comparison.pvalue < 1e-3, comparison
    assert comparison.effect > 0.25
    # a null built from the same experiment: different-init students split in two halves
    # of one population cannot be told apart at alpha = 0.01
    assert stats.compare(other[:2, None], other[2:, None]).pvalue > 0.01
