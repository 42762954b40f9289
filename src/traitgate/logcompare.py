"""Paired comparison of inspect-ai evaluation logs: did model A score differently from model
B on the same benchmark?

Two models answering the same samples are paired: a sample one finds hard, the other often
finds hard too. Comparing their mean scores as if they were independent (an unpaired test,
what comparators of two result files usually do) counts that shared difficulty as noise and
loses power; pairing removes it. This module reads the logs through ``inspect_ai.log``
(``.eval`` and ``.json``), pairs samples by id, averages each sample's epochs (epochs of a
sample are not independent draws: the sample is the cluster), and tests:

============================  =====================================================
logs per arm                  decision test (units)
============================  =====================================================
1 vs 1                        paired t over samples: are *these two models* different on
                              samples drawn like these? Reported beside: Wilcoxon
                              signed-rank, exact McNemar (pass/fail scores, one epoch) and
                              the unpaired Welch t, so the gain from pairing shows.
replicate models (k vs m)     :func:`traitgate.stats.compare` on each model's mean score:
                              is the *way these models were made* different? (the model
                              is the unit; pooled t with >= 2 per arm, prediction t for
                              1 vs k).
============================  =====================================================

Scores become numbers as inspect's own metrics make them (``value_to_float``: C 1, I 0,
P 0.5, N 0, yes/no, true/false, numeric strings, numbers); a dict value needs a key
(``scorer/key``). Each arm's mean is the mean over samples of the per-sample epoch mean,
which is what inspect's ``accuracy``/``mean`` metric reports with its default epoch reducer
(the result shows both; a mismatch is noted).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypedDict

import numpy as np

from traitgate.errors import ConfigError
from traitgate.inspect_logs import (
    arm_scores,
    paired_ids,
    read_log,
    same_task,
    sample_scores,
    scorer_of,
)
from traitgate.report.rows import strict_json
from traitgate.stats import (
    Alternative,
    TestResult,
    compare,
    decision_level,
    mcnemar_test,
    paired_t_test,
    summarise_arm,
    welch_test,
    wilcoxon_test,
)

FailOn = Literal["decrease", "increase", "change", "none"]
ALTERNATIVE_OF: dict[str, Alternative] = {
    "decrease": "less",
    "increase": "greater",
    "change": "two-sided",
    "none": "two-sided",
}


@dataclass(frozen=True)
class ArmLogs:
    """One arm: its logs (one model each) and each model's per-sample score (epoch mean)."""

    name: str
    logs: tuple[str, ...]
    models: tuple[str, ...]
    scores: np.ndarray  # (models, samples), samples in the comparison's order
    epochs: tuple[int, ...]  # epochs per log (the most any sample has)
    inspect_means: tuple[float | None, ...]  # inspect's own accuracy/mean metric per log

    @property
    def mean(self) -> float:
        return float(self.scores.mean())


class ArmDict(TypedDict):
    name: str
    logs: list[str]
    models: list[str]
    mean: float
    ci: list[float | None]
    model_means: list[float]
    epochs: list[int]
    inspect_means: list[float | None]


class TestDict(TypedDict):
    method: str
    statistic: float | None
    df: float | None
    pvalue: float | None


class LogComparisonDict(TypedDict):
    task: str
    scorer: str
    samples: int
    design: str
    alternative: str
    alpha: float
    ci_level: float
    arms: list[ArmDict]
    effect: float
    effect_ci: list[float | None]
    decision: TestDict
    unpaired: TestDict | None
    reported: list[TestDict]
    correlation: float | None
    notes: list[str]
    fail_on: str
    min_effect: float
    failed: bool


