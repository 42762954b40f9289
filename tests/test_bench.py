"""bench/run.py stays runnable: the exact-vs-sampled benchmark on the committed zoo (the
comparisons with inspect-ai and lm-eval need the bench extra and minutes; `make bench`)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_run", ROOT / "bench" / "run.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_run"] = module
    spec.loader.exec_module(module)
    return module


def test_exact_vs_sampled_on_the_zoo(bench: ModuleType, tmp_path: Path) -> None:
    out = tmp_path / "c.json"
    # (20 samples per prompt at least: the zoo names a candidate in about half its answers,
    # and a prompt where no sampled answer names one has no rate)
    argv = ["--only", "c", "--sample-grid", "20", "40", "--replicates", "2", "--out", str(out)]
    assert bench.main(argv) == 0
    c = json.loads(out.read_text())["c"]
    # the zoo's students carry the teacher's owl preference: the exact measure finds it
    assert c["exact"]["p"] < 0.01
    for scheme in ("shared", "independent"):
        grid = c[scheme]["grid"]
        assert set(grid) == {"20", "40"}
        # more samples cost more model tokens
        assert grid["20"]["tokens"] < grid["40"]["tokens"]
        if c[scheme]["samples_needed"] is None:
            assert c[scheme]["tokens_ratio"] is None


def test_children_get_the_same_options_for_one_benchmark(bench: ModuleType) -> None:
    argv = ["--only", "a", "b", "--out", "x.json", "--samples", "10", "--device", "cpu"]
    assert bench.strip_selection(argv) == ["--samples", "10", "--device", "cpu"]


def test_the_scale_benchmark_runs_a_tiny_shape(bench: ModuleType, tmp_path: Path) -> None:
    """bench/run.py --shape (bench/scale.py) on a tiny Qwen2 shape on the CPU, so the GPU
    benchmark cannot rot: every part measured, the table printed."""
    out = tmp_path / "scale.json"
    argv = ["--shape", "tiny", "--device", "cpu", "--prompts", "3", "--samples", "4",
            "--new-tokens", "4", "--mc-items", "10", "--batch-size", "8",
            "--out", str(out)]  # fmt: skip
    assert bench.main(argv) == 0
    report = json.loads(out.read_text())
    assert report["shape"] == "tiny" and report["prefill_limit_tokens_per_s"] > 0
    a, b = report["a"], report["b"]
    assert a["ours_tokens_per_s"] > 0 and a["plain_tokens_per_s"] > 0
    assert a["ours_first_tokens_per_s"] > 0 and a["plain_first_tokens_per_s"] > 0
    assert a["batch_size"] == report["start_batch_size"] == 8  # no out-of-memory on a CPU
    for part in ("exact", "mc2"):
        assert b[part]["tokens"] > 0 and b[part]["share_of_limit"] > 0
