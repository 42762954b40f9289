"""The results file: every number of the summary, per-model and per-prompt rates, and the
models' fingerprints, as one JSON document that the HTML report is rendered from.

Rows are gate rows (:mod:`traitgate.report.rows`: ``GateResult.to_dict()``, or
``{"gate", "error"}``), the same rows the terminal table is built from, so a results file
gathered from pytest-xdist workers is complete. The document is a :class:`Results`.
"""

from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypedDict, cast

from traitgate._io import atomic_write_texts
from traitgate.errors import ConfigError
from traitgate.report.rows import FORMAT, Row, split

READABLE_FORMATS = (1, 2, FORMAT)


class ModelRef(TypedDict):
    model: str  # its label
    fingerprint: str  # of its weights ("?" when they could not be read)


class RunInfo(TypedDict):
    seed: int
    device: str
    correction: str  # holm, bh or none
    baseline: str | None  # the baseline directory serving base/control, if any
    judge: str | None
    models: dict[str, list[ModelRef]]  # per role, the models run (not those from a baseline)


class Summary(TypedDict):
    gates: int
    passed: int
    failed: int
    errors: int


class Results(TypedDict):
    traitgate_results: int  # the format (FORMAT)
    traitgate_version: str
    created: str  # ISO 8601, UTC
    run: RunInfo | dict[str, Any]  # (empty when not known)
    summary: Summary
    gates: list[Row]


RESULTS_NAME = "results.json"
HTML_NAME = "report.html"


def build_results(rows: Sequence[Row], run: RunInfo | None = None) -> Results:
    """The results document: ``run`` describes the session (seed, models, ...)."""
    from traitgate import __version__

    gates, errors = split(rows)
    failed = sum(1 for r in gates if not r["passed"])
    return {
        "traitgate_results": FORMAT,
        "traitgate_version": __version__,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "run": dict(run) if run else {},
        "summary": {
            "gates": len(rows),
            "passed": len(gates) - failed,
            "failed": failed,
            "errors": len(errors),
        },
        "gates": list(rows),
    }


def load_results(path: Path) -> Results:
    """Read a results file written by :func:`write_report` (one-line errors)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a text file (a results.json is UTF-8 JSON)") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}:{exc.lineno}: not valid JSON ({exc.msg})") from None
    if not isinstance(data, dict) or data.get("traitgate_results") not in READABLE_FORMATS:
        raise ConfigError(
            f"{path}: not a traitgate results file (format {FORMAT}; expected a "
            "traitgate_results field)"
        )
    gates = data.get("gates")
    if not isinstance(gates, list) or not all(
        isinstance(g, dict) and "gate" in g and ("error" in g or "arms" in g) for g in gates
    ):
        raise ConfigError(f"{path}: gates: expected a list of gate results")
    if data["traitgate_results"] == 1:  # one joined note string, no kind
        for row in gates:
            if "arms" in row:
                note = row.pop("note", "")
                row["notes"] = [note] if note else []
                row.setdefault("kind", "")
        data["traitgate_results"] = FORMAT
    return cast(Results, data)


def write_report(directory: Path, results: Results) -> tuple[Path, Path]:
    """Write ``results.json`` and ``report.html`` into ``directory`` together: both are
    rendered and staged before either replaces the last run's (see atomic_write_texts), so
    a failure or a kill leaves the two from one run."""
    from traitgate.report.html import render_html

    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise ConfigError(f"--report {directory}: exists and is not a directory")
    json_path, html_path = directory / RESULTS_NAME, directory / HTML_NAME
    text = json.dumps(results, indent=1, allow_nan=False) + "\n"
    atomic_write_texts([(json_path, text), (html_path, render_html(results))])
    return json_path, html_path


__all__ = ["Results", "RunInfo", "build_results", "load_results", "write_report"]
