"""Whether a gate's ``requires`` is met by the models and judge a session has."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from traitgate.errors import Unavailable
from traitgate.gate.spec import Gate
from traitgate.models.spec import ModelSpec, parameter_count


def check_requirements(
    gate: Gate, judge: str | None, models: Callable[[], Iterable[ModelSpec]]
) -> None:
    """Raise :class:`Unavailable` when ``gate`` needs a judge and ``judge`` is None, or
    needs models of a size that one of ``models()`` (the models it compares, baselines
    aside; asked for only when a size is required) falls short of."""
    needs = gate.spec.requires
    if needs.judge and judge is None:
        raise Unavailable(
            f"gate {gate.name!r} needs a judge: give --judge-model (an inspect-ai model "
            "such as openai/gpt-4o, or a local model directory)"
        )
    if needs.min_parameters is None:
        return
    for spec in models():
        count = parameter_count(spec)
        if count is not None and count < needs.min_parameters:
            raise Unavailable(
                f"gate {gate.name!r} needs models of at least "
                f"{needs.min_parameters:,} parameters; {spec.label} has {count:,}"
            )
