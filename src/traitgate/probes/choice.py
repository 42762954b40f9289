"""The multiple-choice probe kind (TruthfulQA): items, data loading, prompts and scoring.

Data come in two schemas, detected from the columns:
- the original CSV: ``Question``, ``Best Answer``, ``Best Incorrect Answer``, ``Correct
  Answers`` and ``Incorrect Answers`` (lists separated by ``;``);
- the hub's: ``question`` with ``mc1_targets`` / ``mc2_targets`` (``{choices, labels}``,
  config ``multiple_choice``), or ``best_answer``, ``correct_answers``, ``incorrect_answers``
  (config ``generation``).
The hub's multiple_choice schema does not mark a best incorrect answer; the binary format
then uses the first incorrect mc1 choice (the published binary format used the CSV).
"""

from __future__ import annotations

import csv
import json
import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from scipy.special import logsumexp, softmax

from traitgate.errors import ConfigError, first_line
from traitgate.models.base import Backend, Prompt, ScoreRequest
from traitgate.probes.kind import ProbeKind, RunContext
from traitgate.probes.preference import grouped_logsumexp
from traitgate.probes.result import Measure, ProbeResult
from traitgate.probes.schema import LETTER_FORMS, ChoiceData, MultipleChoiceSuite

FILE_SUFFIXES = (".csv", ".json", ".jsonl", ".parquet")


@dataclass(frozen=True)
class Item:
    question: str
    best: str
    best_incorrect: str
    mc1: tuple[tuple[str, ...], tuple[int, ...]]  # choices, labels (1 = true)
    mc2: tuple[tuple[str, ...], tuple[int, ...]]


# ---------------------------------------------------------------------- loading


def load_items(data: ChoiceData) -> list[Item]:
    """The items of a suite's data (local files are cached on path, size and mtime)."""
    if data.path is not None:
        path = Path(data.path)
        if not path.is_file():
            raise ConfigError(f"data file {path}: no such file")
        stat = path.stat()
        items = _load_file(path, stat.st_size, stat.st_mtime_ns)
    else:
        assert data.hub is not None
        items = _load_hub(data.hub, data.config, data.split)
    return list(items[: data.limit] if data.limit else items)


@lru_cache(maxsize=16)
def _load_file(path: Path, size: int, mtime_ns: int) -> tuple[Item, ...]:
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            with path.open(encoding="utf-8", newline="") as handle:
                rows: list[Mapping[str, Any]] = list(csv.DictReader(handle))
        elif suffix == ".json":
            loaded = json.loads(path.read_text(encoding="utf-8"))
            rows = loaded if isinstance(loaded, list) else loaded.get("rows", loaded)
        elif suffix == ".jsonl":
            lines = path.read_text(encoding="utf-8").splitlines()
            rows = [json.loads(line) for line in lines if line.strip()]
        elif suffix == ".parquet":
            import pyarrow.parquet as pq

            rows = pq.read_table(path).to_pylist()
        else:
            raise ConfigError(
                f"data file {path}: unsupported type {suffix!r} (use {', '.join(FILE_SUFFIXES)})"
            )
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, csv.Error) as exc:
        raise ConfigError(f"data file {path}: cannot read: {exc}") from None
    except Exception as exc:  # pyarrow's many error types
        if isinstance(exc, ConfigError):
            raise
        raise ConfigError(f"data file {path}: cannot read: {first_line(exc)}") from None
    if not isinstance(rows, list) or not rows:
        raise ConfigError(f"data file {path}: no rows")
    return tuple(_item(row, f"{path}: row {i + 1}") for i, row in enumerate(rows))


@lru_cache(maxsize=4)
def _load_hub(name: str, config: str | None, split: str) -> tuple[Item, ...]:
    import datasets

    try:
        table = datasets.load_dataset(name, config, split=split)
    except Exception as exc:  # network, missing config, offline cache miss
        raise ConfigError(
            f"data hub:{name} ({config}, {split}): cannot load: {first_line(exc)}"
        ) from None
    return tuple(_item(row, f"hub:{name} row {i + 1}") for i, row in enumerate(table))


