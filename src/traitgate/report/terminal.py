"""The terminal summary: one row per gate, built from ``GateResult.to_dict()`` rows so the
same code renders results gathered from pytest-xdist workers."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

HEADERS = (
    "gate",
    "compare",
    "rate A (CI)",
    "rate B (CI)",
    "effect (CI)",
    "p (adj)",
    "test",
    "specificity",
    "verdict",
)


def _ci(pair: Sequence[float | None], fmt: str) -> str:
    low, high = pair
    if low is None or high is None or low != low:  # None in JSON, NaN in memory
        return ""
    return f" [{low:{fmt}}, {high:{fmt}}]"


def _arm(arm: Mapping[str, Any]) -> str:
    return f"{arm['rate']:.3f}{_ci(arm['ci'], '.3f')} n={len(arm['models'])}"


def _specificity(row: Mapping[str, Any]) -> str:
    spec = row.get("specificity")
    if not spec:
        return ""
    need = "^" if row.get("specific") == "top" else "*" if row.get("specific") else ""
    return f"{spec['rank']}/{spec['candidates']} p={spec['pvalue']:.2g}{need}"


def _row(row: Mapping[str, Any]) -> tuple[str, ...]:
    if "error" in row:
        return (row["gate"], "", "", "", "", "", "", "", "ERROR")
    a, b = row["arms"]
    test = row["method"].split(" (")[0]
    return (
        row["gate"],
        f"{a['role']} vs {b['role']}",
        _arm(a),
        _arm(b),
        f"{row['effect']:+.3f}{_ci(row['effect_ci'], '+.3f')}",
        f"{row['pvalue']:.2g} ({row['adjusted_pvalue']:.2g})",
        test,
        _specificity(row),
        "pass" if row["passed"] else "FAIL",
    )


def format_table(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """Lines of a plain-text table (no colour, so CI logs stay readable)."""
    body = [_row(r) for r in rows]
    widths = [max(len(h), *(len(r[i]) for r in body)) for i, h in enumerate(HEADERS)]

    def fmt(cells: Sequence[str]) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

    lines = [fmt(HEADERS), fmt(["-" * w for w in widths])]
    lines += [fmt(r) for r in body]
    for r in rows:
        if "error" in r:
            lines.append(f"{r['gate']}: {r['error']}")
    levels = sorted({r["ci_level"] for r in rows if r.get("ci_level")})
    if levels:
        lines.append(
            "CIs: two-sided at 1 - alpha (two-sided gates) or 1 - 2 alpha (one-sided gates, "
            "whose near end is the one-sided bound the test uses): "
            + ", ".join(f"{100 * v:.4g}%" for v in levels)
        )
    if any(r.get("specificity") for r in rows):
        lines.append(
            "specificity: the trait's rank among the suite's candidates by log-rate shift, and "
            "the p-value that it moved more than the others (* = p < alpha required to fail, "
            "^ = rank 1 required to fail)"
        )
    notes = sorted({r["note"] for r in rows if r.get("note")})
    lines += [f"note: {n}" for n in notes]
    return lines
