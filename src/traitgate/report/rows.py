"""Gate rows: the one record of a gate's outcome that every output reads.

A :class:`GateRow` is made by ``GateResult.to_dict()`` (a gate written in YAML or Python),
travels as JSON in a test report's ``user_properties`` (so xdist workers' rows reach the
controller), and is what the summary table, the failure explanation, the HTML report and
``results.json`` (its ``gates`` list, format :data:`FORMAT`) are rendered from. A gate that
could not be evaluated is an :class:`ErrorRow`. Numbers that are not finite are ``None``
(strict JSON). The schema is documented field by field below and in the README ("The
results file"); a change to it changes :data:`FORMAT`.
"""

# (no `from __future__ import annotations` here: TypedDict must see NotRequired at runtime to
# tell required keys from optional ones, which the schema test checks)
import math
from collections.abc import Sequence
from typing import Any, Literal, NotRequired, TypedDict, final

# results.json format: 2 replaced the joined "note" string with the "notes" list and added
# "kind"; 3 added the optional "scan" section of scan gates. Format 1 and 2 files are still
# read (see report.results.load_results)
FORMAT = 3

Number = float | None  # None where the value is not finite


class ArmRow(TypedDict):
    role: str  # model, base or control
    models: list[str]  # labels of the arm's models
    rate: Number  # the arm's trait rate
    ci: list[Number]  # [low, high] at ci_level
    ci_basis: str  # what the interval is over (models, prompts, ...)
    model_rates: list[Number]  # each model's rate


class ReportedTest(TypedDict):
    method: str
    pvalue: Number


class SpecificityRow(TypedDict):
    rank: int  # the trait's rank among the candidates by log-rate shift (1 = moved most)
    candidates: int
    pvalue: Number  # that the trait moved more than the others
    statistic: Number
    df: Number
    excess: Number  # the trait's shift minus the others' mean shift
    method: str
    effects: dict[str, float]  # log-rate shift per candidate, most moved first


class ModelRow(TypedDict):
    role: str
    model: str
    fingerprint: str
    rate: Number  # mean over prompts
    ci: list[Number]  # over prompts, at ci_level
    prompt_rates: list[Number]
    excluded: NotRequired[dict[str, int]]  # answers left out of the rate, by reason
    covered: NotRequired[float]  # mean share of answers the rate is over


class CandidateRow(TypedDict):
    """One candidate of a scan: its comparison (as a gate on it would make it)."""

    probe: str
    candidate: str
    measure: str
    rates: list[Number]  # [candidate arm, comparator arm]
    effect: Number
    effect_ci: list[Number]  # at ci_level
    ci_level: float
    method: str  # the deciding test
    pvalue: Number
    adjusted_pvalue: Number  # BH across every candidate of the scan
    discovered: bool  # adjusted p < q and effect >= min_effect in the scan's direction
    log_shift: Number  # the candidate's log-rate shift (preference suites)
    specificity_rank: int | None  # its rank by log-rate shift among the suite's candidates
    specificity_pvalue: Number  # that it moved more than the others


class ScanRow(TypedDict):
    """A scan gate's section (``trait: any``, or ``traitgate scan``)."""

    q: float  # the false discovery rate controlled
    correction: str  # bh
    alternative: str
    min_effect: float
    compare: list[str]
    tested: int
    discovered: list[str]  # probe/candidate, ranked
    candidates: list[CandidateRow]  # every candidate, ranked (discoveries first)


@final
class GateRow(TypedDict):
    gate: str
    where: str  # file:line of the gate
    kind: str  # the probe's kind: preference, multiple_choice or judged
    probe: str
    probe_version: str
    trait: str
    measure: str  # exact or sampled
    variant: str | None
    compare: list[str]  # the two roles, candidate arm first
    alternative: str  # greater, less or two-sided
    alpha: float
    min_effect: float
    model_sd: float | None
    specific: bool | Literal["top"]
    ci_level: float  # confidence level of every interval in the row
    arms: list[ArmRow]  # two
    design: str  # replicates, single or fixed-base
    method: str  # the deciding test
    statistic: Number
    df: Number
    effect: Number  # candidate arm minus comparator arm
    effect_ci: list[Number]
    pvalue: Number
    adjusted_pvalue: Number
    correction: str  # holm, bh or none
    reported: list[ReportedTest]  # other tests shown beside the deciding one
    specificity: SpecificityRow | None
    notes: list[str]  # assumptions and limits the reader must know
    passed: bool
    reason: str  # one line: why it passed or failed
    prompts: NotRequired[list[str]]
    models: NotRequired[list[ModelRow]]
    # a scan gate: every candidate's comparison; the fields above are the lead candidate's
    # (the top discovery, or the one nearest to a discovery), verdict and reason the scan's
    scan: NotRequired[ScanRow]


@final
class ErrorRow(TypedDict):
    gate: str
    error: str  # one line
    # config or model (the user's input: pytest exits 4, not 1), or internal (a crash)
    error_kind: NotRequired[Literal["config", "model", "internal"]]


Row = GateRow | ErrorRow


