"""The HTML report: one self-contained page (inline SVG figures, no scripts, no network).

A scan first shows what moved: every candidate's effect and CI, ranked. Per gate: a bar
chart of each arm's trait rate with its CI (at the gate's level) and each model as a dot
(the layout of the published figures), and a per-prompt scatter of the comparator's rate
against the candidate's (points above the diagonal: prompts where the candidate names the
trait more often).
"""

from __future__ import annotations

import html
import io
import math
from collections.abc import Mapping
from typing import Any

from traitgate.report.results import Results
from traitgate.report.rows import GateRow, Row, ScanRow, explain_lines
from traitgate.report.terminal import HEADERS, table_parts

_CSS = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
h1 { font-size: 1.6em; margin-bottom: .2em; } h2 { font-size: 1.2em; margin-top: 2em; }
.pass { color: #1a7f37; font-weight: 600; } .fail { color: #c0392b; font-weight: 600; }
.error { color: #8e44ad; font-weight: 600; }
pre { background: #f6f8fa; padding: .8em; overflow-x: auto; font-size: 12px; }
.figs { display: flex; flex-wrap: wrap; gap: 1em; } .figs figure { margin: 0; }
figcaption { font-size: 12px; color: #555; max-width: 420px; }
table.meta td { padding: 0 1em 0 0; vertical-align: top; }
.scroll { overflow-x: auto; }
table.summary { border-collapse: collapse; font-size: 12px; white-space: nowrap; }
table.summary th, table.summary td { padding: .25em .7em; border-bottom: 1px solid #ddd;
  text-align: left; }
table.summary th { background: #f6f8fa; }
ul.notes { font-size: 12px; color: #444; }
"""

ROLE_COLOURS = {"model": "#c0392b", "base": "#7f8c8d", "control": "#2c7fb8"}


def render_html(results: Results) -> str:
    gates = list(results.get("gates", []))
    summary = results.get("summary", {})
    run = results.get("run", {})
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        "<title>traitgate report</title>",
        f"<style>{_CSS}</style></head><body>",
        "<h1>traitgate report</h1>",
        f"<p>{summary.get('gates', len(gates))} gate(s): "
        f"<span class='pass'>{summary.get('passed', 0)} passed</span>, "
        f"<span class='fail'>{summary.get('failed', 0)} failed</span>, "
        f"<span class='error'>{summary.get('errors', 0)} error(s)</span>. "
        f"Created {_e(results.get('created', ''))} by traitgate "
        f"{_e(results.get('traitgate_version', ''))}.</p>",
        _run_table(run),
        "<h2>Summary</h2>",
        _summary_table(gates) if gates else "<p>No gates.</p>",
    ]
    for row in gates:
        parts.append(_gate_section(row))
    parts.append("</body></html>\n")
    return "\n".join(parts)


def _summary_table(rows: list[Row]) -> str:
    """The terminal's summary as an HTML table (it scrolls sideways when narrow; nothing is
    cut off), each gate linking to its section, then the same footer lines."""
    body, footer = table_parts(rows)
    head = "".join(f"<th>{_e(h)}</th>" for h in HEADERS)
    trs = []
    for cells in body:
        verdict = cells[-1].strip().lower()
        css = "pass" if verdict == "pass" else "fail" if verdict == "fail" else "error"
        name = f"<a href='#{_e(cells[0])}'>{_e(cells[0])}</a>"
        tds = [name, *(_e(c) for c in cells[1:-1]), f"<span class='{css}'>{_e(cells[-1])}</span>"]
        trs.append("<tr>" + "".join(f"<td>{c}</td>" for c in tds) + "</tr>")
    notes = "".join(f"<li>{_e(line)}</li>" for line in footer)
    return (
        f"<div class='scroll'><table class='summary'><thead><tr>{head}</tr></thead>"
        f"<tbody>{''.join(trs)}</tbody></table></div>"
        + (f"<ul class='notes'>{notes}</ul>" if notes else "")
    )


def _run_table(run: Mapping[str, Any]) -> str:
    rows = []
    for key in ("seed", "device", "correction", "baseline", "judge"):
        if run.get(key) is not None:
            rows.append(f"<tr><td>{key}</td><td>{_e(run[key])}</td></tr>")
    for role, models in dict(run.get("models", {})).items():
        names = "<br>".join(
            f"{_e(m.get('model'))} <code>{_e(str(m.get('fingerprint', ''))[:16])}</code>"
            for m in models
        )
        rows.append(f"<tr><td>{_e(role)}</td><td>{names}</td></tr>")
    return f"<table class='meta'>{''.join(rows)}</table>" if rows else ""


def _gate_section(row: Row) -> str:
    name = _e(row["gate"])
    if "error" in row:
        error = _e(row["error"])
        return f"<h2 id='{name}'>{name} <span class='error'>ERROR</span></h2><pre>{error}</pre>"
    verdict = (
        "<span class='pass'>pass</span>" if row["passed"] else "<span class='fail'>FAIL</span>"
    )
    a, b = row["arms"]
    level = _level(row)
    lines = explain_lines(row)
    figures = [
        (
            _bars_svg(row),
            f"{row['trait']} rate per arm: bars are the arm's rate with its {level} CI, dots "
            "are individual models.",
        )
    ]
    if row.get("models") and row.get("prompts"):
        figures.append(
            (
                _scatter_svg(row),
                f"Per prompt: {b['role']} rate (x) against {a['role']} rate (y), each arm "
                "averaged over its models; the line is y = x.",
            )
        )
    moved = ""
    if "scan" in row:  # a scan: every candidate's effect first, the lead candidate's figures after
        scan = row["scan"]
        found = ", ".join(scan["discovered"]) or "nothing"
        moved = (
            f"<h3>What moved: {_e(found)}</h3><figure>{_moved_svg(scan)}<figcaption>Every "
            f"candidate's effect ({a['role']} - {b['role']}) with its {level} CI (not adjusted "
            f"for the scan), ranked; red: discovered (BH-adjusted p &lt; q {scan['q']}"
            f"{', effect at least min_effect' if scan['min_effect'] else ''}). Below, the lead "
            f"candidate ({_e(row['trait'])}) as a gate shows it.</figcaption></figure>"
        )
    figs = "".join(
        f"<figure>{svg}<figcaption>{_e(caption)}</figcaption></figure>" for svg, caption in figures
    )
    return (
        f"<h2 id='{name}'>{name} {verdict}</h2>{moved}"
        f"<pre>{_e(chr(10).join(lines))}</pre><div class='figs'>{figs}</div>"
    )


def _level(row: GateRow) -> str:
    return f"{100 * float(row['ci_level']):.4g}%"


def _bars_svg(row: GateRow) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    arms = row["arms"]
    fig, ax = plt.subplots(figsize=(4.2, 3.2))
    try:
        for x, arm in enumerate(arms):
            colour = ROLE_COLOURS.get(arm["role"], "#555555")
            low, high = arm["ci"]
            err = None
            rate = math.nan if arm["rate"] is None else arm["rate"]
            if low is not None and high is not None and not (math.isnan(low) or math.isnan(high)):
                err = [[rate - low], [high - rate]]
            ax.bar(x, rate, width=0.6, color=colour, alpha=0.35, edgecolor=colour)
            if err is not None:
                ax.errorbar(x, rate, yerr=err, color="black", capsize=6, lw=1.2)
            rates = np.asarray(
                [math.nan if r is None else r for r in arm["model_rates"]], dtype=float
            )
            if len(rates) > 1:
                jitter = np.linspace(-0.15, 0.15, len(rates))
                ax.scatter(x + jitter, rates, color=colour, s=18, zorder=3, edgecolor="white")
        ax.set_xticks(range(len(arms)))
        ax.set_xticklabels([f"{a['role']}\n(n={len(a['models'])})" for a in arms])
        ax.set_ylabel(f"P({row['trait']})" if row["measure"] == "exact" else "rate")
        ax.set_ylim(bottom=0)
        ax.set_title(row["gate"], fontsize=10)
        ax.spines[["top", "right"]].set_visible(False)
        fig.tight_layout()
        return _svg(fig)
    finally:
        plt.close(fig)


def _scatter_svg(row: GateRow) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    a_role, b_role = row["compare"]
    per_role = {
        role: np.mean(
            [
                [math.nan if r is None else r for r in m["prompt_rates"]]
                for m in row.get("models", [])
                if m["role"] == role
            ],
            axis=0,
        )
        for role in (a_role, b_role)
    }
    x, y = per_role[b_role], per_role[a_role]
    fig, ax = plt.subplots(figsize=(3.6, 3.4))
    try:
        top = float(max(x.max(), y.max(), 1e-6)) * 1.08
        ax.plot([0, top], [0, top], color="#999999", lw=1, zorder=1)
        ax.scatter(x, y, s=16, color=ROLE_COLOURS.get(a_role, "#555555"), zorder=2)
        ax.set_xlim(0, top)
        ax.set_ylim(0, top)
        ax.set_xlabel(f"{b_role} rate")
        ax.set_ylabel(f"{a_role} rate")
        ax.set_title(f"{len(x)} prompts", fontsize=10)
        ax.spines[["top", "right"]].set_visible(False)
        fig.tight_layout()
        return _svg(fig)
    finally:
        plt.close(fig)


def _moved_svg(scan: ScanRow) -> str:
    """A forest plot: one row per candidate (ranked as the scan ranks them), its effect and
    CI; discoveries in red; lines at 0 and at the scan's min_effect."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = scan["candidates"]
    several = len({c["probe"] for c in rows}) > 1
    fig, ax = plt.subplots(figsize=(6.4, 0.8 + 0.24 * len(rows)))
    try:
        for y, c in enumerate(rows):
            colour = "#c0392b" if c["discovered"] else "#7f8c8d"
            effect = math.nan if c["effect"] is None else c["effect"]
            low, high = (math.nan if v is None else v for v in c["effect_ci"])
            ax.plot([low, high], [y, y], color=colour, lw=1.4)
            ax.scatter([effect], [y], color=colour, s=18, zorder=3)
        ax.axvline(0, color="#999999", lw=1)
        if scan["min_effect"]:
            sign = -1 if scan["alternative"] == "less" else 1
            ax.axvline(sign * scan["min_effect"], color="#c0392b", lw=0.8, ls="--")
        ax.set_yticks(range(len(rows)))
        ax.set_yticklabels(
            [f"{c['probe']}/{c['candidate']}" if several else c["candidate"] for c in rows],
            fontsize=8,
        )
        ax.invert_yaxis()
        ax.set_xlabel(f"effect: {' - '.join(scan['compare'])} rate")
        ax.spines[["top", "right"]].set_visible(False)
        fig.tight_layout()
        return _svg(fig)
    finally:
        plt.close(fig)


def _svg(fig: Any) -> str:
    import matplotlib

    buffer = io.StringIO()
    # no date and fixed element ids: the same results render to the same page
    with matplotlib.rc_context({"svg.hashsalt": "traitgate"}):
        fig.savefig(buffer, format="svg", metadata={"Date": None})
    text = buffer.getvalue()
    return text[text.index("<svg") :]  # drop the XML prolog and doctype: inline in HTML


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


__all__ = ["render_html"]