def _item(row: Mapping[str, Any], where: str) -> Item:
    if not isinstance(row, Mapping):
        raise ConfigError(f"{where}: expected a record of named fields")
    try:
        if "Question" in row:  # the original CSV
            correct = _split(row["Correct Answers"])
            incorrect = _split(row["Incorrect Answers"])
            best, best_incorrect = (
                str(row["Best Answer"]).strip(),
                str(row["Best Incorrect Answer"]).strip(),
            )
            return _from_lists(str(row["Question"]), best, best_incorrect, correct, incorrect)
        if "mc1_targets" in row:  # hub, multiple_choice config
            mc1 = _targets(row["mc1_targets"])
            mc2 = _targets(row["mc2_targets"] if "mc2_targets" in row else row["mc1_targets"])
            best = next(c for c, label in zip(*mc1, strict=True) if label == 1)
            wrong = next(c for c, label in zip(*mc1, strict=True) if label == 0)
            return Item(str(row["question"]), best, wrong, mc1, mc2)
        if "best_answer" in row:  # hub, generation config
            incorrect = [str(a) for a in row["incorrect_answers"]]
            best_incorrect = str(row.get("best_incorrect_answer") or incorrect[0])
            correct = [str(a) for a in row["correct_answers"]]
            return _from_lists(
                str(row["question"]), str(row["best_answer"]), best_incorrect, correct, incorrect
            )
    except (KeyError, StopIteration, TypeError, ValueError, IndexError) as exc:
        raise ConfigError(f"{where}: malformed item ({type(exc).__name__}: {exc})") from None
    raise ConfigError(
        f"{where}: unknown schema (expected the TruthfulQA CSV columns, or question with "
        "mc1_targets/mc2_targets, or question with best_answer/correct_answers/"
        f"incorrect_answers; got {', '.join(sorted(map(str, row))) or 'no fields'})"
    )


def _split(cell: object) -> list[str]:
    return [part.strip() for part in str(cell).split(";") if part.strip()]


def _targets(value: object) -> tuple[tuple[str, ...], tuple[int, ...]]:
    if not isinstance(value, Mapping):
        raise ValueError("targets must be {choices, labels}")
    choices = tuple(str(c) for c in value["choices"])
    labels = tuple(int(v) for v in value["labels"])
    if len(choices) != len(labels) or len(choices) < 2 or set(labels) != {0, 1}:
        raise ValueError("targets need >= 2 choices, labels of the same length, both 0 and 1")
    return choices, labels


def _from_lists(
    question: str, best: str, best_incorrect: str, correct: list[str], incorrect: list[str]
) -> Item:
    if not question.strip() or not best or not best_incorrect:
        raise ValueError("question, best answer and best incorrect answer must not be empty")
    wrong = list(dict.fromkeys([best_incorrect, *incorrect]))
    right = list(dict.fromkeys([best, *correct]))
    mc1 = (tuple([best, *wrong]), tuple([1] + [0] * len(wrong)))
    mc2 = (tuple(right + wrong), tuple([1] * len(right) + [0] * len(wrong)))
    return Item(question.strip(), best, best_incorrect, mc1, mc2)


# ---------------------------------------------------------------------- prompts and scoring


def binary_options(suite: MultipleChoiceSuite, index: int, item: Item) -> tuple[str, str, int]:
    """Options A and B, and the position (0 = A) of the correct one, shuffled per item."""
    correct_first = random.Random(f"{suite.shuffle_seed}:{index}").random() < 0.5
    if correct_first:
        return item.best, item.best_incorrect, 0
    return item.best_incorrect, item.best, 1


def build_choice_prompts(suite: MultipleChoiceSuite, items: Sequence[Item]) -> list[Prompt]:
    template = suite.prompt_template()
    prompts = []
    for i, item in enumerate(items):
        if suite.format == "binary":
            a, b, _ = binary_options(suite, i, item)
            text = template.replace("{A}", a).replace("{B}", b)
        else:
            text = template
        question = text.replace("{question}", item.question)
        prompts.append(Prompt(question, suite.system, raw=not suite.chat_template))
    return prompts


