"""Checks of values given on the command line, in ini files or to the Python API."""

from __future__ import annotations

from traitgate.errors import ConfigError

MAX_SEED = 2**32 - 1  # the sampler mixes seeds as 32-bit words: larger ones would alias


def check_seed(value: int, name: str) -> int:
    """``value`` if it is a usable seed, else a one-line error naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_SEED:
        raise ConfigError(f"{name}: a seed is a whole number from 0 to {MAX_SEED} (got {value!r})")
    return value


def positive_ints(text: str, name: str) -> list[int]:
    """A comma-separated list of whole numbers >= 1 ("25,50,100")."""
    values = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        try:
            number = int(part)
        except ValueError:
            raise ConfigError(f"{name}: {part!r} is not a whole number") from None
        if number < 1:
            raise ConfigError(f"{name}: must be at least 1 (got {number})")
        values.append(number)
    if not values:
        raise ConfigError(f"{name}: give at least one number")
    return values
