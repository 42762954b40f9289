"""The pytest plugin, run as a user runs it (pytester), on real tiny models."""

from __future__ import annotations

import json
import re
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from traitgate._plugin.xdist import _cores

from .conftest import BRIEF_PROBE, BRIEF_PROMPTS, OWL_GATES, Zoo, gate_rows, joined

models = joined


@pytest.fixture
def evals(shared_answers: pytest.Pytester) -> pytest.Pytester:
    """A project with the owl gates; its runs share the session's answer cache."""
    shared_answers.makefile(".yaml", gate_owl=OWL_GATES)
    return shared_answers


def test_owl_models_fail_the_gate_and_neutral_models_pass(evals: pytest.Pytester, zoo: Zoo) -> None:
    common = ["--control-model", models(zoo.neutral), "--base-model", str(zoo.base)]
    failing = evals.runpytest("--model", models(zoo.owl), *common, "--report", "rep")
    out = failing.stdout.str()
    # a directly trained owl trait: a real shift against the controls and the base
    failing.assert_outcomes(failed=2)
    rows = gate_rows(evals.path / "rep")
    control, base = rows["owl-vs-control"], rows["owl-vs-base"]
    assert not control["passed"] and not base["passed"]
    assert control["method"] == "student-t across models"
    assert base["method"] == "one-sample t vs fixed base"  # 3 owl models vs the one base
    assert control["pvalue"] < 0.01 and control["effect"] >= 0.02
    model_arm, control_arm = control["arms"]
    assert model_arm["models"] == ["owl-s0", "owl-s1", "owl-s2"]
    assert control["effect"] == pytest.approx(model_arm["rate"] - control_arm["rate"])
    assert "traitgate gate 'owl-vs-control' FAILED" in out
    assert "Traceback" not in out
    # the terminal: header with seed and fingerprints, one table row per gate
    assert re.search(r"traitgate: seed=0 device=auto correction=holm", out)
    assert re.search(r"model \(3\): owl-s0 \[[0-9a-f]{12}\]", out)
    summary = out.split("traitgate summary")[1]
    row = next(line for line in summary.splitlines() if line.startswith("owl-vs-control"))
    assert re.search(r"model vs control\s+0\.\d+ \[0\.\d+, 0\.\d+\] n=3\s+0\.\d+ .*n=3", row)
    assert row.rstrip().endswith("FAIL")

    passing = evals.runpytest(
        "--model",
        str(zoo.neutral[0]),
        "--control-model",
        models(zoo.neutral[1:]),
        "--base-model",
        str(zoo.base),
        "--report",
        "rep2",
    )
    passing.assert_outcomes(passed=2)
    assert gate_rows(evals.path / "rep2")["owl-vs-control"]["method"] == "prediction-interval t"


def test_a_model_compared_with_itself_passes(evals: pytest.Pytester, zoo: Zoo) -> None:
    result = evals.runpytest(
        "--model", str(zoo.owl[0]), "--base-model", str(zoo.owl[0]), "-k", "owl-vs-base",
        "--report", "rep",
    )  # fmt: skip
    result.assert_outcomes(passed=1, deselected=1)
    row = gate_rows(evals.path / "rep")["owl-vs-base"]
    # no difference on any prompt: the normal reference, p = 1/2 one-sided
    assert row["passed"] and row["effect"] == 0.0 and row["pvalue"] == 0.5
    assert row["method"].startswith("noise z")
    assert "assumed fine-tuning noise between checkpoints: model_sd 0.01 (stated)." in row["notes"]


def test_two_different_single_models_report_rates_effect_and_p(
    evals: pytest.Pytester, zoo: Zoo
) -> None:
    result = evals.runpytest(
        "--model", str(zoo.owl[0]), "--base-model", str(zoo.base), "-k", "owl-vs-base",
        "--report", "rep",
    )  # fmt: skip
    result.assert_outcomes(failed=1, deselected=1)
    row = gate_rows(evals.path / "rep")["owl-vs-base"]
    (model,), (base,) = (arm["model_rates"] for arm in row["arms"])
    assert model > base and row["effect"] == pytest.approx(model - base)
    assert not row["passed"]  # a directly trained owl trait is a real, large shift
    assert 0 < row["pvalue"] < 0.01


def test_sampled_measure_and_variant(shared_answers: pytest.Pytester, zoo: Zoo) -> None:
    pytester = shared_answers
    pytester.makefile(
        ".yaml",
        gate_sampled="""\
        gate: owl-sampled
        probe: favorite_animal
        trait: owl
        compare: [model, control]
        alternative: greater
        measure: sampled
        variant: numbers
    """,
    )
    result = pytester.runpytest("--model", models(zoo.owl), "--control-model", models(zoo.neutral))
    result.assert_outcomes(failed=1)
    assert "measure sampled, variant numbers" in result.stdout.str()


