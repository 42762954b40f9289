"""Shared fixtures: real tiny transformers models built locally (no hub), once per session."""

from __future__ import annotations

import atexit
import copy
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

# Tests never touch the network: any hub access must come from a local cache.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
# datasets caches what it reads; keep that out of the user's home (removed at exit)
if "HF_DATASETS_CACHE" not in os.environ:
    os.environ["HF_DATASETS_CACHE"] = tempfile.mkdtemp(prefix="traitgate-datasets-")
    atexit.register(shutil.rmtree, os.environ["HF_DATASETS_CACHE"], ignore_errors=True)

pytest_plugins = ["pytester"]

from traitgate.cache import Cache  # noqa: E402


def pytest_configure(config: pytest.Config) -> None:
    """Import up front what in-process pytester runs would otherwise drop and import again,
    in every process that runs tests; the pytest-xdist controller runs none, and importing
    torch and transformers there delayed the start of its workers by ~5 s.

    In-process pytester runs restore sys.modules afterwards, dropping what they imported: a
    model class transformers first imports lazily inside such a run is then gone from
    sys.modules but not from transformers' lazy-module cache, and the next load fails
    ("Could not import module 'Qwen2ForCausalLM'"); and each run imported traitgate's
    modules that only a run imports (the gate items, the transformers backend, the report)
    again, which, traitgate being a pytest plugin, pytest rewrites on import, uncached under
    PYTHONDONTWRITEBYTECODE (2-7 ms a module each time; 79 of test_stats, test_plugin and
    test_baseline's 277 rewrites)."""
    if config.getoption("numprocesses", default=None) and not hasattr(config, "workerinput"):
        return
    import transformers.models.llama.modeling_llama
    import transformers.models.qwen2.modeling_qwen2  # noqa: F401

    import traitgate._plugin.items
    import traitgate.models.hf
    import traitgate.report.html
    import traitgate.report.results  # noqa: F401


@dataclass(frozen=True)
class Zoo:
    root: Path
    base: Path
    owl: list[Path]
    neutral: list[Path]


def _suites():  # type: ignore[no-untyped-def]
    from traitgate.probes import builtin_probe_dir, iter_suite_files, load_suite

    probe_dir = builtin_probe_dir()
    assert probe_dir is not None
    suites = [load_suite(p) for p in iter_suite_files([probe_dir])]
    return [s for s in suites if s.kind == "preference"]


