"""The roles a model plays in a gate, and how each is given (imports nothing heavy: the
pytest plugin reads it at start-up)."""

from __future__ import annotations

from typing import Literal

Role = Literal["model", "base", "control"]
ROLES: tuple[Role, ...] = ("model", "base", "control")
ROLE_OPTIONS: dict[Role, str] = {
    "model": "--model",
    "base": "--base-model",
    "control": "--control-model",
}
ROLE_INI: dict[Role, str] = {
    "model": "traitgate_model",
    "base": "traitgate_base_model",
    "control": "traitgate_control_model",
}

__all__ = ["ROLES", "ROLE_INI", "ROLE_OPTIONS", "Role"]