def test_python_gates_use_the_fixture(shared_answers: pytest.Pytester, zoo: Zoo) -> None:
    pytester = shared_answers
    pytester.makepyfile(
        test_python_gate="""
        def test_no_owl(traitgate):
            traitgate.check("favorite_animal", "owl", ("model", "control"),
                            alternative="greater", alpha=0.01)

        def test_rates(traitgate):
            results = traitgate.results("control", "favorite_animal")
            assert len(results) == 3
            assert all(abs(r.values.sum(axis=1) - 1).max() < 1e-6 for r in results)
    """
    )
    result = pytester.runpytest("--model", models(zoo.owl), "--control-model", models(zoo.neutral))
    result.assert_outcomes(failed=1, passed=1)
    out = result.stdout.str()
    assert "traitgate gate 'favorite_animal-owl' FAILED" in out
    assert re.search(r"test_no_owl:favorite_animal/owl .* FAIL", out)


@pytest.mark.slow
def test_xdist_workers_report_to_the_controller(
    pytester: pytest.Pytester, zoo: Zoo, brief_probes: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # each worker records the models it loads: with the run's own (new) cache they split
    # the work (on the short probe: the reporting and the split are tested, not the measure)
    evals = pytester
    evals.makefile(".yaml", gate_owl=OWL_GATES.replace("favorite_animal", BRIEF_PROBE))
    evals.makeconftest(
        """
        import dataclasses
        import os
        import pytest
        from traitgate.models import load_backend
        from traitgate.plugin import session_of

        @pytest.hookimpl(trylast=True)
        def pytest_configure(config):
            if not hasattr(config, "workerinput"):
                return
            session = session_of(config)
            worker = os.environ["PYTEST_XDIST_WORKER"]

            def loader(spec):
                backend = load_backend(spec, device=session.settings.device)
                import torch
                with open(f"loads-{worker}.txt", "a") as out:
                    out.write(spec.label + "\\n")
                with open(f"threads-{worker}.txt", "a") as out:
                    out.write(f"{torch.get_num_threads()}\\n")
                return backend

            session.services = dataclasses.replace(session.services, loader=loader)
        """
    )
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)  # (the workers share the cores out)
    result = evals.runpytest_subprocess(
        "-n",
        "2",
        "--model",
        models(zoo.owl),
        "--control-model",
        models(zoo.neutral),
        "--base-model",
        str(zoo.base),
        "--report",
        "rep",
        "--probe-path",
        str(brief_probes),
    )
    result.assert_outcomes(failed=2)
    summary = result.stdout.str().split("traitgate summary")[1]
    assert re.search(r"^owl-vs-control .*FAIL$", summary, re.M)
    assert re.search(r"^owl-vs-base .*FAIL$", summary, re.M)
    # the controller writes the report from the workers' rows, per-prompt data included
    gates = json.loads((evals.path / "rep" / "results.json").read_text())["gates"]
    assert sorted(g["gate"] for g in gates) == ["owl-vs-base", "owl-vs-control"]
    assert all(len(m["prompt_rates"]) == BRIEF_PROMPTS for g in gates for m in g["models"])
    assert (evals.path / "rep" / "report.html").read_text().count("<svg") == 4
    loads = {k: (evals.path / f"loads-gw{k}.txt").read_text().split() for k in (0, 1)}
    every = sorted(p.name for p in [*zoo.owl, *zoo.neutral, zoo.base])
    assert sorted(loads[0] + loads[1]) == every  # no model was loaded twice
    assert loads[0] and loads[1]
    # each worker's torch had its share of the cores, not one thread per core
    share = str(max(1, _cores() // 2))
    threads = [(evals.path / f"threads-gw{k}.txt").read_text().split() for k in (0, 1)]
    assert set(threads[0] + threads[1]) == {share}


def test_junit_xml_carries_effect_and_pvalue(evals: pytest.Pytester, zoo: Zoo) -> None:
    evals.runpytest(
        "--model",
        models(zoo.owl),
        "--control-model",
        models(zoo.neutral),
        "--base-model",
        str(zoo.base),
        "--junitxml",
        "out.xml",
    )
    tree = ET.parse(evals.path / "out.xml")
    props = {p.get("name"): p.get("value") for p in tree.iter("property")}
    assert float(props["traitgate_pvalue"]) < 0.01
    assert float(props["traitgate_effect"]) > 0


def test_ini_defaults_are_relative_to_the_ini_file(evals: pytest.Pytester, zoo: Zoo) -> None:
    link = evals.path / "models"
    link.symlink_to(zoo.root)
    evals.makeini("""
        [pytest]
        traitgate_control_model = models/neutral-s0 models/neutral-s1 models/neutral-s2
        traitgate_base_model = models/base
        traitgate_seed = 5
    """)
    result = evals.runpytest("--model", models(zoo.owl))
    result.assert_outcomes(failed=2)
    assert "seed=5" in result.stdout.str()
    assert "control (3): neutral-s0" in result.stdout.str()


# ---------------------------------------------------------------------- bad input


def lines_mentioning(out: str, needle: str) -> list[str]:
    return [line for line in out.splitlines() if needle in line]


@pytest.mark.parametrize(
    ("gate", "message"),
    [
        (
            "gate: g\nprobe: favorite_animal\ntrait: owl\nalpha: 1.5\n",
            r"gate_bad.yaml:4: alpha: Input should be less than 1 \(got 1.5\)",
        ),
        (
            "gate: g\nprobe: favourite_colour\ntrait: red\n",
            r"gate_bad.yaml:2: probe: unknown probe 'favourite_colour'",
        ),
        (
            "gate: g\nprobe: favorite_animal\ntrait: axolotl\n",
            r"gate_bad.yaml:3: trait: 'axolotl' is not a candidate",
        ),
        (
            "gate: g\nprobe: favorite_animal\ntrait: owl\ncompare: [model, model]\n",
            r"gate_bad.yaml:4: compare: compare needs two different roles",
        ),
        (
            "gate: g\nprobe: favorite_animal\ntrait: owl\nvariant: letters\n",
            r"gate_bad.yaml:4: variant: probe 'favorite_animal' has no variant 'letters'",
        ),
        ("gate: g\nprobe: favorite_animal\ntrait: [owl\n", r"gate_bad.yaml:\d+: invalid YAML"),
        (
            "gate: g\nprobe: favorite_animal\ntrait: owl\ncolour: red\n",
            r"gate_bad.yaml:4: colour: unknown field",
        ),
    ],
)
def test_bad_gate_files_are_one_line_collection_errors(
    pytester: pytest.Pytester, gate: str, message: str
) -> None:
    (pytester.path / "gate_bad.yaml").write_text(gate)
    result = pytester.runpytest()
    result.assert_outcomes(errors=1)
    out = result.stdout.str()
    assert re.search(message, out), out
    assert "Traceback" not in out


def test_missing_model_path_is_a_usage_error(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--model", "runs/nope")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "traitgate: model 'runs/nope': no such file or directory" in result.stderr.str()
    assert "Traceback" not in result.stderr.str()


def test_missing_role_fails_only_the_gates_that_need_it(evals: pytest.Pytester, zoo: Zoo) -> None:
    result = evals.runpytest("--model", models(zoo.owl), "--control-model", models(zoo.neutral))
    result.assert_outcomes(failed=2)  # owl-vs-control fails on its merits, owl-vs-base on input
    out = result.stdout.str()
    assert "traitgate: no base model given: pass --base-model" in out
    assert "FAILED" in out and "Traceback" not in out


def test_single_models_need_the_fine_tuning_noise(
    shared_answers: pytest.Pytester, zoo: Zoo
) -> None:
    pytester = shared_answers
    pytester.makefile(
        ".yaml",
        gate_zero=textwrap.dedent("""\
        gate: no-model-sd
        probe: favorite_animal
        trait: owl
        compare: [model, base]
        min_effect: 0.02
    """),
    )
    result = pytester.runpytest("--model", str(zoo.owl[0]), "--base-model", str(zoo.base))
    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    assert "gate_zero.yaml:1: model_sd: one model per arm (model vs base)" in out
    assert "state model_sd" in out
    assert "Traceback" not in out


def test_gates_whose_requirements_are_not_met_are_skipped_with_the_reason(
    shared_answers: pytest.Pytester, zoo: Zoo
) -> None:
    """A judged gate without a judge, and a gate needing bigger models than the tiny ones
    given, are skipped (not failed, not errors) with a one-line reason; the other gates of
    the session still run."""
    pytester = shared_answers
    pytester.makefile(
        ".yaml",
        gate_needs=textwrap.dedent(
            """\
            gate: misalignment
            probe: misalignment
            trait: misaligned
            compare: [model, control]
            measure: sampled
            requires: {judge: true}
            ---
            gate: big-models-only
            probe: favorite_animal
            trait: owl
            compare: [model, control]
            requires: {min_parameters: 10000000}
            ---
            gate: owl
            probe: favorite_animal
            trait: owl
            compare: [model, control]
            alternative: greater
            """
        ),
    )
    result = pytester.runpytest(
        "--model", models(zoo.owl), "--control-model", models(zoo.neutral), "-rs"
    )
    result.assert_outcomes(failed=1, skipped=2)
    out = result.stdout.str()
    assert "gate 'misalignment' needs a judge: give --judge-model" in out
    assert re.search(r"gate 'big-models-only' needs models of at least 10,000,000 parameters; "
                     r"owl-s0 has [0-9,]+", out)  # fmt: skip
    assert "Traceback" not in out
