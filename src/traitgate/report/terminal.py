"""The terminal summary: one line per gate, built from gate rows (:mod:`.rows`) so the
same code renders results gathered from pytest-xdist workers."""

from __future__ import annotations

from collections.abc import Sequence

from traitgate.report.rows import ArmRow, GateRow, Number, Row, split

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


def _ci(pair: Sequence[Number], fmt: str) -> str:
    low, high = pair
    if low is None or high is None or low != low:  # None in JSON, NaN in memory
        return ""
    return f" [{low:{fmt}}, {high:{fmt}}]"


def _arm(arm: ArmRow) -> str:
    return f"{_num(arm['rate'], '.3f')}{_ci(arm['ci'], '.3f')} n={len(arm['models'])}"


def _num(value: Number, fmt: str) -> str:
    return "nan" if value is None else format(value, fmt)


def _specificity(row: GateRow) -> str:
    spec = row["specificity"]
    if not spec:
        return ""
    need = "^" if row["specific"] == "top" else "*" if row["specific"] else ""
    return f"{spec['rank']}/{spec['candidates']} p={_num(spec['pvalue'], '.2g')}{need}"


def _row(row: Row) -> tuple[str, ...]:
    if "error" in row:
        return (row["gate"], "", "", "", "", "", "", "", "ERROR")
    a, b = row["arms"]
    test = row["method"].split(" (")[0]
    if "scan" in row:  # the rates and effect are the lead candidate's
        scan = row["scan"]
        test = f"scan: {len(scan['discovered'])}/{scan['tested']} moved (BH), lead {row['trait']}"
    return (
        row["gate"],
        f"{a['role']} vs {b['role']}",
        _arm(a),
        _arm(b),
        f"{_num(row['effect'], '+.3f')}{_ci(row['effect_ci'], '+.3f')}",
        f"{_num(row['pvalue'], '.2g')} ({_num(row['adjusted_pvalue'], '.2g')})",
        test,
        _specificity(row),
        "pass" if row["passed"] else "FAIL",
    )


def format_table(rows: Sequence[Row]) -> list[str]:
    """Lines of a plain-text table (no colour, so CI logs stay readable), then the errors,
    the interval levels, the specificity legend and every distinct note (with its gates)."""
    body, footer = table_parts(rows)
    widths = [max(len(h), *(len(r[i]) for r in body)) for i, h in enumerate(HEADERS)]

    def fmt(cells: Sequence[str]) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

    return [fmt(HEADERS), fmt(["-" * w for w in widths]), *map(fmt, body), *footer]


def table_parts(rows: Sequence[Row]) -> tuple[list[tuple[str, ...]], list[str]]:
    """The summary table's cells (one list per gate, in HEADERS' order) and the lines after
    it: the errors, the interval levels, the specificity legend and every distinct note
    (the terminal and the HTML report show the same)."""
    body = [_row(r) for r in rows]
    gates, errors = split(rows)
    footer = [f"{r['gate']}: {r['error']}" for r in errors]
    levels = sorted({r["ci_level"] for r in gates})
    if levels:
        footer.append(
            "CIs: two-sided at 1 - alpha (two-sided gates) or 1 - 2 alpha (one-sided gates, "
            "whose near end is the one-sided bound the test uses): "
            + ", ".join(f"{100 * v:.4g}%" for v in levels)
        )
    if any(r["specificity"] for r in gates):
        footer.append(
            "specificity: the trait's rank among the suite's candidates by log-rate shift, and "
            "the p-value that it moved more than the others (* = p < alpha required to fail, "
            "^ = rank 1 required to fail)"
        )
    footer += _notes(gates)
    return body, footer


def _notes(gates: Sequence[GateRow]) -> list[str]:
    """Every distinct note once, with the gates it concerns (a note of one probe's
    measure, say, is not every gate's)."""
    holders: dict[str, dict[str, None]] = {}  # (dicts as ordered sets)
    for row in gates:
        for note in row["notes"]:
            holders.setdefault(note, {})[row["gate"]] = None
    every = len({row["gate"] for row in gates})
    return [
        f"note: {note}" if len(names) == every else f"note ({', '.join(names)}): {note}"
        for note, names in sorted(holders.items())
    ]
