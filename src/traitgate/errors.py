"""Errors traitgate reports to users.

Every error a user can cause (bad YAML, a missing model, an unknown probe) is a
:class:`TraitgateError` whose message is one line naming the place: a file and line, an
option, a model path. The pytest plugin and the CLI print that line instead of a traceback.

Which type: :class:`ConfigError` for what the user wrote (a suite, a gate, an option, a data
file, a judge name); :class:`ModelError` for a model that cannot be resolved, loaded or run
(its path, weights, tokenizer, provider, or a probe its tokenizer cannot write);
:class:`Unavailable` for a requirement this run does not meet (the gate is skipped). A
library's exception is turned into one of them with :func:`first_line` of its message.
"""

from __future__ import annotations

from collections.abc import Sequence


class TraitgateError(Exception):
    """A problem with the user's input or environment, reported as one line."""


class ConfigError(TraitgateError):
    """A probe suite, gate file or option is malformed.

    ``messages``: every problem found (one line each; ``traitgate lint`` prints them all);
    the error itself reads as the first, with how many more there are."""

    def __init__(self, message: str, *, more: Sequence[str] = ()) -> None:
        suffix = f" (and {len(more)} more error(s))" if more else ""
        super().__init__(message + suffix)
        self.messages = [message, *more]

    @classmethod
    def of_all(cls, messages: Sequence[str]) -> ConfigError:
        """One error for several problems (at least one)."""
        first, *more = messages
        return cls(first, more=more)


class ModelError(TraitgateError):
    """A model spec cannot be resolved or its weights cannot be loaded."""


class Unavailable(TraitgateError):
    """What a gate requires is not given here (a judge, a model big enough for the probe):
    the gate is skipped with this one-line reason, neither passed nor failed."""


def first_line(exc: BaseException, prefer: str | None = None, limit: int = 200) -> str:
    """One line of an exception's message (at most ``limit`` characters): the first line
    containing ``prefer`` (where libraries put the informative detail below a generic
    headline), else the first; the exception's type name when the message is empty."""
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    if not lines:
        return type(exc).__name__
    chosen = next((line for line in lines if prefer and prefer in line), lines[0])
    return chosen[:limit]