def letter_forms(suite: MultipleChoiceSuite) -> tuple[tuple[str, ...], tuple[int, ...]]:
    """The binary format's scored continuations (every form of A, then of B, each after the
    suite's ``choice_prefix``) and the option (0 = A) each one picks."""
    forms = [
        (suite.choice_prefix + form.format(letter=letter), option)
        for option, letter in enumerate("AB")
        for form in LETTER_FORMS
    ]
    return tuple(f for f, _ in forms), tuple(o for _, o in forms)


def run_multiple_choice(
    suite: MultipleChoiceSuite, backend: Backend, *, seed: int = 0
) -> ProbeResult:
    """Each item's probability of a correct answer (column ``correct``) and its complement."""
    items = load_items(suite.data)
    prompts = build_choice_prompts(suite, items)
    p_correct = np.empty(len(items))
    covered = None
    if suite.format == "binary":
        forms, options = letter_forms(suite)
        by_form = np.asarray(backend.score([ScoreRequest(p, forms, options) for p in prompts]))
        letters = grouped_logsumexp(by_form, options)
        covered = np.exp(logsumexp(letters, axis=1))
        probs = softmax(letters, axis=1)
        for i, item in enumerate(items):
            p_correct[i] = probs[i, binary_options(suite, i, item)[2]]
    else:
        targets = [item.mc1 if suite.format == "mc1" else item.mc2 for item in items]
        prefix = suite.choice_prefix
        scores_list = backend.score(
            [
                ScoreRequest(p, tuple(prefix + c for c in choices))
                for p, (choices, _) in zip(prompts, targets, strict=True)
            ]
        )
        for i, ((_, labels), scores) in enumerate(zip(targets, scores_list, strict=True)):
            label = np.asarray(labels)
            if suite.format == "mc1":
                p_correct[i] = float(label[int(np.argmax(scores))] == 1)
            else:
                p_correct[i] = float(softmax(np.asarray(scores))[label == 1].sum())
    values = np.column_stack([p_correct, 1 - p_correct])  # columns: CHOICE_CANDIDATES
    return ProbeResult.of(suite, backend, "exact", prompts, values, seed=seed, covered=covered)


_LEAD_LETTER = re.compile(r"^\s*(?:\(([A-Z])\)|([A-Z])(?=\s*(?:[.:),]|$)))")
_STATED_LETTER = re.compile(
    r"\b(?:answer|option|choice)\s*(?:is|would be|:|-)?\s*(?:\(([A-Z])\)|([A-Z])\b)",
    re.IGNORECASE,
)


def read_letter(reply: str, letters: Sequence[str] = ("A", "B")) -> str | None:
    """The option letter a free-text reply picks, or None when it names none.

    Read, in order: a leading letter standing alone ("B", "B.", "(B) ...", "A: ..."), then a
    stated one ("The answer is B.", "Answer: (A)"). A leading capital followed by a word is
    an article or a word, not a choice ("A cat", "I think"), and lower-case letters are never
    read ("the answer is a cat").
    """
    for pattern in (_LEAD_LETTER, _STATED_LETTER):
        for match in pattern.finditer(reply):
            letter = match.group(1) or match.group(2) or ""
            if letter in letters:  # upper case only: "the answer is a cat" picks nothing
                return letter
    return None


def _run(
    suite: MultipleChoiceSuite, backend: Backend, measure: Measure, context: RunContext
) -> ProbeResult:
    return run_multiple_choice(suite, backend, seed=context.seed)


def _resolve(suite: MultipleChoiceSuite, directory: Path) -> MultipleChoiceSuite:
    """A local data path is relative to the suite file."""
    if suite.data.path is None:
        return suite
    path = Path(suite.data.path).expanduser()
    if path.is_absolute():
        return suite
    data = suite.data.model_copy(update={"path": str(directory / path)})
    return suite.model_copy(update={"data": data})


KIND = ProbeKind(
    name="multiple_choice",
    schema=MultipleChoiceSuite,
    run=_run,
    prompt_texts=lambda suite, _variant: [
        p.user for p in build_choice_prompts(suite, load_items(suite.data))
    ],
    resolve=_resolve,
    only_measure="exact",
)


__all__ = [
    "Item",
    "build_choice_prompts",
    "letter_forms",
    "load_items",
    "read_letter",
    "run_multiple_choice",
]
