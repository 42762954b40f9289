"""Progress: a bar on a terminal, one line per (model, probe) in CI logs, nothing under -q."""

from __future__ import annotations

import io
import re

import pytest

from traitgate.progress import BarTask, LineTask

from .conftest import Zoo

GATE = "gate: g\nprobe: favorite_animal\ntrait: owl\nmin_effect: 0.01\n"


def test_bar_shows_prompts_rate_and_cached_count() -> None:
    stream = io.StringIO()
    task = BarTask("m probe@1 generate", 10, stream)
    task.advance(4, 400, cached=True)
    task.advance(6, 600, cached=False)
    task.close()
    text = stream.getvalue()
    assert "m probe@1 generate" in text and "10/10" in text
    assert re.search(r"out/s=[\d,]+", text) and "cached=4" in text


def test_line_summarises_a_task() -> None:
    lines: list[str] = []
    task = LineTask("m p@1 score", 36, lines.append)
    task.advance(30, 30 * 42, cached=False)
    task.advance(6, 6 * 42, cached=True)
    task.close()
    (line,) = lines
    assert re.fullmatch(
        r"m p@1 score: 36/36 prompts in \d+\.\ds \([\d,]+ outputs/s\), 6 from cache", line
    )


def test_plugin_prints_one_line_per_model_and_probe_and_is_quiet_under_q(
    pytester: pytest.Pytester, zoo: Zoo
) -> None:
    pytester.makefile(".yaml", gate_a=GATE)
    args = ["--model", str(zoo.owl[0]), "--control-model", str(zoo.neutral[0]), "--no-cache"]
    out = pytester.runpytest(*args).stdout.str()
    assert re.search(r"traitgate: \[1/2\] owl-s0: 1 probe run\(s\)", out)
    assert re.search(r"owl-s0 favorite_animal@2 score: 36/36 prompts in [\d.]+s", out)
    assert re.search(r"neutral-s0 favorite_animal@2 score: 36/36 prompts", out)
    quiet = pytester.runpytest(*args, "-q").stdout.str()
    assert "prompts in" not in quiet and "probe run(s)" not in quiet