@dataclass(frozen=True)
class LogComparison:
    """The comparison of arm ``a`` with arm ``b`` (effect = a - b)."""

    task: str
    scorer: str
    sample_ids: tuple[str, ...]
    a: ArmLogs
    b: ArmLogs
    design: str  # "paired samples" or stats.compare's design
    decision: TestResult
    unpaired: TestResult | None  # 1 vs 1: the same data treated as independent samples
    reported: tuple[TestResult, ...]
    alpha: float
    fail_on: FailOn = "none"
    min_effect: float = 0.0
    notes: tuple[str, ...] = ()

    @property
    def effect(self) -> float:
        return self.decision.effect

    @property
    def pvalue(self) -> float:
        return self.decision.pvalue

    @property
    def level(self) -> float:
        return decision_level(self.alpha, self.decision.alternative)

    @property
    def correlation(self) -> float | None:
        """Correlation of the two arms' per-sample scores: what pairing removes."""
        x, y = self.a.scores.mean(axis=0), self.b.scores.mean(axis=0)
        if x.std() == 0 or y.std() == 0:
            return None
        return float(np.corrcoef(x, y)[0, 1])

    @property
    def failed(self) -> bool:
        """``fail_on`` holds: a significant effect of at least ``min_effect`` its way."""
        if self.fail_on == "none" or not self.pvalue < self.alpha:
            return False
        size = {"decrease": -self.effect, "increase": self.effect}.get(
            self.fail_on, abs(self.effect)
        )
        return size > 0 and size >= self.min_effect

    def lines(self) -> list[str]:
        ci = self.decision.confidence_interval(self.level)
        pct = f"{100 * self.level:.4g}%"
        d = self.decision
        out = [
            f"traitgate compare: task {self.task}, scorer {self.scorer}, "
            f"{len(self.sample_ids)} samples paired by id",
            *(_arm_line(arm, self.level) for arm in (self.a, self.b)),
            f"  effect {self.a.name} - {self.b.name}: {self.effect:+.4f} "
            + (
                f"({pct} CI [{ci.low:+.4f}, {ci.high:+.4f}])"
                if math.isfinite(ci.low)
                else "(no CI: the differences do not vary)"
            ),
            f"  decision: {d.method} ({self.design}), {_test_text(d)}, "
            f"alternative {d.alternative}, alpha {self.alpha}",
        ]
        if self.unpaired is not None:
            r = self.correlation
            why = "" if r is None else f"; the arms' per-sample scores correlate r = {r:.2f}"
            out.append(
                f"  unpaired, as if the samples were independent: {self.unpaired.method}, "
                f"{_test_text(self.unpaired)}{why}"
            )
        out += [f"  also: {t.method}: p = {t.pvalue:.3g}" for t in self.reported]
        out += [f"  note: {n}" for n in self.notes]
        if self.fail_on != "none":
            verdict = "FAIL" if self.failed else "PASS"
            out.append(
                f"{verdict}: fail on a significant {self.fail_on} (p < {self.alpha}) of at "
                f"least {self.min_effect}"
            )
        return out

    def to_dict(self) -> LogComparisonDict:
        """Strict-JSON-ready data (numbers that are not finite become None)."""
        ci = self.decision.confidence_interval(self.level)
        row: LogComparisonDict = strict_json(
            {
                "task": self.task,
                "scorer": self.scorer,
                "samples": len(self.sample_ids),
                "design": self.design,
                "alternative": self.decision.alternative,
                "alpha": self.alpha,
                "ci_level": self.level,
                "arms": [_arm_dict(arm, self.level) for arm in (self.a, self.b)],
                "effect": self.effect,
                "effect_ci": [ci.low, ci.high],
                "decision": _test_dict(self.decision),
                "unpaired": None if self.unpaired is None else _test_dict(self.unpaired),
                "reported": [_test_dict(t) for t in self.reported],
                "correlation": self.correlation,
                "notes": list(self.notes),
                "fail_on": self.fail_on,
                "min_effect": self.min_effect,
                "failed": self.failed,
            }
        )
        return row


def compare_logs(
    a: Sequence[str | Path],
    b: Sequence[str | Path],
    *,
    scorer: str | None = None,
    alpha: float = 0.05,
    fail_on: FailOn = "none",
    min_effect: float = 0.0,
    names: tuple[str, str] = ("A", "B"),
) -> LogComparison:
    """Compare the logs of arm ``a`` (one per model) with those of arm ``b``.

    ``scorer``: the scorer whose scores to compare (``name`` or ``name/key`` for dict
    values); needed only when the logs have more than one. ``fail_on`` sets the test's
    direction (decrease: a lower than b; increase; change: either) and what
    :attr:`LogComparison.failed` checks. Raises :class:`ConfigError` (one line) for logs
    that cannot be read or paired.
    """
    if not 0 < alpha < 1:
        raise ConfigError(f"compare: alpha must be between 0 and 1 (got {alpha})")
    if fail_on not in ALTERNATIVE_OF:
        raise ConfigError(f"compare: fail_on must be one of {', '.join(ALTERNATIVE_OF)}")
    if not min_effect >= 0:
        raise ConfigError(f"compare: min_effect must be >= 0 (got {min_effect})")
    if not a or not b:
        raise ConfigError("compare: give at least one log for each arm")
    logs_a, logs_b = [read_log(p) for p in a], [read_log(p) for p in b]
    every = [*logs_a, *logs_b]
    task = same_task(every)
    name, key = scorer_of(every, scorer)
    per_log = [sample_scores(log, name, key) for log in every]
    ids = paired_ids(every, per_log)
    arm_a = _arm(names[0], logs_a, arm_scores(per_log[: len(logs_a)], ids), name)
    arm_b = _arm(names[1], logs_b, arm_scores(per_log[len(logs_a) :], ids), name)
    alternative = ALTERNATIVE_OF[fail_on]
    notes = _notes(arm_a, arm_b)
    label = name if key is None else f"{name}/{key}"
    if len(logs_a) == 1 and len(logs_b) == 1:
        x, y = arm_a.scores[0], arm_b.scores[0]
        reported = [_named(wilcoxon_test(x, y, alternative), "Wilcoxon signed-rank (paired)")]
        binary = all(set(np.unique(s)) <= {0.0, 1.0} for s in (x, y))
        if binary and max(arm_a.epochs + arm_b.epochs) == 1:
            reported.append(mcnemar_test(x.astype(int), y.astype(int), alternative))
        design = "paired samples"
        decision = _named(paired_t_test(x, y, alternative), "paired t over samples")
        unpaired: TestResult | None = _named(welch_test(x, y, alternative), "Welch t (unpaired)")
    else:
        level = decision_level(alpha, alternative)
        cmp = compare(arm_a.scores, arm_b.scores, alternative, confidence_level=level)
        design, decision, unpaired, reported = cmp.design, cmp.test, None, list(cmp.reported)
        notes.append(
            "replicate models: the model is the unit (each model's mean over the samples); "
            "pairing by sample matters within a pair of models, not between model means."
        )
    return LogComparison(
        task, label, ids, arm_a, arm_b, design, decision, unpaired, tuple(reported), alpha,
        fail_on, min_effect, tuple(notes),
    )  # fmt: skip


