"""Multiple-testing corrections across a session's gates: Holm and Benjamini-Hochberg."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats as st

from traitgate.stats._core import Correction, Floats, _as_1d


def holm(pvalues: ArrayLike) -> Floats:
    """Holm-Bonferroni adjusted p-values (controls the family-wise error rate)."""
    p = _as_1d(pvalues)
    m = p.size
    if m == 0:
        return p
    order = np.argsort(p, kind="stable")
    scaled = (m - np.arange(m)) * p[order]
    adjusted = np.minimum(1.0, np.maximum.accumulate(scaled))
    out = np.empty(m)
    out[order] = adjusted
    return out


def benjamini_hochberg(pvalues: ArrayLike) -> Floats:
    """Benjamini-Hochberg adjusted p-values (controls the false discovery rate)."""
    p = _as_1d(pvalues)
    if p.size == 0:
        return p
    return np.asarray(st.false_discovery_control(p, method="bh"), dtype=float)


def adjust(pvalues: ArrayLike, method: Correction = "holm") -> Floats:
    if method == "holm":
        return holm(pvalues)
    if method == "bh":
        return benjamini_hochberg(pvalues)
    if method == "none":
        return _as_1d(pvalues)
    raise ValueError(f"unknown correction {method!r} (holm, bh or none)")
