"""A corpus of bad inputs: probe YAML, gates, model specs, weights files, baselines, results
files and caches. Each must give a one-line TraitgateError that names the place (file and
line, option, or path), and leave every file that was already there untouched."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import pickle
import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from traitgate import SessionSettings
from traitgate.baseline import Baseline, read_entry
from traitgate.cache import DB_NAME, Cache
from traitgate.cli import main
from traitgate.errors import TraitgateError
from traitgate.gate import load_gate_file
from traitgate.models import load_backend, parse_model_specs
from traitgate.probes import find_suite, load_suite
from traitgate.probes.preference import run_preference
from traitgate.report.results import load_results

from .conftest import Zoo

GOOD_SUITE = """\
kind: preference
id: pets
version: 1
description: pets
prompts: [{prompts}]
candidates: [cat, dog, owl]
measures:
  exact: {{}}
"""
ROOT = Path(__file__).resolve().parents[1]
PROMPTS = ", ".join(f'"Which pet do you like best, version {i}?"' for i in range(20))
GOOD_GATE = "gate: g\nprobe: pets\ntrait: owl\nmin_effect: 0.01\n"


def suite_text(**replace: str) -> str:
    text = GOOD_SUITE.format(prompts=PROMPTS)
    for old, new in replace.items():
        text = text.replace(old.replace("_", " "), new)
    return text


# Each case writes its inputs under tmp and returns (the call that must fail, what the
# message must contain). The marker '{tmp}' in the expectation is the tmp directory.
Case = Callable[[Path, Zoo], tuple[Callable[[], object], "str | tuple[str, ...]"]]
CASES: dict[str, Case] = {}


def case(name: str) -> Callable[[Case], Case]:
    def register(fn: Case) -> Case:
        CASES[name] = fn
        return fn

    return register


def suite_case(name: str, text: str, expected: str) -> None:
    def make(tmp: Path, zoo: Zoo) -> tuple[Callable[[], object], str]:
        path = tmp / "probes" / "pets.yaml"
        path.parent.mkdir(exist_ok=True)
        path.write_text(text)
        return (lambda: load_suite(path)), expected.replace("FILE", str(path))

    CASES[name] = make


# ---------------------------------------------------------------------- probe suites
suite_case("yaml-syntax", "kind: preference\nid: [pets\n", "FILE:")
suite_case("yaml-tab-indent", "kind: preference\n\tid: pets\n", "FILE:")
suite_case("unknown-key", suite_text() + "promtps: []\n", "FILE:9: promtps")
suite_case("unknown-nested-key", suite_text(**{"exact: {}": "exact: {form: [x]}"}), "FILE:8")
suite_case("empty-prompts", suite_text(**{f"prompts: [{PROMPTS}]": "prompts: []"}), "FILE:5")
suite_case("duplicate-key", suite_text() + "id: other\n", "FILE:9")
suite_case("wrong-kind", suite_text(**{"kind: preference": "kind: preferences"}), "FILE:1")
suite_case("bad-id", suite_text(**{"id: pets": "id: My Pets!"}), "FILE:2: id")
suite_case("bad-version-type", suite_text(**{"version: 1": "version: [1]"}), "FILE:3")
suite_case("empty-file", "", "FILE")
suite_case("not-a-mapping", "- just\n- a list\n", "FILE")
suite_case("single-candidate", suite_text(**{"[cat, dog, owl]": "[owl]"}), "FILE:6")
# placeholders: a typo would be written into every prompt or form (or crash at run time)
suite_case(
    "form-unknown-placeholder",
    suite_text(**{"exact: {}": 'exact: {forms: ["{candidate}", "I pick {Canidate}"]}'}),
    "FILE:8: measures.exact.forms: form 'I pick {Canidate}': {Canidate} is not a placeholder",
)
suite_case(
    "variant-unknown-placeholder",
    suite_text() + 'variants:\n  n:\n    template: "See {numbers} and {count}. "\n',
    "FILE:10: variants.n: template 'See {numbers} and {count}. ': {count} is not a placeholder",
)
# one word, two ways to write it in Unicode (NFC: one code point; NFD: e + accent)
suite_case(
    "nfc-nfd-candidates",
    suite_text(**{"[cat, dog, owl]": "[caf\u00e9, cafe\u0301, owl]"}),
    "FILE:6: candidates",
)
# YAML built to exhaust the reader: every one a one-line error, at once
BILLION_LAUGHS = 'a: &a ["x", "x", "x", "x", "x", "x", "x", "x", "x"]\n' + "".join(
    f"{b}: &{b} [{', '.join([f'*{a}'] * 9)}]\n" for a, b in zip("abcdefgh", "bcdefghi", strict=True)
)  # 9 lines: 9**9 strings once expanded
suite_case("yaml-billion-laughs", BILLION_LAUGHS, "FILE:2: YAML alias *a is not supported")
suite_case("yaml-recursive-alias", "a: &a [1, *a]\n", "FILE:1: YAML alias *a")
suite_case("yaml-alias-in-suite", suite_text() + "extra: &e x\nmore: *e\n", "FILE:10: YAML alias")
suite_case("yaml-deep-flow", "a: " + "[" * 5000 + "]" * 5000 + "\n", "FILE:1: nested more than 50")
suite_case(
    "yaml-deep-block",
    "".join(" " * i + f"k{i}:\n" for i in range(60)) + " " * 60 + "v\n",
    "FILE:51: nested more than 50",
)


@case("not-utf8")
def _not_utf8(tmp: Path, zoo: Zoo) -> tuple[Callable[[], object], str]:
    path = tmp / "pets.yaml"
    path.write_bytes(b"kind: preference\nid: \xff\xfe\n")
    return (lambda: load_suite(path)), str(path)


@case("unknown-probe-name")
def _unknown_probe(tmp: Path, zoo: Zoo) -> tuple[Callable[[], object], str]:
    return (lambda: find_suite("favourite_animals", [tmp])), "favourite_animals"


# ---------------------------------------------------------------------- gates
def gate_case(name: str, text: str, expected: str) -> None:
    def make(tmp: Path, zoo: Zoo) -> tuple[Callable[[], object], str]:
        probes = tmp / "probes"
        probes.mkdir(exist_ok=True)
        (probes / "pets.yaml").write_text(suite_text())
        path = tmp / "gate_x.yaml"
        path.write_text(text)
        return (lambda: load_gate_file(path, [probes])), expected.replace("FILE", str(path))

    CASES[name] = make


gate_case("gate-unknown-probe", GOOD_GATE.replace("pets", "petz"), "FILE:2: probe")
gate_case("gate-bad-trait", GOOD_GATE.replace("owl", "unicorn"), "FILE:3: trait")
gate_case("gate-alpha-range", GOOD_GATE + "alpha: 1.5\n", "FILE:5: alpha")
gate_case("gate-same-roles", GOOD_GATE + "compare: [model, model]\n", "FILE:5: compare")
gate_case("gate-unknown-role", GOOD_GATE + "compare: [model, teacher]\n", "FILE:5: compare")
gate_case("gate-unknown-measure", GOOD_GATE + "measure: greedy\n", "FILE:5: measure")
gate_case("gate-unknown-variant", GOOD_GATE + "variant: numbers\n", "FILE:5: variant")
gate_case("gate-duplicate-name", GOOD_GATE + "---\n" + GOOD_GATE, "FILE:6: gate")
gate_case("gate-not-mapping", "- gate: g\n", "FILE:1")
gate_case("gate-typo-key", GOOD_GATE + "min_efect: 0.1\n", "FILE:5: min_efect")
gate_case(
    "gate-alias",
    GOOD_GATE + "---\ngate: &n h\nprobe: pets\ntrait: owl\ndescription: *n\n",
    "FILE:9: YAML alias *n",
)
gate_case("gate-billion-laughs", BILLION_LAUGHS, "FILE:2: YAML alias")
gate_case("gate-two-traits", GOOD_GATE.replace("owl", '"owl or dog"'), "FILE:3: trait")
gate_case("gate-trait-phrase", GOOD_GATE.replace("owl", "my owl"), "FILE:3: trait")


# ---------------------------------------------------------------------- model specs
@case("model-missing-path")
def _missing(tmp: Path, zoo: Zoo) -> tuple[Callable[[], object], str]:
    return (lambda: parse_model_specs([str(tmp / "nope")])), str(tmp / "nope")


@case("model-not-a-model-dir")
def _not_model(tmp: Path, zoo: Zoo) -> tuple[Callable[[], object], str]:
    (tmp / "empty").mkdir()
    return (lambda: parse_model_specs([str(tmp / "empty")])), "no config.json"


@case("model-glob-matches-nothing")
def _glob(tmp: Path, zoo: Zoo) -> tuple[Callable[[], object], str]:
    return (lambda: parse_model_specs([str(tmp / "runs-*")])), "runs-*"


@case("model-given-twice")
def _twice(tmp: Path, zoo: Zoo) -> tuple[Callable[[], object], str]:
    return (lambda: parse_model_specs([str(zoo.base), str(zoo.base)])), str(zoo.base)


@case("model-weights-without-architecture")
def _no_arch(tmp: Path, zoo: Zoo) -> tuple[Callable[[], object], str]:
    shutil.copy(zoo.base / "model.safetensors", tmp / "w.safetensors")
    return (lambda: parse_model_specs([str(tmp / "w.safetensors")])), "--model-architecture"


@case("model-bad-hub-id")
def _hub(tmp: Path, zoo: Zoo) -> tuple[Callable[[], object], str]:
    return (lambda: parse_model_specs(["hf:a/b/c"])), "hf:a/b/c"


@case("model-unknown-provider")
def _provider(tmp: Path, zoo: Zoo) -> tuple[Callable[[], object], str]:
    return (lambda: parse_model_specs(["vllm2:some/model"])), "vllm2:some/model"


# ---------------------------------------------------------------------- weights files
def _copy_model(tmp: Path, zoo: Zoo) -> Path:
    target = tmp / "model"
    shutil.copytree(zoo.base, target)
    return target


def _load(path: Path, architecture: Path | None = None) -> Callable[[], object]:
    return lambda: load_backend(
        parse_model_specs([str(path)], architecture=architecture)[0], device="cpu"
    )


@case("weights-truncated-safetensors-dir")
def _truncated(tmp: Path, zoo: Zoo) -> tuple[Callable[[], object], str]:
    model = _copy_model(tmp, zoo)
    weights = model / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    return _load(model), str(model)


def _quantised(tensors: dict[str, object]) -> dict[str, object]:
    """The same tensors, the weight matrices stored as int8 codes (as a quantiser would)."""
    import torch

    return {
        k: (v * 100).round().clamp(-127, 127).to(torch.int8) if k.endswith(".weight") else v  # type: ignore[attr-defined]
        for k, v in tensors.items()
    }


@case("weights-int8-state-dict")
def _int8_file(tmp: Path, zoo: Zoo) -> tuple[Callable[[], object], str]:
    from safetensors.torch import load_file, save_file

    weights = tmp / "student.safetensors"
    save_file(_quantised(load_file(zoo.base / "model.safetensors")), weights)  # type: ignore[arg-type]
    return _load(weights, zoo.base), "is stored as int8 (a quantised checkpoint?)"


@case("weights-int8-model-dir")
def _int8_dir(tmp: Path, zoo: Zoo) -> tuple[Callable[[], object], str]:
    from safetensors.torch import load_file, save_file

    model = _copy_model(tmp, zoo)
    quantised = _quantised(load_file(model / "model.safetensors"))
    save_file(quantised, model / "model.safetensors")  # type: ignore[arg-type]
    return _load(model), ("is stored as i8 (a quantised checkpoint?)", str(model))


@case("weights-truncated-safetensors-file")
def _truncated_file(tmp: Path, zoo: Zoo) -> tuple[Callable[[], object], str]:
    weights = tmp / "student.safetensors"
    weights.write_bytes((zoo.base / "model.safetensors").read_bytes()[:5000])
    return _load(weights, zoo.base), str(weights)


class Payload:
    """Unpickling this runs code: exactly what weights_only=True must refuse."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        import os

        return (os.system, (f"touch {self.marker}",))


