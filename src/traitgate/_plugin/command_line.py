"""What pytest made of a traitgate command line before traitgate's options were known.

pytest picks its rootdir and ini file before any plugin has added its options, so it reads
the value of ``--model PATH`` (a separate word) as a test path: models outside the project
move the rootdir there and can bring in another project's ini file, with its settings (its
``traitgate_*`` defaults, its cache). And a glob the shell expanded (``--model runs/s-*``
unquoted) gives ``--model`` its first match only, the others becoming test paths. Both are
caught here, once the options are known.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

from traitgate.errors import ConfigError
from traitgate.models.spec import STATE_DICT_SUFFIXES
from traitgate.roles import ROLE_OPTIONS

MODEL_OPTIONS = (*ROLE_OPTIONS.values(), "--judge-model", "--model-architecture")


def check_command_line(config: pytest.Config) -> str | None:
    """Raise ConfigError when the command line cannot mean what it says; return a note for
    the header when pytest's rootdir came from model paths but no ini file is involved.
    Nothing to check under ``pytest --help`` or ``--version`` (pytest configures plugins
    before it has read any test path then)."""
    if getattr(config.option, "help", False) or getattr(config.option, "version", False):
        return None
    _no_models_as_test_paths(config)
    return _setup_from_model_paths(config)


def _no_models_as_test_paths(config: pytest.Config) -> None:
    invocation = config.invocation_params.dir
    for arg in config.option.file_or_dir or ():
        path = invocation / str(arg).split("::")[0]
        if _looks_like_model(path):
            raise ConfigError(
                f"{arg} is a model, given as a test path: an unquoted glob after --model (or "
                "--base-model, --control-model) was expanded by the shell, so the option got "
                "its first match only; quote the pattern (--model 'runs/student-*') or repeat "
                "the option for each model"
            )


def _looks_like_model(path: Path) -> bool:
    if path.is_dir():
        return (path / "config.json").is_file() or (path / "adapter_config.json").is_file()
    return path.is_file() and path.suffix in STATE_DICT_SUFFIXES


def _setup_from_model_paths(config: pytest.Config) -> str | None:
    if config.option.rootdir or config.option.inifilename:
        return None  # the user chose them
    given = list(_separate_model_values(config))
    if not given:
        return None
    try:  # what pytest would have chosen without the model paths (internal API: if it
        # changes, the check is skipped rather than the run broken)
        from _pytest.config.findpaths import determine_setup

        rootpath, inipath, *_ = determine_setup(
            inifile=None,
            override_ini=config.option.override_ini,
            args=[str(a) for a in config.option.file_or_dir or ()],
            rootdir_cmd_arg=None,
            invocation_dir=config.invocation_params.dir,
        )
    except Exception:
        return None
    advice = "write the model options with '=' (--model=PATH), or pass --rootdir=<your project>"
    if inipath != config.inipath:
        found = str(config.inipath) if config.inipath else "no ini file"
        wanted = str(inipath) if inipath else "none"
        raise ConfigError(
            f"pytest took {found} (rootdir {config.rootpath}) from the model path "
            f"{given[0][1]!r}, not your project's ini file ({wanted}): it reads the value of "
            f"{given[0][0]} PATH as a test path before traitgate's options are known; {advice}"
        )
    if rootpath != config.rootpath:
        return (
            f"pytest's rootdir {config.rootpath} came from the model paths (node ids and JUnit "
            f"names depend on it; without them it is {rootpath}); {advice}"
        )
    return None


def _separate_model_values(config: pytest.Config) -> Iterator[tuple[str, str]]:
    """(option, value) of each model option whose value is the next word (``--model PATH``)."""
    words = [str(w) for w in config.invocation_params.args]
    for flag, value in itertools.pairwise(words):
        if flag in MODEL_OPTIONS and not value.startswith("-"):
            yield flag, value
