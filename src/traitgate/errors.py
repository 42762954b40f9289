"""Errors traitgate reports to users.

Every error a user can cause (bad YAML, a missing model, an unknown probe) is a
:class:`TraitgateError` whose message is one line naming the place: a file and line, an
option, a model path. The pytest plugin and the CLI print that line instead of a traceback.
"""

from __future__ import annotations


class TraitgateError(Exception):
    """A problem with the user's input or environment, reported as one line."""


class ConfigError(TraitgateError):
    """A probe suite, gate file or option is malformed."""


class ModelError(TraitgateError):
    """A model spec cannot be resolved or its weights cannot be loaded."""


class Unavailable(TraitgateError):
    """What a gate requires is not given here (a judge, a model big enough for the probe):
    the gate is skipped with this one-line reason, neither passed nor failed."""