def strict_json(value: Any) -> Any:
    """``value`` with every non-finite float replaced by None (JSON has no NaN/Infinity)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: strict_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [strict_json(v) for v in value]
    return value


def split(rows: Sequence[Row]) -> tuple[list[GateRow], list[ErrorRow]]:
    """The evaluated gates' rows and the errors' rows, each in order."""
    gates: list[GateRow] = []
    errors: list[ErrorRow] = []
    for row in rows:
        if "error" in row:
            errors.append(row)
        else:
            gates.append(row)
    return gates, errors


def _f(value: Number, spec: str) -> str:
    return format(math.nan if value is None else value, spec)


def _percent(level: float) -> str:
    return f"{100 * level:.4g}%"


def explain_lines(row: GateRow) -> list[str]:
    """The gate's explanation (shown when it fails, and in the HTML report)."""
    a, b = row["arms"]
    level = row["ci_level"]
    pct = _percent(level)
    low, high = row["effect_ci"]
    variant = f", variant {row['variant']}" if row["variant"] else ""
    lines = [
        f"traitgate gate {row['gate']!r} {'passed' if row['passed'] else 'FAILED'}: "
        f"{row['reason']}",
        f"  probe {row['probe']} v{row['probe_version']}, trait {row['trait']!r}, "
        f"measure {row['measure']}{variant}",
        _arm_line(a, level),
        _arm_line(b, level),
        f"  effect {a['role']} - {b['role']}: {_f(row['effect'], '+.4f')} "
        f"({pct} CI [{_f(low, '+.4f')}, {_f(high, '+.4f')}]), min_effect {row['min_effect']}",
        f"  test: {row['method']}, alternative {row['alternative']}: statistic "
        f"{_f(row['statistic'], '.4g')}, p = {_f(row['pvalue'], '.3g')}, "
        f"{row['correction']}-adjusted p = {_f(row['adjusted_pvalue'], '.3g')}, "
        f"alpha {row['alpha']}",
    ]
    lines += [f"  also: {t['method']}: p = {_f(t['pvalue'], '.3g')}" for t in row["reported"]]
    if (spec := row["specificity"]) is not None:
        lines.append(f"  specificity ({_use(row['specific'])}): {_specificity(spec, row)}")
    models = row.get("models", [])
    if row["kind"] == "judged":
        for m in models:
            if excluded := m.get("excluded"):
                counts = ", ".join(f"{n} {why}" for why, n in excluded.items())
                lines.append(f"  excluded answers of {m['role']} {m['model']}: {counts}")
    coverage = {m["model"]: m["covered"] for m in models if "covered" in m}
    if coverage:
        span = f"{min(coverage.values()):.0%} (lowest model) to {max(coverage.values()):.0%}"
        if row["measure"] == "exact":
            lines.append(
                f"  covered: the scored forms carry {span} of the answers' probability; "
                "the rate is over them (renormalised)"
            )
        else:
            lines.append(
                f"  covered: {span} of the sampled answers name a candidate; the rate is over those"
            )
    lines += [f"  note: {n}" for n in row["notes"]]
    if "scan" in row:
        lines.append(f"  the lead candidate above is {row['probe']}/{row['trait']}; every one:")
        lines += scan_lines(row["scan"])
    one_sided = row["alternative"] != "two-sided"
    bound = "lower" if row["alternative"] == "greater" else "upper"
    lines.append(
        f"  intervals: {pct} two-sided"
        + (
            f" (its {bound} end is the one-sided {_percent(1 - row['alpha'])} bound the test uses)"
            if one_sided
            else ""
        )
    )
    return lines


def scan_lines(scan: ScanRow) -> list[str]:
    """Every candidate of a scan, ranked, one line each (discoveries marked)."""
    a, b = scan["compare"]
    head = (
        f"  {'':2}{'candidate':<28} {a:>8} {b:>8} {'effect':>8} {'CI':>19} "
        f"{'adj. p':>8} {'spec.':>5}"
    )
    lines = [head]
    for c in scan["candidates"]:
        low, high = c["effect_ci"]
        rank = "" if c["specificity_rank"] is None else str(c["specificity_rank"])
        lines.append(
            f"  {'*' if c['discovered'] else ' ':2}{c['probe'] + '/' + c['candidate']:<28} "
            f"{_f(c['rates'][0], '8.4f')} {_f(c['rates'][1], '8.4f')} "
            f"{_f(c['effect'], '+8.4f')} [{_f(low, '+.4f')}, {_f(high, '+.4f')}] "
            f"{_f(c['adjusted_pvalue'], '8.2g')} {rank:>5}"
        )
    lines.append(
        f"  * discovered: BH-adjusted p < q {scan['q']} over {scan['tested']} candidates "
        f"({scan['alternative']}), effect >= min_effect {scan['min_effect']}; CI at "
        f"{_percent(scan['candidates'][0]['ci_level']) if scan['candidates'] else '-'}; "
        "spec. = rank by log-rate shift (1 = moved most relative to the others)"
    )
    return lines


def _arm_line(arm: ArmRow, level: float) -> str:
    labels = arm["models"]
    names = ", ".join(labels) if len(labels) <= 4 else f"{', '.join(labels[:3])}, ..."
    low, high = arm["ci"]
    return (
        f"  {arm['role']:>7}: rate {_f(arm['rate'], '.4f')} ({_percent(level)} CI "
        f"[{_f(low, '.4f')}, {_f(high, '.4f')}] over {arm['ci_basis']}), "
        f"{len(labels)} model(s): {names}"
    )


def _use(specific: bool | str) -> str:
    if specific == "top":
        return "required to fail: rank 1"
    return "required to fail" if specific else "reported"


def _specificity(spec: SpecificityRow, row: GateRow) -> str:
    effects = spec["effects"]
    top = ", ".join(f"{c} {e:+.2f}" for c, e in list(effects.items())[:3])
    return (
        f"rank {spec['rank']} of {spec['candidates']} candidates by log-rate shift "
        f"(trait {effects[row['trait']]:+.2f}; most moved: {top}), "
        f"specificity p = {_f(spec['pvalue'], '.3g')}"
    )


__all__ = [
    "FORMAT",
    "ArmRow",
    "CandidateRow",
    "ErrorRow",
    "GateRow",
    "ModelRow",
    "ReportedTest",
    "Row",
    "ScanRow",
    "SpecificityRow",
    "explain_lines",
    "scan_lines",
    "split",
    "strict_json",
]