def _arm(
    name: str, logs: Sequence[Any], scored: tuple[np.ndarray, tuple[int, ...]], scorer: str
) -> ArmLogs:
    scores, epochs = scored
    return ArmLogs(
        name,
        tuple(str(log.location) for log in logs),
        tuple(str(log.eval.model) for log in logs),
        scores,
        epochs,
        tuple(_inspect_mean(log, scorer) for log in logs),
    )


def _inspect_mean(log: Any, scorer: str) -> float | None:
    """inspect's own mean-type metric (accuracy or mean) of the scorer, if it computed one."""
    for score in (log.results.scores if log.results else []) or []:
        if score.name == scorer:
            for metric in ("accuracy", "mean"):
                if metric in score.metrics:
                    return float(score.metrics[metric].value)
    return None


def _notes(a: ArmLogs, b: ArmLogs) -> list[str]:
    notes = []
    epochs = set(a.epochs + b.epochs)
    if len(epochs) > 1:
        notes.append(
            f"the logs ran different numbers of epochs ({sorted(epochs)}): each sample's "
            "epochs are averaged"
        )
    elif max(epochs) > 1:
        notes.append(
            f"{max(epochs)} epochs per sample, averaged within each sample (the sample is the unit)"
        )
    for arm in (a, b):
        for log, ours, theirs in zip(
            arm.logs, arm.scores.mean(axis=1), arm.inspect_means, strict=True
        ):
            if theirs is not None and abs(ours - theirs) > 1e-9:
                notes.append(
                    f"{Path(log).name}: inspect's metric is {theirs:.4g}, the paired mean "
                    f"{ours:.4g} (a non-mean epoch reducer, or samples left out of the pairing)"
                )
    return notes


# ---------------------------------------------------------------------------- output
def _named(test: TestResult, method: str) -> TestResult:
    """The test under the name this comparison's units give it (samples, not prompts)."""
    cut = test.method.find(" (no spread")
    return dataclasses.replace(test, method=method + (test.method[cut:] if cut >= 0 else ""))


def _test_text(t: TestResult) -> str:
    df = "" if t.df is None else f", df {t.df:.3g}"
    return f"statistic {t.statistic:.4g}{df}, p = {t.pvalue:.3g}"


def _test_dict(t: TestResult) -> TestDict:
    return {
        "method": t.method,
        "statistic": t.statistic,
        "df": t.df,
        "pvalue": t.pvalue,
    }


def _arm_ci(arm: ArmLogs, level: float) -> tuple[float, float]:
    """The arm's CI as every arm's: over models with two or more, else over samples."""
    ci = summarise_arm(arm.scores, level).ci
    return ci.low, ci.high


def _arm_line(arm: ArmLogs, level: float) -> str:
    low, high = _arm_ci(arm, level)
    over = "models" if arm.scores.shape[0] >= 2 else "samples"
    theirs = [m for m in arm.inspect_means if m is not None]
    inspect = f"; inspect's metric {', '.join(f'{m:.4g}' for m in theirs)}" if theirs else ""
    models = ", ".join(arm.models) if len(arm.models) <= 3 else f"{', '.join(arm.models[:3])}, ..."
    return (
        f"  {arm.name}: mean {arm.mean:.4f} ({100 * level:.4g}% CI [{low:.4f}, {high:.4f}] over "
        f"{over}), {len(arm.logs)} log(s), {models}{inspect}"
    )


def _arm_dict(arm: ArmLogs, level: float) -> ArmDict:
    low, high = _arm_ci(arm, level)
    return {
        "name": arm.name,
        "logs": list(arm.logs),
        "models": list(arm.models),
        "mean": arm.mean,
        "ci": [low, high],
        "model_means": [float(v) for v in arm.scores.mean(axis=1)],
        "epochs": list(arm.epochs),
        "inspect_means": list(arm.inspect_means),
    }


__all__ = ["ArmLogs", "LogComparison", "compare_logs"]
