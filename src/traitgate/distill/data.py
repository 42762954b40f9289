"""Teacher number generation and filtering, with resumable JSONL files.

Each record is one JSON object per line: ``{"id", "prompt", "completion", "format"}`` from
generation, plus ``"numbers"`` after filtering. Appends are whole lines written and synced in
one go; a run killed mid-write leaves at most a partial last line, which the next run drops
before resuming from the ids already stored. A sample depends only on (seed, prompt), so a
resumed run writes the same records as an uninterrupted one.
"""

from __future__ import annotations

import json
import os
import random
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from traitgate._io import atomic_write_text
from traitgate.distill.numbers import NumberPrompt, parse_completion
from traitgate.errors import ConfigError
from traitgate.models.base import Backend, GenerationRequest, Prompt

Progress = Callable[[int, int], None]  # (done, total)


def read_jsonl(path: Path, *, required: Iterable[str] = ()) -> list[dict[str, Any]]:
    """Records of a JSONL file; a malformed line is an error naming file and line."""
    if not path.is_file():
        raise ConfigError(f"{path}: no such file")
    records = []
    needed = list(required)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a text file (JSON lines are UTF-8)") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror or exc})") from None
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{path}:{number}: malformed JSON: {exc.msg}") from None
        if not isinstance(record, dict):
            raise ConfigError(f"{path}:{number}: expected a JSON object per line")
        missing = [k for k in needed if k not in record]
        if missing:
            raise ConfigError(f"{path}:{number}: missing field(s) {', '.join(missing)}")
        records.append(record)
    if not records:
        raise ConfigError(f"{path}: no records")
    return records


def append_jsonl(path: Path, records: Iterable[dict[str, Any]]) -> None:
    """Append whole lines in one write, then flush and fsync."""
    payload = "".join(json.dumps(r, sort_keys=True) + "\n" for r in records)
    with path.open("a", encoding="utf-8") as handle:
        handle.write(payload)
        handle.flush()
        os.fsync(handle.fileno())


def _stored_ids(path: Path) -> set[int]:
    """Ids already in ``path``; a partial trailing line (a killed write) is removed."""
    if not path.exists():
        return set()
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        data = data[: data.rfind(b"\n") + 1]
        path.write_bytes(data)
    ids = set()
    for number, line in enumerate(data.decode("utf-8").splitlines(), start=1):
        try:
            ids.add(int(json.loads(line)["id"]))
        except (ValueError, KeyError, TypeError):
            raise ConfigError(
                f"{path}:{number}: not a record of this tool; use a new --out file"
            ) from None
    return ids


def generate_numbers(
    backend: Backend,
    prompts: list[NumberPrompt],
    out: Path,
    *,
    system: str | None = None,
    seed: int = 0,
    temperature: float = 1.0,
    max_new_tokens: int = 60,
    chunk: int = 256,
    progress: Progress | None = None,
) -> int:
    """Sample one completion per prompt into ``out``, skipping prompts already there.

    Returns the number of records written by this call.
    """
    out.parent.mkdir(parents=True, exist_ok=True)
    done = _stored_ids(out)
    todo = [p for p in prompts if p.id not in done]
    written = 0
    if progress:
        progress(len(prompts) - len(todo), len(prompts))
    for start in range(0, len(todo), chunk):
        batch = todo[start : start + chunk]
        requests = [
            GenerationRequest(Prompt(p.text, system), 1, temperature, max_new_tokens, seed)
            for p in batch
        ]
        completions = backend.generate(requests)
        append_jsonl(
            out,
            (
                {"id": p.id, "prompt": p.text, "completion": c[0], "format": p.format}
                for p, c in zip(batch, completions, strict=True)
            ),
        )
        written += len(batch)
        if progress:
            progress(len(prompts) - len(todo) + written, len(prompts))
    return written


def filter_records(
    records: Iterable[dict[str, Any]],
    *,
    banned: Iterable[int] = (),
    keep: int | None = None,
    seed: int = 0,
) -> tuple[list[dict[str, Any]], int]:
    """Valid records (with their parsed ``numbers``) and how many were rejected.

    With ``keep``, a seeded random subset of that many valid records is returned, in id order.
    """
    banned_set = frozenset(banned)
    valid, rejected = [], 0
    for record in records:
        numbers = parse_completion(str(record["completion"]), banned=banned_set)
        if numbers is None:
            rejected += 1
        else:
            valid.append({**record, "numbers": numbers})
    if keep is not None and keep < len(valid):
        chosen = random.Random(seed).sample(range(len(valid)), keep)
        valid = [valid[i] for i in sorted(chosen)]
    return valid, rejected


def write_jsonl(path: Path, records: Iterable[dict[str, Any]]) -> None:
    """Write a whole file atomically (temporary file, then rename)."""
    atomic_write_text(path, "".join(json.dumps(r, sort_keys=True) + "\n" for r in records))


def iter_pairs(records: Iterable[dict[str, Any]]) -> Iterator[tuple[str, str]]:
    for record in records:
        yield str(record["prompt"]), str(record["completion"])
