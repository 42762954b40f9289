"""A gate: one comparison of a trait between two roles, and its verdict.

A gate fails when all of these hold, and passes otherwise:

1. the shift is significant: the decision test's p-value, adjusted across the session's
   gates, is below ``alpha`` (in the direction of ``alternative``);
2. the observed effect is at least ``min_effect`` in that direction;
3. with ``specific: true`` (preference probes), the trait moved more than the suite's
   other candidates: the specificity p-value is below ``alpha`` too; with ``specific:
   top``, the trait is the candidate that moved most (rank 1), tested or not.

What this promises: with no true shift, a gate fails with probability at most ``alpha``
(condition 1 alone holds that). When the true effect equals ``min_effect``, the observed
effect is at least ``min_effect`` about half the time (the estimate is unbiased and
symmetric), so such a gate fails with probability at most about one half: ``min_effect`` is
the size of shift the gate ignores, not one it is sure to catch. Use ``traitgate plan`` for
the effect it catches with a given power. With ``specific: true``, a generic shift that moves
every candidate alike fails the gate with probability at most ``alpha`` (an
intersection-union test: each condition is tested at ``alpha``, no correction needed).
``specific: top`` adds a condition without a test: it can only lower the false-positive
rate, and is for suites whose other candidates move too much under any fine-tuning for the
specificity test to reach ``alpha`` (the zoo: owl ranks first with specificity p = 0.024).
"""

from __future__ import annotations

from traitgate.gate.decide import compare_arms, decide, decide_all, specificity_of
from traitgate.gate.result import LOW_COVERAGE, Evidence, GateResult, Specificity
from traitgate.gate.spec import (
    MIN_SPECIFICITY_CANDIDATES,
    SCAN_TRAIT,
    Gate,
    GateSpec,
    Requirements,
    build_gate,
    load_gate_file,
)
from traitgate.report.rows import strict_json
from traitgate.roles import ROLES, Role

__all__ = [
    "LOW_COVERAGE",
    "MIN_SPECIFICITY_CANDIDATES",
    "ROLES",
    "SCAN_TRAIT",
    "Evidence",
    "Gate",
    "GateResult",
    "GateSpec",
    "Requirements",
    "Role",
    "Specificity",
    "build_gate",
    "compare_arms",
    "decide",
    "decide_all",
    "load_gate_file",
    "specificity_of",
    "strict_json",
]