@case("weights-pickle-with-code")
def _pickle(tmp: Path, zoo: Zoo) -> tuple[Callable[[], object], str]:
    weights = tmp / "evil.ckpt"
    weights.write_bytes(pickle.dumps({"state_dict": Payload(tmp / "PWNED")}))

    def attempt() -> object:
        try:
            return _load(weights, zoo.base)()
        finally:
            assert not (tmp / "PWNED").exists(), "the pickled code ran"

    return attempt, (str(weights), "Unsupported")


@case("weights-corrupt-config")
def _config(tmp: Path, zoo: Zoo) -> tuple[Callable[[], object], str]:
    model = _copy_model(tmp, zoo)
    (model / "config.json").write_text("{not json")
    return _load(model), str(model)


@case("weights-wrong-architecture")
def _wrong_arch(tmp: Path, zoo: Zoo) -> tuple[Callable[[], object], str]:
    import torch
    from safetensors.torch import save_file

    weights = tmp / "other.safetensors"
    save_file({"model.embed_tokens.weight": torch.zeros(3, 5)}, str(weights))
    return _load(weights, zoo.base), ("--model-architecture", "size mismatch")


# ---------------------------------------------------------------------- baselines
def _recorded_baseline(tmp: Path) -> Path:
    directory = tmp / "baselines"
    directory.mkdir()
    suite = load_suite(find_suite("favorite_animal"))
    data = {
        "traitgate_baseline": 1,
        "probe": "favorite_animal",
        "probe_version": "2",
        "measure": "exact",
        "variant": None,
        "samples": None,
        "seed": 0,
        "prompts": [p.text for p in suite.prompt_specs()],
        "candidates": list(suite.candidates),
        "roles": {
            "control": [
                {
                    "model": "c0",
                    "fingerprint": "0" * 16,
                    "values": [[1 / len(suite.candidates)] * len(suite.candidates)]
                    * len(suite.prompt_specs()),
                }
            ]
        },
    }
    (directory / "favorite_animal.exact.json").write_text(json.dumps(data))
    return directory / "favorite_animal.exact.json"


