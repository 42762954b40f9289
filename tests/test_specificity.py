"""Specificity on the committed zoo: students of the owl teacher (trained only on its
numbers) against controls distilled on the base's numbers. Other animals move too; owl must
be reported as the one that moved most, with its specificity p-value."""

from __future__ import annotations

from pathlib import Path

from traitgate import TraitSession, parse_model_specs

ZOO = Path(__file__).resolve().parents[1] / "fixtures" / "zoo"


def test_on_the_zoo_owl_is_the_most_shifted_animal() -> None:
    session = TraitSession(
        roles={
            "model": parse_model_specs([str(ZOO / "student-s*")]),
            "control": parse_model_specs([str(ZOO / "control-s*")]),
        }
    )
    result = session.compare(
        "favorite_animal", "owl", alternative="greater", min_effect=0.01, specific=True
    )
    spec = result.specificity
    assert spec is not None
    assert spec.rank == 1 and spec.effects[0][0] == "owl"
    assert len(spec.effects) == 21
    # measured on this zoo: p = 0.008 (exact measure); a specific, significant shift
    assert spec.pvalue < 0.01
    assert not result.passed
    text = result.explain()
    assert "specificity (required to fail): rank 1 of 21 candidates" in text
    assert f"specificity p = {spec.pvalue:.3g}" in text


def test_low_coverage_of_the_exact_measure_is_reported_and_warned_about() -> None:
    import dataclasses

    import numpy as np

    session = TraitSession(
        roles={
            "model": parse_model_specs([str(ZOO / "student-s0"), str(ZOO / "student-s1")]),
            "control": parse_model_specs([str(ZOO / "control-s0"), str(ZOO / "control-s1")]),
        }
    )
    result = session.compare("favorite_animal", "owl", alternative="greater")
    row = result.to_dict()
    assert all(0.9 < m["covered"] <= 1 for m in row["models"])  # word-level: only animals
    assert "covered: the scored forms carry" in result.explain()
    assert "renormalised away" not in row["note"]
    # a model whose answers mostly begin with something else (as chat models' do)
    (first, *rest), controls = result.results
    low = dataclasses.replace(first, covered=np.full(len(first.prompts), 0.3))
    lowered = dataclasses.replace(result, results=((low, *rest), controls))
    assert "carry only 30% of student-s0's answer probability" in lowered.to_dict()["note"]
