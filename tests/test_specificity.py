"""Specificity on the committed zoo: students of a teacher (trained only on its numbers)
against controls distilled from the neutral teacher. Other animals move too; the teacher's
trait must be reported as the one that moved most, with its specificity p-value, and the
other trait's gate must not fail."""

from __future__ import annotations

from pathlib import Path

import pytest

from traitgate import SessionServices, TraitSession, parse_model_specs
from traitgate.cache import Cache

ZOO = Path(__file__).resolve().parents[1] / "fixtures" / "zoo"


@pytest.mark.parametrize(("trait", "other"), [("owl", "wolf"), ("wolf", "owl")])
def test_on_the_zoo_the_teachers_trait_is_the_most_shifted_animal(
    trait: str, other: str, session_answers: Cache
) -> None:
    session = TraitSession(
        roles={
            "model": parse_model_specs([str(ZOO / f"{trait}-student-s*")]),
            "control": parse_model_specs([str(ZOO / "control-s[0-3]")]),
        },
        services=SessionServices(cache=session_answers),
    )
    unrelated = session.compare(
        "favorite_animal", other, alternative="greater", min_effect=0.003, specific="top"
    )
    assert unrelated.passed, unrelated.explain()
    result = session.compare(
        "favorite_animal", trait, alternative="greater", min_effect=0.003, specific="top"
    )
    spec = result.specificity
    assert spec is not None
    assert spec.rank == 1 and spec.effects[0][0] == trait
    assert len(spec.effects) == 21
    assert not result.passed  # significant, large enough, and the most-moved animal
    # on zoo v2 the trait moves most, but not significantly more than the others at 0.01
    # (fixtures/README.md): `specific: true` lets these gates pass
    strict = session.compare(
        "favorite_animal", trait, alternative="greater", min_effect=0.003, specific=True
    )
    assert strict.specificity is not None and strict.specificity.pvalue >= 0.01
    assert strict.passed and "significant but not specific" in strict.reason
    text = result.explain()
    assert "specificity (required to fail: rank 1): rank 1 of 21 candidates" in text
    assert f"specificity p = {spec.pvalue:.3g}" in text


def test_low_coverage_of_the_exact_measure_is_reported_and_warned_about(
    session_answers: Cache,
) -> None:
    import dataclasses

    import numpy as np

    session = TraitSession(
        roles={
            "model": parse_model_specs([str(ZOO / "owl-student-s0"), str(ZOO / "owl-student-s1")]),
            "control": parse_model_specs([str(ZOO / "control-s0"), str(ZOO / "control-s1")]),
        },
        services=SessionServices(cache=session_answers),
    )
    result = session.compare("favorite_animal", "owl", alternative="greater")
    row = result.to_dict()
    covered = {m["model"]: m["covered"] for m in row["models"]}
    # the zoo's chat models begin about half their answers with a candidate's form (the
    # rest: other animals, no choice, unfinished answers); check-measures agrees (fidelity)
    assert all(0.4 < c < 0.75 for c in covered.values()), covered
    assert "covered: the scored forms carry" in result.explain()
    low = min(covered, key=lambda m: covered[m])
    assert (f"carry only {covered[low]:.0%} of {low}'s" in " ".join(row["notes"])) == (
        covered[low] < 0.5
    )
    # a model whose answers mostly begin with something else (as chat models' do)
    (first, *rest), controls = result.results
    low = dataclasses.replace(first, covered=np.full(len(first.prompts), 0.3))
    lowered = dataclasses.replace(result, results=((low, *rest), controls))
    notes = lowered.to_dict()["notes"]
    assert any("carry only 30% of owl-student-s0's answer probability" in n for n in notes)