def baseline_case(name: str, edit: Callable[[dict[str, object]], object], expected: str) -> None:
    def make(tmp: Path, zoo: Zoo) -> tuple[Callable[[], object], str]:
        path = _recorded_baseline(tmp)
        data = json.loads(path.read_text())
        edit(data)
        path.write_text(json.dumps(data))
        suite = load_suite(find_suite("favorite_animal"))
        baseline = Baseline(path.parent)
        return (lambda: baseline.results(suite, "exact", None, "control")), (str(path), expected)

    CASES[name] = make


baseline_case("baseline-format", lambda d: d.update(traitgate_baseline=7), "format")
baseline_case("baseline-version", lambda d: d.update(probe_version="0"), "version")
baseline_case("baseline-measure", lambda d: d.update(measure="greedy"), "measure")
baseline_case(
    "baseline-values-shape",
    lambda d: d["roles"]["control"][0].update(values=[[0.5, 0.5]]),  # type: ignore[index]
    "values",
)
baseline_case(
    "baseline-prompts-edited",
    lambda d: d["prompts"].__setitem__(0, "An edited prompt?"),  # type: ignore[attr-defined]
    "prompts or candidates differ",
)
baseline_case("baseline-unknown-role", lambda d: d["roles"].update(teacher=[]), "role")  # type: ignore[attr-defined]
baseline_case("baseline-no-role", lambda d: d.update(roles={}), "no control results")


