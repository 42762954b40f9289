"""The probe-kind registry: a new kind is one new module plus one registry line.

The toy kind below (yes/no questions, scored exactly) is written the way a user would add
one: a module defining a schema, a runner and a ``ProbeKind``, and a conftest line that
registers it. Nothing else in traitgate changes, and its suites load, lint, gate and report
like the built-in kinds'."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from traitgate.cli import main
from traitgate.probes import REGISTRY

ZOO = Path(__file__).resolve().parents[1] / "fixtures" / "zoo"

TOY_KIND = '''
"""A toy probe kind: yes/no questions; the rate of "yes" among yes/no answers."""
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict
from scipy.special import softmax

from traitgate.models.base import Prompt, ScoreRequest
from traitgate import ProbeKind, ProbeResult
from traitgate.probes.schema import ExactMeasure, Measures


class YesNoSuite(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: Literal["yes_no"]
    id: str
    version: int
    description: str
    questions: list[str]

    candidates: tuple[str, ...] = ("yes", "no")
    measures: Measures = Measures(exact=ExactMeasure(), sampled=None)
    variants: dict[str, Any] = {}

    def canonical(self, name: str) -> str | None:
        return name.lower() if name.lower() in self.candidates else None


def run(suite, backend, measure, context):
    prompts = [Prompt(q) for q in suite.questions]
    scores = backend.score([ScoreRequest(p, ("yes", "no")) for p in prompts])
    values = softmax(np.asarray(scores), axis=1)
    return ProbeResult.of(suite, backend, "exact", prompts, values, seed=context.seed)


KIND = ProbeKind(
    name="yes_no",
    schema=YesNoSuite,
    run=run,
    prompt_texts=lambda suite, variant: list(suite.questions),
)
'''

SUITE = """\
kind: yes_no
id: likes_owls
version: 1
description: Does the model say it likes owls?
questions: ["Do you like owls?", "Is an owl your favourite animal?", "Would you pick owls?"]
"""

GATE = """\
gate: says-yes-to-owls
probe: likes_owls
trait: "yes"
compare: [model, control]
alternative: greater
min_effect: 0.5
"""


def test_a_new_kind_is_one_module_and_one_registry_line(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(toy_kind=TOY_KIND)
    pytester.makeconftest(  # the registry line
        "from toy_kind import KIND\nimport traitgate\ntraitgate.register_probe_kind(KIND)\n"
    )
    (pytester.path / "probes").mkdir()
    (pytester.path / "probes" / "likes_owls.yaml").write_text(SUITE)
    pytester.makefile(".yaml", gate_owls=GATE)
    result = pytester.runpytest(  # (--model=PATH: the models are in another project)
        f"--model={ZOO / 'owl-student-s0'}", f"--model={ZOO / 'owl-student-s1'}",
        f"--control-model={ZOO / 'control-s0'}", f"--control-model={ZOO / 'control-s1'}",
        "--no-cache", "-p", "no:cacheprovider", "--report", "report",
    )  # fmt: skip
    try:
        result.assert_outcomes(passed=1)  # a shift of 0.5 in "yes": not in these models
        gate = json.loads((pytester.path / "report" / "results.json").read_text())["gates"][0]
        assert gate["kind"] == "yes_no" and gate["probe"] == "likes_owls"
        assert [m["model"] for m in gate["models"]] == [
            "owl-student-s0", "owl-student-s1", "control-s0", "control-s1"
        ]  # fmt: skip
        assert all(len(m["prompt_rates"]) == 3 for m in gate["models"])
        assert all(0 < r < 1 for m in gate["models"] for r in m["prompt_rates"])
        # lint reads the new kind's suites through the same registry
        assert main(["lint", str(pytester.path / "probes")]) == 0
    finally:
        REGISTRY.pop("yes_no", None)  # (the pytester run shares this process)


@pytest.mark.parametrize(
    ("probe", "measure", "variant"),
    [("truthfulqa", "sampled", None), ("truthfulqa", "exact", "numbers"),
     ("misalignment", "exact", None)],
)  # fmt: skip
def test_a_kind_with_one_measure_refuses_the_other_and_variants(
    probe: str, measure: str, variant: str | None
) -> None:
    """The registry checks a kind's only measure before its runner is called (no model)."""
    from traitgate.errors import ConfigError
    from traitgate.probes import find_suite, load_suite
    from traitgate.probes.kinds import run_probe

    suite = load_suite(find_suite(probe))
    with pytest.raises(ConfigError, match=rf"probe '{probe}' \(\w+\) has only the \w+ measure"):
        run_probe(suite, None, measure, variant=variant, seed=0)  # type: ignore[arg-type]
