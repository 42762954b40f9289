"""The terminal summary: one row per gate, built from ``GateResult.to_dict()`` rows so the
same code renders results gathered from pytest-xdist workers."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

HEADERS = (
    "gate",
    "compare",
    "rate A (95% CI)",
    "rate B (95% CI)",
    "effect",
    "p (adj)",
    "test",
    "verdict",
)


def _arm(arm: Mapping[str, Any]) -> str:
    low, high = arm["ci"]
    ci = "" if low != low else f" [{low:.3f}, {high:.3f}]"  # NaN check
    return f"{arm['rate']:.3f}{ci} n={len(arm['models'])}"


def _row(row: Mapping[str, Any]) -> tuple[str, ...]:
    if "error" in row:
        return (row["gate"], "", "", "", "", "", "", "ERROR")
    a, b = row["arms"]
    test = row["method"].split(" (")[0]
    return (
        row["gate"],
        f"{a['role']} vs {b['role']}",
        _arm(a),
        _arm(b),
        f"{row['effect']:+.3f}",
        f"{row['pvalue']:.2g} ({row['adjusted_pvalue']:.2g})",
        test,
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
    notes = sorted({r["note"] for r in rows if r.get("note")})
    lines += [f"note: {n}" for n in notes]
    return lines