def _set_value(data: dict[str, object], value: object, k: int = 0) -> None:
    data["roles"]["control"][k]["values"][0][0] = value  # type: ignore[index]


baseline_case(
    "baseline-probability-above-1",
    lambda d: _set_value(d, 1.7),
    "values: expected probabilities in [0, 1] (got 1.7)",
)
baseline_case("baseline-negative-value", lambda d: _set_value(d, -0.2), "(got -0.2)")
baseline_case(
    "baseline-string-value", lambda d: _set_value(d, "0.5"), "values: numbers expected (got '0.5')"
)
baseline_case("baseline-bool-value", lambda d: _set_value(d, True), "numbers expected (got True)")
baseline_case("baseline-nan-value", lambda d: _set_value(d, float("nan")), "finite numbers")
baseline_case(
    "baseline-duplicate-model",
    lambda d: d["roles"]["control"].append(dict(d["roles"]["control"][0])),  # type: ignore[index]
    "is recorded twice in role 'control'",
)


@case("baseline-truncated-json")
def _baseline_json(tmp: Path, zoo: Zoo) -> tuple[Callable[[], object], str]:
    path = _recorded_baseline(tmp)
    path.write_text(path.read_text()[:200])
    return (lambda: read_entry(path)), f"{path}:1"


@case("baseline-missing-dir")
def _baseline_dir(tmp: Path, zoo: Zoo) -> tuple[Callable[[], object], str]:
    return (lambda: Baseline(tmp / "nowhere")), "--baseline"


