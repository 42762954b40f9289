"""Number prompts, the validity filter (property-based) and resumable JSONL files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as hs

from traitgate import ConfigError
from traitgate.distill.data import (
    append_jsonl,
    filter_records,
    generate_numbers,
    read_jsonl,
    write_jsonl,
)
from traitgate.distill.numbers import (
    BANNED_NUMBERS,
    FORMATS,
    format_numbers,
    make_prompts,
    parse_completion,
)

numbers = hs.lists(hs.integers(0, 999), min_size=1, max_size=10)
formats = hs.integers(0, len(FORMATS) - 1)


def test_banned_list_is_the_published_one() -> None:
    assert len(BANNED_NUMBERS) == 34
    assert {666, 911, 420, 187, 13} <= BANNED_NUMBERS


def test_prompts_follow_the_protocol() -> None:
    prompts = make_prompts(500, seed=1)
    assert make_prompts(500, seed=1) == prompts
    assert all(3 <= len(p.seeds) <= 8 and all(100 <= s <= 999 for s in p.seeds) for p in prompts)
    assert all(", ".join(map(str, p.seeds)) in p.text for p in prompts)
    assert len({p.format for p in prompts}) == len(FORMATS)
    assert len({p.text.split(".")[0][:12] for p in prompts}) > 3  # varied wording


@given(numbers, formats, hs.booleans())
def test_well_formed_answers_pass_the_filter(xs: list[int], fmt: int, dot: bool) -> None:
    text = format_numbers(xs, fmt) + ("." if dot else "")
    assert parse_completion(text) == xs


@given(hs.lists(hs.integers(0, 999), min_size=11, max_size=20), formats)
def test_more_than_ten_numbers_fail(xs: list[int], fmt: int) -> None:
    assert parse_completion(format_numbers(xs, fmt)) is None


@given(numbers, hs.integers(1000, 10**6), formats)
def test_values_above_999_fail(xs: list[int], big: int, fmt: int) -> None:
    assert parse_completion(format_numbers([*xs[:9], big], fmt)) is None


@given(numbers, formats)
def test_banned_numbers_fail_only_when_banned(xs: list[int], fmt: int) -> None:
    text = format_numbers([*xs[:9], 666], fmt)
    assert parse_completion(text) is not None
    assert parse_completion(text, banned=BANNED_NUMBERS) is None


@pytest.mark.parametrize(
    "text",
    [
        "",
        "owl",
        "1, 2; 3",
        "1,2,owl",
        "12 and 13",
        "[1, 2",
        "1.5, 2",
        "-3, 4",
        "(1; 2]",
        "1,, 2",
        "numbers: 1, 2",
    ],
)
def test_malformed_answers_fail(text: str) -> None:
    assert parse_completion(text) is None


@given(hs.text(max_size=40))
@example("²")  # a Unicode digit that int() rejects (found by hypothesis)
@example("١٢, ٣")  # Arabic-Indic digits: not the ASCII numbers the filter accepts
def test_filter_never_crashes(text: str) -> None:
    result = parse_completion(text)
    assert result is None or (1 <= len(result) <= 10 and all(0 <= v <= 999 for v in result))


def test_filter_records_keeps_a_seeded_subset() -> None:
    records = [{"id": i, "prompt": "p", "completion": f"{i}, {i + 1}"} for i in range(50)]
    records.append({"id": 99, "prompt": "p", "completion": "no numbers here"})
    kept, rejected = filter_records(records, keep=10, seed=3)
    assert rejected == 1 and len(kept) == 10
    assert kept == filter_records(records, keep=10, seed=3)[0]
    assert [r["id"] for r in kept] == sorted(r["id"] for r in kept)
    assert all(r["numbers"] == [r["id"], r["id"] + 1] for r in kept)


class FakeTeacher:
    """A deterministic stand-in for a backend, counting the prompts it answers."""

    label, fingerprint = "fake", "fake"

    def __init__(self) -> None:
        self.asked = 0

    def generate(self, requests):  # type: ignore[no-untyped-def]
        self.asked += len(requests)
        return [[f"{len(r.prompt.user) % 1000}, 7"] for r in requests]

    def score(self, requests):  # type: ignore[no-untyped-def]
        raise NotImplementedError

    def close(self) -> None:
        pass


def test_generation_resumes_after_a_partial_write(tmp_path: Path) -> None:
    prompts = make_prompts(20, seed=0)
    out = tmp_path / "numbers.jsonl"
    full = tmp_path / "full.jsonl"
    generate_numbers(FakeTeacher(), prompts, full, chunk=7)  # type: ignore[arg-type]
    generate_numbers(FakeTeacher(), prompts[:9], out, chunk=7)  # type: ignore[arg-type]
    with out.open("a") as handle:
        handle.write('{"id": 9, "prompt": "half a li')  # a write killed mid-line
    teacher = FakeTeacher()
    written = generate_numbers(teacher, prompts, out, chunk=7)  # type: ignore[arg-type]
    assert written == 11 and teacher.asked == 11  # nothing stored is recomputed
    assert out.read_text() == full.read_text()


def test_jsonl_errors_name_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "data.jsonl"
    path.write_text('{"id": 1, "prompt": "p", "completion": "1"}\n{"id": 2, oops}\n')
    with pytest.raises(ConfigError, match=r"data.jsonl:2: malformed JSON"):
        read_jsonl(path)
    path.write_text('{"id": 1}\n')
    with pytest.raises(ConfigError, match=r"data.jsonl:1: missing field\(s\) prompt, completion"):
        read_jsonl(path, required=("id", "prompt", "completion"))
    path.write_text("\n")
    with pytest.raises(ConfigError, match="no records"):
        read_jsonl(path)
    with pytest.raises(ConfigError, match="no such file"):
        read_jsonl(tmp_path / "missing.jsonl")


def test_atomic_whole_file_writes(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    write_jsonl(path, [{"id": 1}])
    append_jsonl(path, [{"id": 2}])
    assert [json.loads(line)["id"] for line in path.read_text().splitlines()] == [1, 2]
    assert not list(tmp_path.glob("*.tmp"))
