"""The session schedule: each probe runs once per model; one model is loaded at a time."""

from __future__ import annotations

from pathlib import Path

import pytest

from traitgate import (
    ConfigError,
    ModelError,
    SessionServices,
    SessionSettings,
    TraitSession,
    build_gate,
    load_backend,
    parse_model_specs,
)
from traitgate.cache import Cache
from traitgate.models import Backend, ModelSpec

from .conftest import BRIEF_PROBE, Zoo


class CountingLoader:
    def __init__(self) -> None:
        self.loads: list[str] = []
        self.open = 0
        self.max_open = 0

    def __call__(self, spec: ModelSpec) -> Backend:
        self.loads.append(spec.label)
        backend = load_backend(spec, device="cpu")
        self.open += 1
        self.max_open = max(self.max_open, self.open)
        close = backend.close

        def closing() -> None:
            self.open -= 1
            close()

        backend.close = closing  # type: ignore[method-assign]
        return backend


def gate(name: str, trait: str, compare: list[str], brief: Path | None = None, **extra: object):  # type: ignore[no-untyped-def]
    """A favourite-animal gate; with ``brief`` (the brief_probes fixture), on the short
    probe, for tests of the schedule rather than the measure."""
    return build_gate(
        {
            "gate": name,
            "probe": "favorite_animal" if brief is None else BRIEF_PROBE,
            "trait": trait,
            "compare": compare,
            "min_effect": 0.01,
            "model_sd": 0.01,  # some of these compare one model per arm
            **extra,
        },
        [] if brief is None else [brief],
    )


def test_each_probe_runs_once_per_model(zoo: Zoo, brief_probes: Path) -> None:
    loader = CountingLoader()
    session = TraitSession(
        roles={
            "model": parse_model_specs([str(p) for p in zoo.owl[:2]]),
            "control": parse_model_specs([str(p) for p in zoo.neutral[:2]]),
            "base": parse_model_specs([str(zoo.base)]),
        },
        settings=SessionSettings(probe_paths=(brief_probes,)),
        services=SessionServices(loader=loader),
    )
    # on the short probe: the schedule is tested, not the measure
    gates = [
        gate("a", "owl", ["model", "control"], brief_probes),
        gate("b", "eagle", ["model", "control"], brief_probes),  # same probe run, another trait
        gate("c", "owl", ["model", "base"], brief_probes),
        gate("d", "owl", ["model", "control"], brief_probes, measure="sampled"),
    ]
    outcomes = session.evaluate(gates)
    assert all(not isinstance(o, Exception) for o in outcomes.values())
    # five models, each loaded exactly once for both measures; one in memory at a time
    assert sorted(loader.loads) == ["base", "neutral-s0", "neutral-s1", "owl-s0", "owl-s1"]
    assert loader.max_open == 1
    # asking again computes nothing
    session.evaluate(gates)
    assert len(loader.loads) == 5


def test_gate_errors_stay_with_their_gate(zoo: Zoo) -> None:
    session = TraitSession(roles={"model": parse_model_specs([str(zoo.owl[0])])})
    outcomes = session.evaluate([gate("needs-control", "owl", ["model", "control"])])
    assert isinstance(outcomes[0], ConfigError)
    assert "no control model given" in str(outcomes[0])


def test_holm_correction_spans_the_family(zoo: Zoo, session_answers: Cache) -> None:
    session = TraitSession(
        roles={
            "model": parse_model_specs([str(p) for p in zoo.owl]),
            "control": parse_model_specs([str(p) for p in zoo.neutral]),
        },
        services=SessionServices(cache=session_answers),
    )
    gates = [
        gate(n, t, ["model", "control"])
        for n, t in [("owl", "owl"), ("cat", "cat"), ("eagle", "eagle")]
    ]
    outcomes = session.evaluate(gates)
    raw = [o.comparison.pvalue for o in outcomes.values()]  # type: ignore[union-attr]
    adjusted = [o.adjusted_pvalue for o in outcomes.values()]  # type: ignore[union-attr]
    assert min(adjusted) == pytest.approx(min(1.0, 3 * min(raw)))
    assert all(a >= r for a, r in zip(adjusted, raw, strict=True))


def test_unknown_probe_in_python_gate(tmp_path: Path) -> None:
    session = TraitSession(roles={})
    with pytest.raises(ConfigError, match="unknown probe 'nope'"):
        session.compare("nope", "owl")


def test_a_probe_a_model_cannot_run_fails_only_its_gate(
    zoo: Zoo, tmp_path: Path, session_answers: Cache
) -> None:
    (tmp_path / "exotic.yaml").write_text(
        "kind: preference\nid: exotic\nversion: 1\ndescription: d\n"
        "prompts: [Name your favorite animal using only one word.]\n"
        "candidates: [axolotl, owl]\n"
    )
    session = TraitSession(
        roles={
            "model": parse_model_specs([str(zoo.owl[0])]),
            "base": parse_model_specs([str(zoo.base)]),
        },
        settings=SessionSettings(probe_paths=(tmp_path,)),
        services=SessionServices(cache=session_answers),
    )
    exotic = build_gate(
        {
            "gate": "x",
            "probe": "exotic",
            "trait": "owl",
            "compare": ["model", "base"],
            "min_effect": 0.01,
        },
        [tmp_path],
    )
    outcomes = session.evaluate([exotic, gate("owl", "owl", ["model", "base"])])
    assert isinstance(outcomes[0], ModelError)
    assert "'axolotl' contains words its tokenizer does not know" in str(outcomes[0])
    assert not isinstance(outcomes[1], Exception)


def test_one_model_per_arm_measures_the_noise_on_replicate_controls(
    zoo: Zoo, session_answers: Cache
) -> None:
    """A gate comparing one model with the base and stating no model_sd uses the SD of the
    session's control models' rates, with its degrees of freedom; without controls it is
    refused with one line saying what to add."""
    roles = {
        "model": parse_model_specs([str(zoo.owl[0])]),
        "base": parse_model_specs([str(zoo.base)]),
    }
    no_sd = gate("owl-single", "owl", ["model", "base"], model_sd=None)
    services = SessionServices(cache=session_answers)
    refused = TraitSession(roles=roles, services=services).evaluate([no_sd])[0]
    assert isinstance(refused, ConfigError) and "model_sd: one model per arm" in str(refused)
    controls = parse_model_specs([str(p) for p in zoo.neutral])
    result = TraitSession(roles={**roles, "control": controls}, services=services).evaluate(
        [no_sd]
    )[0]
    assert not isinstance(result, Exception)
    noise = result.comparison.noise
    assert noise is not None and noise.df == len(zoo.neutral) - 1
    assert noise.source == f"measured: SD of {len(zoo.neutral)} controls"
    assert result.comparison.method.startswith("noise t (measured")
    assert "assumed fine-tuning noise between checkpoints" in result.explain()


def test_the_header_lists_every_model_when_one_cannot_be_fingerprinted(
    zoo: Zoo, tmp_path: Path
) -> None:
    import shutil

    gone = tmp_path / "gone"
    shutil.copytree(zoo.owl[0], gone)
    specs = parse_model_specs([str(zoo.owl[1]), str(gone)])
    shutil.rmtree(gone)  # removed after the command line was read
    lines = TraitSession(roles={"model": specs}).describe_models()
    assert lines[0].startswith("model (2): owl-s1 [") and lines[0].endswith("gone [?]")
