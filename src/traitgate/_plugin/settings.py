"""A :class:`~traitgate.session.TraitSession` from pytest's options and ini keys.

Paths given on the command line are relative to where pytest was started; ini values to the
ini file. A model named on the command line that cannot be resolved is a usage error at
start-up; an ini default that cannot be (say, demo models not built) fails only the gates
that need it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from traitgate._checks import check_seed
from traitgate._plugin.terminal import TerminalOutput
from traitgate._plugin.xdist import share_cpu_threads, worker_device, worker_shard
from traitgate.baseline import BASELINE_ROLES, Baseline
from traitgate.cache import Cache
from traitgate.errors import ConfigError, TraitgateError
from traitgate.models.spec import ModelSpec, parse_model_specs
from traitgate.probes.loader import project_probe_dirs
from traitgate.roles import ROLE_INI, ROLE_OPTIONS, ROLES, Role
from traitgate.session import SessionServices, SessionSettings, TraitSession
from traitgate.stats import Correction


def build_session(config: pytest.Config) -> TraitSession:
    """The session of this pytest run (raises ConfigError on a bad option)."""
    option = config.getoption
    if option("traitgate_baseline") and option("traitgate_baseline_update"):
        raise ConfigError("--baseline and --baseline-update cannot be combined")
    baseline_dir = option("traitgate_baseline")
    baseline = Baseline(_invocation(config) / baseline_dir) if baseline_dir else None
    roles, unresolved = _roles(config, baseline)
    cache = _cache(config)
    shard = worker_shard(config)
    share_cpu_threads(shard)
    terminal = TerminalOutput(config)
    settings = SessionSettings(
        seed=_seed(config),
        device=worker_device(_ini_or_option(config, "device"), shard),
        correction=_correction(config),
        probe_paths=tuple(_probe_paths(config)),
        judge_model=_judge_model(config),
        shard=shard if cache is not None else None,
        stall_seconds=_number(config, "traitgate_worker_wait"),
    )
    services = SessionServices(
        log=terminal.log,
        cache=cache,
        progress=terminal.progress,
        baseline=baseline,
        judge=config.hook.pytest_traitgate_judge(config=config),
    )
    return TraitSession(roles, settings, services, unresolved=unresolved)


def _invocation(config: pytest.Config) -> Path:
    return config.invocation_params.dir


def _ini_dir(config: pytest.Config) -> Path:
    return config.inipath.parent if config.inipath else config.rootpath


def _ini_or_option(config: pytest.Config, name: str) -> str:
    return str(config.getoption(f"traitgate_{name}") or config.getini(f"traitgate_{name}"))


def _roles(
    config: pytest.Config, baseline: Baseline | None
) -> tuple[dict[Role, list[ModelSpec]], dict[Role, TraitgateError]]:
    arch = config.getoption("traitgate_architecture")
    architecture = Path(arch).resolve() if arch else None
    roles: dict[Role, list[ModelSpec]] = {}
    unresolved: dict[Role, TraitgateError] = {}
    for role in ROLES:
        given = config.getoption(f"traitgate_{role}")
        if baseline is not None and role in BASELINE_ROLES:
            if given:
                raise ConfigError(
                    f"{ROLE_OPTIONS[role]} and --baseline both give the {role} role; "
                    "use one of them"
                )
            continue  # ini defaults are replaced by the baseline
        if given:  # the user asked for these now: a typo is a usage error at start-up
            base_dir = _invocation(config)
            roles[role] = parse_model_specs(given, base_dir=base_dir, architecture=architecture)
            continue
        try:  # ini defaults fail only the gates that need them (e.g. demo models not built)
            ini = config.getini(ROLE_INI[role])
            roles[role] = parse_model_specs(
                ini, base_dir=_ini_dir(config), architecture=architecture
            )
        except TraitgateError as exc:
            unresolved[role] = ConfigError(f"{ROLE_INI[role]} (ini default): {exc}")
    return roles, unresolved


def _seed(config: pytest.Config) -> int:
    value = config.getoption("traitgate_seed")
    if value is not None:
        return check_seed(int(value), "--seed")
    try:
        seed = int(config.getini("traitgate_seed"))
    except ValueError:
        raise ConfigError("traitgate_seed in the ini file must be an integer") from None
    return check_seed(seed, "traitgate_seed (ini)")


def _number(config: pytest.Config, key: str) -> float:
    try:
        return float(config.getini(key))
    except ValueError:
        raise ConfigError(f"{key} in the ini file must be a number") from None


def _correction(config: pytest.Config) -> Correction:
    value = _ini_or_option(config, "correction")
    if value not in ("holm", "bh", "none"):
        raise ConfigError(f"traitgate_correction: must be holm, bh or none (got {value!r})")
    return value  # type: ignore[return-value]


def _probe_paths(config: pytest.Config) -> list[Path]:
    """--probe-path, then the ini's traitgate_probe_paths, then the project's ``probes/``
    (where pytest was started, and the rootdir)."""
    paths = [Path(p).resolve() for p in config.getoption("traitgate_probe_paths")]
    paths += [Path(p) for p in config.getini("traitgate_probe_paths")]
    for path in paths:
        if not path.is_dir():
            raise ConfigError(f"--probe-path {path}: not a directory")
    project = project_probe_dirs(_invocation(config), config.rootpath)
    return list(dict.fromkeys([*paths, *project]))


def _cache(config: pytest.Config) -> Cache | None:
    """The answer cache: --cache-dir (relative to where pytest was started), else the ini
    key beside the ini file, else where pytest was started. Never the rootdir, which pytest
    may infer from model paths (e.g. / for --model /data/run)."""
    if config.getoption("traitgate_no_cache"):
        return None
    option = config.getoption("traitgate_cache_dir")
    if option:
        return Cache(_invocation(config) / option, lazy=True)
    base = _ini_dir(config) if config.inipath is not None else _invocation(config)
    return Cache(base / config.getini("traitgate_cache_dir"), lazy=True)


def _judge_model(config: pytest.Config) -> str | None:
    """The judge option: a local path is made absolute (relative to where it was given)."""
    value, base = config.getoption("traitgate_judge_model"), _invocation(config)
    if not value:
        value, base = config.getini("traitgate_judge_model"), _ini_dir(config)
    if not value:
        return None
    local = base / Path(value).expanduser()
    return str(local) if local.exists() else str(value)
