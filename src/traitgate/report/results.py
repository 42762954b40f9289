"""The results file: every number of the summary, per-model and per-prompt rates, and the
models' fingerprints, as one JSON document that the HTML report is rendered from.

Rows are ``GateResult.to_dict()`` (or ``{"gate", "error"}``), the same rows the terminal
table is built from, so a results file gathered from pytest-xdist workers is complete.
"""

from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from traitgate._io import atomic_write_text
from traitgate.errors import ConfigError

FORMAT = 1
RESULTS_NAME = "results.json"
HTML_NAME = "report.html"


def build_results(
    rows: Sequence[Mapping[str, Any]], run: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The results document: ``run`` describes the session (seed, models, ...)."""
    from traitgate import __version__

    failed = sum(1 for r in rows if "error" not in r and not r["passed"])
    errors = sum(1 for r in rows if "error" in r)
    return {
        "traitgate_results": FORMAT,
        "traitgate_version": __version__,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "run": dict(run or {}),
        "summary": {
            "gates": len(rows),
            "passed": len(rows) - failed - errors,
            "failed": failed,
            "errors": errors,
        },
        "gates": [dict(r) for r in rows],
    }


def load_results(path: Path) -> dict[str, Any]:
    """Read a results file written by :func:`write_report` (one-line errors)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror})") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}:{exc.lineno}: not valid JSON ({exc.msg})") from None
    if not isinstance(data, dict) or data.get("traitgate_results") != FORMAT:
        raise ConfigError(
            f"{path}: not a traitgate results file (format {FORMAT}; expected a "
            "traitgate_results field)"
        )
    gates = data.get("gates")
    if not isinstance(gates, list) or not all(
        isinstance(g, dict) and "gate" in g and ("error" in g or "arms" in g) for g in gates
    ):
        raise ConfigError(f"{path}: gates: expected a list of gate results")
    return data


def write_report(directory: Path, results: Mapping[str, Any]) -> tuple[Path, Path]:
    """Write ``results.json`` and ``report.html`` into ``directory`` (each atomically)."""
    from traitgate.report.html import render_html

    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise ConfigError(f"--report {directory}: exists and is not a directory")
    json_path, html_path = directory / RESULTS_NAME, directory / HTML_NAME
    atomic_write_text(json_path, json.dumps(results, indent=1, allow_nan=False) + "\n")
    atomic_write_text(html_path, render_html(results))
    return json_path, html_path


__all__ = ["build_results", "load_results", "write_report"]