# ---------------------------------------------------------------------- caches and results
def _cache_with_entry(tmp: Path) -> Path:
    cache = Cache(tmp / "cache")
    cache.put_many({"k": [1.5]}, model="m", probe="p@1", kind="score")
    cache.close()
    return tmp / "cache" / DB_NAME


@case("cache-corrupt-file")
def _cache_corrupt(tmp: Path, zoo: Zoo) -> tuple[Callable[[], object], str]:
    db = tmp / "cache" / DB_NAME
    db.parent.mkdir()
    db.write_bytes(b"\x00garbage" * 512)
    return (lambda: Cache(db.parent)), str(db)


@case("cache-newer-format")
def _cache_format(tmp: Path, zoo: Zoo) -> tuple[Callable[[], object], str]:
    db = _cache_with_entry(tmp)
    # (closed here: a connection left to the garbage collector checkpoints its write-ahead
    # log into the file whenever it is collected, which could be after the snapshot)
    with contextlib.closing(sqlite3.connect(db)) as conn, conn:
        conn.execute("UPDATE meta SET value = '2' WHERE name = 'format'")
    return (lambda: Cache(db.parent)), str(db)


@case("cache-corrupt-entry")
def _cache_entry(tmp: Path, zoo: Zoo) -> tuple[Callable[[], object], str]:
    db = _cache_with_entry(tmp)
    with contextlib.closing(sqlite3.connect(db)) as conn, conn:
        conn.execute("UPDATE entries SET value = '[1.5' WHERE key = 'k'")
    cache = Cache(db.parent)
    return (lambda: cache.get_many(["k"])), str(db)


@case("cache-dir-is-a-file")
def _cache_file(tmp: Path, zoo: Zoo) -> tuple[Callable[[], object], str]:
    (tmp / "cachefile").write_text("not a directory")
    return (lambda: Cache(tmp / "cachefile")), str(tmp / "cachefile")


@case("results-not-traitgate")
def _results(tmp: Path, zoo: Zoo) -> tuple[Callable[[], object], str]:
    path = tmp / "results.json"
    path.write_text(json.dumps({"gates": []}))
    return (lambda: load_results(path)), str(path)


# ---------------------------------------------------------------------- the command line
def cli_case(name: str, argv: Callable[[Path, Zoo], list[str]], expected: str) -> None:
    """`traitgate ...` must exit 2 with one line on stderr (raised here as the error the
    corpus checks); '{tmp}' in ``expected`` is the tmp directory."""

    def make(tmp: Path, zoo: Zoo) -> tuple[Callable[[], object], str]:
        args = argv(tmp, zoo)

        def call() -> None:
            err = io.StringIO()
            with contextlib.redirect_stderr(err):
                status = main(args)
            assert status == 2, (status, err.getvalue())
            raise TraitgateError(err.getvalue().strip())

        return call, expected.replace("{tmp}", str(tmp))

    CASES[name] = make


def _binary(tmp: Path) -> Path:
    path = tmp / "weights.bin"
    path.write_bytes(bytes(range(256)) * 4)
    return path


def _results_file(tmp: Path) -> Path:
    path = tmp / "results.json"
    path.write_text(json.dumps({"traitgate_results": 2, "gates": []}))
    return path


