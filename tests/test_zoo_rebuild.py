"""Rebuild a reduced zoo with the documented `traitgate distill` commands (those of
fixtures/build_zoo.py, started from the committed bases) and check, with traitgate's own
statistics, that:

- the rebuilt teachers are the committed ones (same commands, same seeds: identical weights
  on the same machine and torch build; elsewhere their owl rates agree within
  REBUILD_TOLERANCE);
- students distilled on the owl teacher's numbers (number tokens only) acquire its owl
  preference against controls distilled from the neutral teacher, and owl is the animal
  that moved most (specificity rank 1; measured: +0.010, p = 3e-6, specificity p = 0.02),
  as in the committed zoo.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from traitgate import SessionSettings, TraitSession, parse_model_specs
from traitgate.models import load_backend
from traitgate.probes.loader import find_suite, load_suite
from traitgate.probes.preference import run_preference

ROOT = Path(__file__).resolve().parents[1]
ZOO = ROOT / "fixtures" / "zoo"
# same machine and torch build: the teachers come out identical; across CPUs and builds,
# small numeric drift
REBUILD_TOLERANCE = 2e-3


def _build_zoo():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("build_zoo", ROOT / "fixtures" / "build_zoo.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["build_zoo"] = module  # (its dataclasses look their module up)
    spec.loader.exec_module(module)
    return module


def _same_weights(a: Path, b: Path) -> bool:
    from safetensors.torch import load_file

    left, right = load_file(a / "model.safetensors"), load_file(b / "model.safetensors")
    return left.keys() == right.keys() and all(left[k].equal(right[k]) for k in left)


def _owl_rate(model: Path) -> float:
    suite = load_suite(find_suite("favorite_animal"))
    backend = load_backend(parse_model_specs([str(model)])[0], device="cpu")
    return float(run_preference(suite, backend, "exact").trait_rates("owl").mean())  # type: ignore[arg-type]


@pytest.mark.slow
def test_rebuilt_zoo_reproduces_teachers_and_transfer(tmp_path: Path) -> None:
    assert (ZOO / "base").is_dir(), "fixtures/zoo is committed; rebuild: fixtures/build_zoo.py"
    build = _build_zoo()
    # fewer prompts, students and steps than the full build, to fit CI (the teachers' numbers
    # pass the filter about 70% of the time: 1,200 prompts give the 800 kept)
    reduced = build.Recipe(
        traits=("owl",),
        students=3,
        controls=3,
        alt_students=0,
        prompts=1200,
        keep=800,
        student_steps=60,
        batch_size=32,
    )
    build.run(build.commands(tmp_path / "zoo", tmp_path / "data", reduced, bases=ZOO))
    for teacher in ("teacher-owl", "teacher-neutral"):
        if _same_weights(tmp_path / "zoo" / teacher, ZOO / teacher):
            continue  # (the same rates, by construction)
        rebuilt, committed = _owl_rate(tmp_path / "zoo" / teacher), _owl_rate(ZOO / teacher)
        assert abs(rebuilt - committed) < REBUILD_TOLERANCE, (teacher, rebuilt, committed)
    session = TraitSession(
        roles={
            "model": parse_model_specs([str(tmp_path / "zoo" / "owl-student-s*")]),
            "control": parse_model_specs([str(tmp_path / "zoo" / "control-s*")]),
        },
        settings=SessionSettings(device="cpu"),
    )
    result = session.compare(
        "favorite_animal", "owl", alternative="greater", min_effect=0.003, specific="top"
    )
    assert not result.passed, result.explain()  # transfer detected, owl the most-moved
    assert result.specificity is not None and result.specificity.rank == 1, result.explain()


def test_the_readme_lists_exactly_the_build_commands() -> None:
    """fixtures/README.md's command list is the build (a user following it gets the zoo)."""
    import shlex

    build = _build_zoo()
    readme = (ROOT / "fixtures" / "README.md").read_text()
    listed = [shlex.split(line) for line in readme.splitlines() if line.startswith("traitgate ")]
    assert listed == build.commands(Path("zoo"), Path("zoo-data"))
