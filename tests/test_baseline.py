"""Stored baselines, used as a release engineer uses them: record once, gate many times."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from traitgate.baseline import read_entry
from traitgate.models.base import SAMPLER
from traitgate.probes import builtin_probe_dir

from .conftest import BRIEF_PROBE, OWL_GATES, Zoo, joined

ZOO = Path(__file__).resolve().parents[1] / "fixtures" / "zoo"


@pytest.fixture
def evals(shared_answers: pytest.Pytester) -> pytest.Pytester:
    """A project with owl gates; its runs share the session's answer cache (the tests that
    count computed answers give their own --cache-dir)."""
    shared_answers.makefile(".yaml", gate_owl=OWL_GATES)
    return shared_answers


def record(evals: pytest.Pytester, zoo: Zoo, *extra: str) -> pytest.RunResult:
    return evals.runpytest(
        "--baseline-update", "baselines", "--base-model", str(zoo.base),
        "--control-model", joined(zoo.neutral), "-rs", *extra,
    )  # fmt: skip


def test_record_then_gate_only_the_candidate(evals: pytest.Pytester, zoo: Zoo) -> None:
    recorded = record(evals, zoo)
    # no --model: the comparators are recorded, no gate is evaluated (skipped, not passed)
    recorded.assert_outcomes(skipped=2)
    assert "recorded 1 baseline file(s)" in recorded.stdout.str()  # (the skip reason, -rs)
    # said in the summary too, so that a run without -rs says what it recorded
    assert (
        f"baseline recorded: 1 file(s) in {evals.path / 'baselines'} "
        "(base: base; control: neutral-s0, neutral-s1, neutral-s2)"
    ) in recorded.stdout.str()
    entry = read_entry(evals.path / "baselines" / "favorite_animal.exact.json")
    assert (entry.probe, entry.probe_version, entry.measure) == ("favorite_animal", "2", "exact")
    assert [m["model"] for m in entry.roles["control"]] == [
        "neutral-s0",
        "neutral-s1",
        "neutral-s2",
    ]
    assert [m["model"] for m in entry.roles["base"]] == ["base"]
    assert all(re.fullmatch(r"[0-9a-f]{16}", m["fingerprint"]) for m in entry.roles["control"])

    # gating against the baseline loads and computes only the candidate
    gated = evals.runpytest(
        "--model", joined(zoo.owl), "--baseline", "baselines", "--cache-dir", "c",
        "--report", "rep",
    )  # fmt: skip
    gated.assert_outcomes(failed=2)
    out = gated.stdout.str()
    assert "control: from baseline" in out and "base: from baseline" in out
    assert "compared with base: base; control: neutral-s0, neutral-s1, neutral-s2" in out
    assert "cache: 0 answer(s) read, 108 computed" in out  # 3 candidates x 36 prompts
    # the same verdicts and numbers as gating against the live models
    live = evals.runpytest(
        "--model", joined(zoo.owl), "--base-model", str(zoo.base),
        "--control-model", joined(zoo.neutral), "--cache-dir", "c", "--report", "live",
    )  # fmt: skip
    live.assert_outcomes(failed=2)
    from_baseline = json.loads((evals.path / "rep" / "results.json").read_text())["gates"]
    from_models = json.loads((evals.path / "live" / "results.json").read_text())["gates"]
    for a, b in zip(from_baseline, from_models, strict=True):
        assert (a["effect"], a["pvalue"], a["passed"]) == (b["effect"], b["pvalue"], b["passed"])


def test_recording_is_explicit_and_merges_roles(evals: pytest.Pytester, zoo: Zoo) -> None:
    base_only = evals.runpytest(
        "--baseline-update", "b", "--base-model", str(zoo.base), "-k", "base"
    )
    base_only.assert_outcomes(skipped=1, deselected=1)
    path = evals.path / "b" / "favorite_animal.exact.json"
    assert sorted(read_entry(path).roles) == ["base"]
    # recording the controls later keeps the base already stored
    evals.runpytest(
        "--baseline-update", "b", "--control-model", joined(zoo.neutral)
    ).assert_outcomes(skipped=2)
    assert sorted(read_entry(path).roles) == ["base", "control"]
    # a plain run never writes it
    before = path.read_bytes()
    evals.runpytest("--model", str(zoo.owl[0]), "--baseline", "b")
    assert path.read_bytes() == before


def test_a_probe_version_change_asks_to_rerecord(evals: pytest.Pytester, zoo: Zoo) -> None:
    record(evals, zoo).assert_outcomes(skipped=2)
    probes = evals.path / "myprobes"
    probes.mkdir()
    source = builtin_probe_dir()
    assert source is not None
    text = (source / "favorite_animal.yaml").read_text().replace("version: 2", "version: 3")
    (probes / "favorite_animal.yaml").write_text(text)
    result = evals.runpytest(
        "--model", str(zoo.owl[0]), "--baseline", "baselines", "--probe-path", str(probes),
    )  # fmt: skip
    result.assert_outcomes(failed=2)
    out = result.stdout.str()
    assert re.search(
        r"baselines/favorite_animal\.exact\.json: recorded with probe 'favorite_animal' version "
        r"2, the probe is now version 3; re-record with --baseline-update",
        out,
    )
    assert "Traceback" not in out


def test_missing_entries_and_roles_are_named(evals: pytest.Pytester, zoo: Zoo) -> None:
    evals.runpytest(
        "--baseline-update", "b", "--control-model", joined(zoo.neutral),
        "-k", "control",
    ).assert_outcomes(skipped=1, deselected=1)  # fmt: skip
    result = evals.runpytest("--model", str(zoo.owl[0]), "--baseline", "b")
    result.assert_outcomes(passed=0, failed=2)
    out = result.stdout.str()
    assert "has no base results (recorded: control)" in out
    # a gate on another measure has no entry at all
    evals.makefile(
        ".yaml",
        gate_sampled="gate: s\nprobe: favorite_animal\ntrait: owl\nmeasure: sampled\n"
        "min_effect: 0.01\n",
    )
    other = evals.runpytest("--model", str(zoo.owl[0]), "--baseline", "b", "-k", "s")
    assert "has no entry for probe 'favorite_animal' (measure sampled)" in other.stdout.str()


def test_unused_and_stale_entries_are_reported(evals: pytest.Pytester, zoo: Zoo) -> None:
    record(evals, zoo).assert_outcomes(skipped=2)
    directory = evals.path / "baselines"
    data = json.loads((directory / "favorite_animal.exact.json").read_text())
    (directory / "favorite_animal.sampled.json").write_text(
        json.dumps({**data, "measure": "sampled", "sampler": SAMPLER, "roles": {}})
    )
    # recorded before samplers had versions: sampler 1
    (directory / "favorite_animal.sampled.numbers.json").write_text(
        json.dumps({**data, "measure": "sampled", "variant": "numbers", "roles": {}})
    )
    (directory / "old_probe.exact.json").write_text(json.dumps({**data, "probe": "old_probe"}))
    stale = {**data, "probe": "favorite_tree", "probe_version": "0", "roles": {}}
    (directory / "favorite_tree.exact.json").write_text(json.dumps(stale))
    result = evals.runpytest("--model", str(zoo.owl[0]), "--baseline", "baselines")
    out = result.stdout.str()
    assert "unused: favorite_animal.sampled.json" in out
    assert "stale: old_probe.exact.json (probe 'old_probe' not found)" in out
    assert "stale: favorite_tree.exact.json (recorded for version 0, probe is now version 2)" in out
    assert (
        f"stale: favorite_animal.sampled.numbers.json (drawn by sampler 1, traitgate now "
        f"samples with {SAMPLER})"
    ) in out


def test_a_sampled_baseline_from_another_sampler_asks_to_rerecord(
    shared_answers: pytest.Pytester, brief_probes: Path
) -> None:
    """Samples drawn by another version of the sampler are not compared with new ones (nor
    kept when the file is re-recorded). (The committed zoo: its base answers the animal
    questions when sampled, the `zoo` fixture's does not.)"""
    evals = shared_answers
    gate = f"probe: {BRIEF_PROBE}\ntrait: owl\nmeasure: sampled\nmin_effect: 0.01\n"
    evals.makefile(
        ".yaml",
        gate_s=f"gate: vs_control\ncompare: [model, control]\n{gate}---\n"
        f"gate: vs_base\ncompare: [model, base]\nmodel_sd: 0.01\n{gate}",
    )
    probes = ("--probe-path", str(brief_probes))
    controls = joined([ZOO / "control-s0", ZOO / "control-s1"])
    evals.runpytest(
        "--baseline-update", "b", f"--control-model={controls}", f"--base-model={ZOO / 'base'}",
        *probes,
    ).assert_outcomes(skipped=2)  # fmt: skip
    path = evals.path / "b" / f"{BRIEF_PROBE}.sampled.json"
    data = json.loads(path.read_text())
    assert data["sampler"] == SAMPLER == read_entry(path).sampler
    del data["sampler"]  # the same file as written before samplers had versions
    path.write_text(json.dumps(data))
    student = ZOO / "owl-student-s0"
    result = evals.runpytest(f"--model={student}", "--baseline", "b", *probes)
    result.assert_outcomes(failed=2)
    out = result.stdout.str()
    assert (
        f"its answers were drawn by sampler 1 and this traitgate samples with sampler {SAMPLER}"
        in out
    )
    assert "re-record with --baseline-update" in out and "Traceback" not in out
    # recording the controls again does not keep the old file's base
    evals.runpytest(
        "--baseline-update", "b", f"--control-model={controls}", "-k", "vs_control", *probes,
    ).assert_outcomes(skipped=1, deselected=1)  # fmt: skip
    assert sorted(read_entry(path).roles) == ["control"]


def test_baseline_options_conflict_with_live_comparators(evals: pytest.Pytester, zoo: Zoo) -> None:
    (evals.path / "b").mkdir()
    both = evals.runpytest("--baseline", "b", "--control-model", str(zoo.neutral[0]))
    assert both.ret == pytest.ExitCode.USAGE_ERROR
    assert "--control-model and --baseline both give the control role" in both.stderr.str()
    two = evals.runpytest("--baseline", "b", "--baseline-update", "b")
    assert "cannot be combined" in two.stderr.str()
    missing = evals.runpytest("--baseline", "nowhere", "--model", str(zoo.owl[0]))
    assert missing.ret == pytest.ExitCode.USAGE_ERROR
    assert "--baseline" in missing.stderr.str() and "no such directory" in missing.stderr.str()