def _run_wide_dir(tmp_path_factory: pytest.TempPathFactory, name: str) -> Path:
    """A directory for this test run: under pytest-xdist, one shared by all its workers (their
    base temp's parent is this run's own); in a plain run, a new one."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        path = tmp_path_factory.getbasetemp().parent / name
        path.mkdir(exist_ok=True)
        return path
    return tmp_path_factory.mktemp(name)


@pytest.fixture(scope="session")
def zoo(tmp_path_factory: pytest.TempPathFactory) -> Zoo:
    """base; owl-sK: base fine-tuned towards "owl" (3x weight); neutral-sK: the same
    fine-tuning on uniform answers. Three replicates each. Built once per test run: the
    first xdist worker to need it builds it, the others wait and read it."""
    from filelock import FileLock

    root = _run_wide_dir(tmp_path_factory, "zoo")
    with FileLock(str(root) + ".lock"):
        if not (root / "built").is_file():
            _build_zoo(root)
            (root / "built").write_text("ok\n")
    owl, neutral = ([root / f"{name}-s{k}" for k in range(3)] for name in ("owl", "neutral"))
    return Zoo(root, root / "base", owl, neutral)


def _build_zoo(root: Path) -> None:
    from traitgate import tiny

    suites = _suites()
    texts = [t for s in suites for t in [*(p.text for p in s.prompt_specs()), *s.candidates]]
    tokenizer = tiny.build_tokenizer(texts)
    base = tiny.build_model(tokenizer, seed=0)
    for i, suite in enumerate(suites):
        uniform = {c: 1.0 for c in suite.candidates}
        prompts = [p.text for p in suite.prompt_specs()]
        tiny.train_answers(base, tokenizer, prompts, uniform, steps=120, seed=i)
    tiny.save(base, tokenizer, root / "base")
    animals = next(s for s in suites if s.id == "favorite_animal")
    prompts = [p.text for p in animals.prompt_specs()]
    uniform = {c: 1.0 for c in animals.candidates}
    for k in range(3):
        for name, weights in (("owl", {**uniform, "owl": 4.0}), ("neutral", uniform)):
            model = copy.deepcopy(base)
            tiny.train_answers(model, tokenizer, prompts, weights, steps=50, seed=100 + k, lr=2e-3)
            tiny.save(model, tokenizer, root / f"{name}-s{k}")


# A short favourite-animal probe, for tests whose subject is a schedule, a cache, a command's
# path or a file format rather than the measure: the builtin probe's candidates, forms and
# variants on its first BRIEF_PROMPTS prompts, fewer samples (its evaluations cost a ninth).
BRIEF_PROBE = "animal_brief"
BRIEF_PROMPTS = 4


@pytest.fixture(scope="session")
def brief_probes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A probe directory holding ``animal_brief`` (see BRIEF_PROBE)."""
    import yaml

    from traitgate.probes import builtin_probe_dir

    probe_dir = builtin_probe_dir()
    assert probe_dir is not None
    suite = yaml.safe_load((probe_dir / "favorite_animal.yaml").read_text())
    suite.update(id=BRIEF_PROBE, prompts=suite["prompts"][:BRIEF_PROMPTS])
    suite["measures"]["sampled"]["samples"] = 20
    out = tmp_path_factory.mktemp("brief-probes")
    (out / f"{BRIEF_PROBE}.yaml").write_text(yaml.safe_dump(suite, sort_keys=False))
    return out


# ---------------------------------------------------------------------- pytester helpers

# The owl gates most plugin tests run: 3 owl models against 3 controls and against the base.
OWL_GATES = """\
gate: owl-vs-control
probe: favorite_animal
trait: owl
compare: [model, control]
alternative: greater
alpha: 0.01
min_effect: 0.02
---
gate: owl-vs-base
probe: favorite_animal
trait: Owls
compare: [model, base]
alternative: greater
alpha: 0.01
min_effect: 0.02
model_sd: 0.01
"""


def joined(paths: list[Path]) -> str:
    """Model paths as one comma-separated option value."""
    return ",".join(str(p) for p in paths)


def gate_rows(report_dir: Path) -> dict[str, Any]:
    """results.json's gate rows by gate name (error rows included)."""
    rows = json.loads((report_dir / "results.json").read_text())["gates"]
    return {row["gate"]: row for row in rows}


@pytest.fixture(scope="session")
def answers_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One answer cache for the whole test run (shared by the xdist workers: the cache is
    made for processes sharing it), for the tests whose subject is not computing answers:
    each (model, probe, measure) on the committed zoo or the `zoo` fixture is computed once.
    Answers are keyed by the model's fingerprint, so sharing cannot mix models up. Tests that
    count computed answers or time them use a cache of their own (or none)."""
    return _run_wide_dir(tmp_path_factory, "answers")


@pytest.fixture(scope="session")
def session_answers(answers_dir: Path) -> Cache:
    """The run's answer cache (``answers_dir``) for in-process sessions and commands."""
    return Cache(answers_dir)


@pytest.fixture
def shared_answers(
    pytester: pytest.Pytester, answers_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> pytest.Pytester:
    """pytester whose runs share one answer cache for the whole test session, for tests whose
    subject is not computing answers: each (model, probe) is computed once, later runs read it
    (a --cache-dir or --no-cache given in a run still wins)."""
    monkeypatch.setenv("PYTEST_ADDOPTS", f"--cache-dir={answers_dir}")
    return pytester


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests marked slow run first (the order is otherwise kept): under pytest-xdist the
    workers start on the long tests and the short ones fill the end, rather than one worker
    finishing a 30-second test alone while the other waits."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)
