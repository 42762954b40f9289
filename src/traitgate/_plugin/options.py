"""The plugin's command-line options and ini keys (read in :mod:`._plugin.settings`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from traitgate.cache import DEFAULT_DIR as DEFAULT_CACHE_DIR
from traitgate.roles import ROLE_INI, ROLE_OPTIONS, ROLES

DEFAULT_GATE_FILES = ["gate_*.yaml", "gate_*.yml"]

_MODELS_HELP = (
    "{role} model(s): a local HF directory, a PEFT adapter directory, a weights file "
    "(with --model-architecture), hf:org/name or inspect:provider/model. Repeat or glob "
    "(quoted) for replicates."
)

# (option, dest, keyword arguments) of the options that are not a role's models
_OPTIONS: list[tuple[str, str, dict[str, object]]] = [
    (
        "--model-architecture",
        "architecture",
        {"metavar": "DIR", "help": "config + tokenizer directory for bare weights files"},
    ),
    (
        "--seed",
        "seed",
        {"type": int, "help": "seed for sampling and resampling (default 0)"},
    ),
    ("--device", "device", {"help": "torch device: auto (default), cpu, cuda, cuda:1, mps"}),
    (
        "--traitgate-correction",
        "correction",
        {
            "choices": ["holm", "bh", "none"],
            "help": "multiple-testing correction across the session's gates (default holm)",
        },
    ),
    (
        "--probe-path",
        "probe_paths",
        {
            "action": "append",
            "default": [],
            "metavar": "DIR",
            "help": "directory of probe suites, searched before built-ins",
        },
    ),
    (
        "--judge-model",
        "judge_model",
        {
            "metavar": "MODEL",
            "help": "judge for judged probes: an inspect-ai model (openai/gpt-4o, "
            "anthropic/..., openai-api/... for a vLLM server) or a local model directory",
        },
    ),
    (
        "--cache-dir",
        "cache_dir",
        {
            "metavar": "DIR",
            "help": "where answers are cached (default .traitgate_cache beside the ini file); "
            "a killed run restarted with the same cache recomputes nothing already stored",
        },
    ),
    (
        "--no-cache",
        "no_cache",
        {"action": "store_true", "help": "neither read nor write the answer cache"},
    ),
    (
        "--baseline",
        "baseline",
        {
            "metavar": "DIR",
            "help": "serve the base and control roles from a stored baseline instead of models",
        },
    ),
    (
        "--baseline-update",
        "baseline_update",
        {
            "metavar": "DIR",
            "help": "record the base and control results of every probe run into DIR (only "
            "on this flag; without --model, only records)",
        },
    ),
    (
        "--report",
        "report",
        {
            "metavar": "DIR",
            "help": "write results.json and report.html (figures per gate) into DIR",
        },
    ),
]

# ini keys that are not a role's models: (name, help, type, default)
_INI: list[tuple[str, str, str | None, object]] = [
    ("traitgate_seed", "default seed", None, "0"),
    ("traitgate_device", "default torch device", None, "auto"),
    ("traitgate_correction", "holm, bh or none", None, "holm"),
    ("traitgate_probe_paths", "probe suite directories", "paths", []),
    ("traitgate_cache_dir", "answer cache directory", None, DEFAULT_CACHE_DIR),
    ("traitgate_judge_model", "judge model for judged probes", None, ""),
    (
        "traitgate_worker_wait",
        "under pytest-xdist: seconds a worker waits on a stalled cache for a model another "
        "worker owns before running it itself",
        None,
        "300",
    ),
    ("traitgate_gate_files", "glob patterns of gate files", "args", DEFAULT_GATE_FILES),
]


def add_options(parser: pytest.Parser) -> None:
    """Register every option (dest ``traitgate_<name>``) and ini key."""
    group = parser.getgroup("traitgate", "traitgate: behavioural trait gates")
    for role in ROLES:
        group.addoption(
            ROLE_OPTIONS[role],
            action="append",
            default=[],
            dest=f"traitgate_{role}",
            metavar="PATH",
            help=_MODELS_HELP.format(role="candidate" if role == "model" else role),
        )
        parser.addini(
            ROLE_INI[role], f"default {role} model(s), relative to the ini file", "args", []
        )
    for flag, dest, kwargs in _OPTIONS:
        group.addoption(flag, dest=f"traitgate_{dest}", **kwargs)
    for name, text, kind, default in _INI:
        parser.addini(name, text, type=kind, default=default)  # type: ignore[arg-type]


def is_gate_file(config: pytest.Config, path: Path) -> bool:
    patterns = config.getini("traitgate_gate_files")
    return path.suffix in (".yaml", ".yml") and any(path.match(p) for p in patterns)


def in_use(config: pytest.Config) -> bool:
    """Whether this run asks for traitgate: any of its options given, or a model default in
    the ini file (then bad options are reported at start-up; otherwise the session is built
    on first need, and a run without gates never imports the heavy modules)."""
    for _flag, dest, kwargs in _OPTIONS:
        if config.getoption(f"traitgate_{dest}") not in (kwargs.get("default"), None, False):
            return True
    if any(config.getoption(f"traitgate_{role}") for role in ROLES):
        return True
    return any(config.getini(ROLE_INI[role]) for role in ROLES)
