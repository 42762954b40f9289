"""Multiple-testing corrections across a session's gates: Holm and Benjamini-Hochberg."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from traitgate.stats._core import Correction, Floats, _as_1d, _need


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
    """Benjamini-Hochberg adjusted p-values (controls the false discovery rate): the i-th
    smallest p times m/i, then the running minimum from the largest down. The arithmetic
    of scipy.stats.false_discovery_control (equal bit for bit, tests/test_stats.py)
    without its per-call overhead: scans and their simulations adjust thousands of times."""
    p = _as_1d(pvalues)
    _need(bool(np.all((p >= 0) & (p <= 1))), "p-values must be between 0 and 1")
    m = p.size
    if m <= 1:
        return p
    order = np.argsort(p)
    scaled = p[order] * (m / np.arange(1, m + 1, dtype=float))
    out = np.empty(m)
    out[order] = np.minimum.accumulate(scaled[::-1])[::-1]
    return np.asarray(np.clip(out, 0.0, 1.0))


def adjust(pvalues: ArrayLike, method: Correction = "holm") -> Floats:
    if method == "holm":
        return holm(pvalues)
    if method == "bh":
        return benjamini_hochberg(pvalues)
    if method == "none":
        return _as_1d(pvalues)
    raise ValueError(f"unknown correction {method!r} (holm, bh or none)")
