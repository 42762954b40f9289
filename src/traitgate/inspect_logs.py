"""Reading inspect-ai evaluation logs for a paired comparison (:mod:`traitgate.logcompare`):
each log's samples scored as numbers by inspect's own ``value_to_float``, and the checks
that logs can be paired (one task, one dataset, the same sample ids, one scorer), each
failure one line saying which log and what."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from traitgate.errors import ConfigError

_SHOWN = 5  # sample ids listed in an error
SampleScores = dict[str, list[float]]  # sample id -> its epochs' scores


def read_log(path: str | Path) -> Any:
    from inspect_ai.log import read_eval_log

    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"{p}: no such log file")
    try:
        log = read_eval_log(str(p), exclude_fields={"messages", "events", "store", "attachments"})
    except Exception as exc:  # inspect raises many kinds for a file that is not a log
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ConfigError(f"{p}: not a readable inspect-ai log ({first})") from None
    if log.status != "success":
        raise ConfigError(f"{p}: the evaluation did not finish (status {log.status}): rerun it")
    if not log.samples:
        raise ConfigError(f"{p}: the log holds no samples")
    return log


def same_task(logs: Sequence[Any]) -> str:
    tasks = {log.eval.task for log in logs}
    if len(tasks) > 1:
        which = ", ".join(f"{Path(log.location).name}: {log.eval.task}" for log in logs)
        raise ConfigError(f"cannot pair logs of different tasks ({which})")
    datasets = {(log.eval.dataset.name, log.eval.dataset.location) for log in logs}
    if len(datasets) > 1:
        which = ", ".join(
            f"{Path(log.location).name}: {log.eval.dataset.name or log.eval.dataset.location}"
            for log in logs
        )
        raise ConfigError(f"cannot pair logs of different datasets ({which})")
    return str(tasks.pop())


def scorer_of(logs: Sequence[Any], wanted: str | None) -> tuple[str, str | None]:
    names = sorted({k for log in logs for s in log.samples for k in (s.scores or {})})
    if not names:
        raise ConfigError(f"{Path(logs[0].location).name}: the samples hold no scores")
    if wanted is None:
        if len(names) > 1:
            raise ConfigError(
                f"the logs have several scorers ({', '.join(names)}): pick one with --scorer"
            )
        return names[0], None
    name, _, key = wanted.partition("/")
    if name not in names:
        raise ConfigError(f"no scorer {name!r} in the logs (they have: {', '.join(names)})")
    return name, key or None


def sample_scores(log: Any, scorer: str, key: str | None) -> SampleScores:
    """Per sample id, its epochs' scores as numbers (inspect's value_to_float)."""
    from inspect_ai.scorer import value_to_float

    to_float = value_to_float()
    where = Path(log.location).name
    out: SampleScores = {}
    for sample in log.samples:
        sid = str(sample.id)
        score = (sample.scores or {}).get(scorer)
        if score is None:
            raise ConfigError(
                f"{where}: sample {sid} (epoch {sample.epoch}) has no {scorer!r} score"
            )
        value = score.value
        if isinstance(value, dict):
            if key is None or key not in value:
                raise ConfigError(
                    f"{where}: {scorer!r} scores are dicts ({', '.join(map(str, value))}): "
                    f"pick one with --scorer {scorer}/KEY"
                )
            value = value[key]
        elif key is not None:
            raise ConfigError(f"{where}: {scorer!r} scores are not dicts: drop /{key}")
        if isinstance(value, list | dict):
            raise ConfigError(
                f"{where}: sample {sid}: a {type(value).__name__} score has no single number"
            )
        if not _convertible(value):
            raise ConfigError(
                f"{where}: sample {sid}: score {value!r} is no number or grade inspect knows "
                "(its metrics would count it 0)"
            )
        number = float(to_float(value))
        if not math.isfinite(number):
            raise ConfigError(f"{where}: sample {sid}: score {value!r} is not a finite number")
        out.setdefault(sid, []).append(number)
    return out


# strings inspect's value_to_float maps (besides numeric strings); anything else it logs and
# counts as 0, which a comparison must not do silently
_GRADES = {"C", "I", "P", "N"}  # exact, as inspect compares them
_WORDS = {"yes", "no", "true", "false"}  # any case


def _convertible(value: object) -> bool:
    if isinstance(value, bool | int | float):
        return True
    if not isinstance(value, str):
        return False
    if value in _GRADES or value.lower() in _WORDS:
        return True
    try:
        return math.isfinite(float(value))  # inspect reads "nan" and "inf" as no number
    except ValueError:
        return False


def paired_ids(logs: Sequence[Any], per_log: Sequence[SampleScores]) -> tuple[str, ...]:
    """The sample ids every log has (in the first log's order); any other is an error."""
    first = list(per_log[0])
    common = set(first)
    for scores in per_log[1:]:
        common &= set(scores)
    for log, scores in zip(logs, per_log, strict=True):
        extra = [s for s in scores if s not in common]
        if extra:
            missing_from = [
                Path(other.location).name
                for other, o in zip(logs, per_log, strict=True)
                if extra[0] not in o
            ]
            shown = ", ".join(extra[:_SHOWN]) + (
                f" and {len(extra) - _SHOWN} more" if len(extra) > _SHOWN else ""
            )
            raise ConfigError(
                f"cannot pair: {Path(log.location).name} has {len(extra)} sample(s) that "
                f"{', '.join(missing_from)} lack(s): {shown}"
            )
    return tuple(first)


def arm_scores(
    per_log: Sequence[SampleScores], ids: Sequence[str]
) -> tuple[np.ndarray, tuple[int, ...]]:
    """Each log's per-sample epoch mean, shape (logs, samples) in ``ids`` order, and each
    log's epochs (the most any sample has)."""
    scores = np.array([[float(np.mean(s[i])) for i in ids] for s in per_log])
    return scores, tuple(max(len(v) for v in s.values()) for s in per_log)


__all__ = ["arm_scores", "paired_ids", "read_log", "same_task", "sample_scores", "scorer_of"]