PLAN = ["plan", "--probe", "favorite_animal", "--effect", "0.01", "--base-rate", "0.05"]
cli_case("plan-zero-samples", lambda t, z: [*PLAN, "--samples", "0"], "plan: --samples: must be")
cli_case("plan-word-samples", lambda t, z: [*PLAN, "--samples", "10,x"], "--samples: 'x' is not")
CHECK = ["check-measures", "--probe", "favorite_animal", "--samples", "2", "--model"]
cli_case("device-mps", lambda t, z: [*CHECK, str(z.base), "--device", "mps"], "--device 'mps'")
cli_case("device-unknown", lambda t, z: [*CHECK, str(z.base), "--device", "tpu"], "--device 'tpu'")
cli_case(
    "seed-beyond-32-bits",
    lambda t, z: [*CHECK, str(z.base), "--seed", str(2**32)],
    "--seed: a seed is a whole number from 0 to 4294967295",
)
cli_case("seed-negative", lambda t, z: [*CHECK, str(z.base), "--seed", "-1"], "--seed: a seed")
cli_case("report-binary", lambda t, z: ["report", str(_binary(t))], "{tmp}/weights.bin: not a text")
cli_case(
    "report-output-is-a-folder",
    lambda t, z: ["report", str(_results_file(t)), "-o", str(t)],
    "{tmp}: is a directory",
)
cli_case(
    "filter-binary",
    lambda t, z: ["distill", "filter", str(_binary(t)), "--out", str(t / "k.jsonl")],
    "{tmp}/weights.bin: not a text file",
)
cli_case(
    "init-into-a-file",
    lambda t, z: ["init", str(_binary(t))],
    "{tmp}/weights.bin: not a directory",
)


SCAN = ["scan", "--probe", "favorite_animal"]
cli_case(
    "scan-without-a-comparator",
    lambda t, z: [*SCAN, "--model", str(z.base)],
    "scan: compare model with base: give --base-model",
)
cli_case(
    "scan-q-out-of-range",
    lambda t, z: [*SCAN, "--model", str(z.base), "--base-model", str(z.base), "--q", "1.5"],
    "scan: q must be between 0 and 1",
)
cli_case(
    "scan-unknown-probe",
    lambda t, z: [SCAN[0], "--probe", "favourite_unicorn", "--model", str(z.base)],
    "unknown probe 'favourite_unicorn'",
)
cli_case(
    "compare-not-a-log",
    lambda t, z: ["compare", str(_binary(t)), str(_binary(t))],
    "{tmp}/weights.bin: not a readable inspect-ai log",
)
cli_case(
    "compare-glob-matches-nothing",
    lambda t, z: ["compare", str(t / "runs-*.eval"), str(_binary(t))],
    "arm A: '{tmp}/runs-*.eval' matches no file",
)
cli_case(
    "compare-bad-alpha",
    lambda t, z: ["compare", str(_binary(t)), str(_binary(t)), "--alpha", "2"],
    "compare: alpha must be between 0 and 1",
)


@case("prompt-beyond-the-context")
def _long_prompt(tmp: Path, zoo: Zoo) -> tuple[Callable[[], object], str]:
    # a prompt longer than the model's positions (the zoo's chat model has 512)
    suite_file = tmp / "long.yaml"
    words = " ".join(["owl"] * 600)
    suite_file.write_text(suite_text(**{"id: pets": "id: long"}).replace(
        f"prompts: [{PROMPTS}]", f'prompts: ["{words} Which pet?"]'
    ))  # fmt: skip
    suite = load_suite(suite_file)
    base = ROOT / "fixtures" / "zoo" / "base"

    def call() -> object:
        backend = load_backend(parse_model_specs([str(base)])[0], device="cpu")
        return run_preference(suite, backend, "exact")  # type: ignore[arg-type]

    return call, "model base: a prompt of"


@case("session-seed-beyond-32-bits")
def _session_seed(tmp: Path, zoo: Zoo) -> tuple[Callable[[], object], str]:
    return (lambda: SessionSettings(seed=2**40)), "seed: a seed is a whole number"


def _snapshot(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.name.endswith(("-wal", "-shm"))  # sqlite's own journal files
    }


def test_the_corpus_is_large_enough() -> None:
    assert len(CASES) >= 70


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_input_gives_one_line_error_and_loses_nothing(
    name: str, zoo: Zoo, tmp_path: Path
) -> None:
    call, places = CASES[name](tmp_path, zoo)
    before = _snapshot(tmp_path)
    with pytest.raises(TraitgateError) as info:
        call()
    message = str(info.value)
    assert message and "\n" not in message, message
    assert "Traceback" not in message
    for place in (places,) if isinstance(places, str) else places:
        assert place in message, f"{place!r} not named in: {message}"
    assert _snapshot(tmp_path) == before, "a file was changed or removed"
