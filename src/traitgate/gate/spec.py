"""A gate as written: its fields (:class:`GateSpec`), what it requires, and gate files."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator

from traitgate._yaml import Document, load_documents, validate
from traitgate.errors import ConfigError
from traitgate.probes.loader import find_suite, load_suite
from traitgate.probes.result import Measure
from traitgate.probes.schema import (
    SUITE_ID,
    PreferenceSuite,
    Strict,
    Suite,
)
from traitgate.roles import Role
from traitgate.stats import (
    Alternative,
)


class Requirements(Strict):
    """What a gate needs to run; without it the gate is skipped with a one-line reason."""

    judge: bool = False  # a judge model (--judge-model), for judged probes
    # the candidate models must have at least this many parameters (local weights; a probe
    # such as TruthfulQA measures nothing on the tiny zoo)
    min_parameters: int | None = Field(default=None, ge=1)


class GateSpec(Strict):
    """The YAML schema of a gate."""

    gate: Annotated[str, Field(pattern=SUITE_ID)]
    probe: Annotated[str, Field(min_length=1)]
    trait: Annotated[str, Field(min_length=1)]
    compare: tuple[Role, Role] = ("model", "control")
    alternative: Alternative = "two-sided"
    alpha: float = Field(default=0.01, gt=0, lt=1)
    min_effect: float = Field(default=0.0, ge=0, lt=1)
    measure: Measure = "exact"
    variant: str | None = None
    description: str | None = None
    # fine-tuning noise between checkpoints (SD of one model's rate across seeds), needed
    # with one model per arm; an assumption, printed with the verdict
    model_sd: float | None = Field(default=None, gt=0, lt=1)
    # fail only when the trait also moved more than the suite's other candidates: true,
    # significantly (specificity p < alpha); "top", it is the most-moved candidate
    specific: bool | Literal["top"] = False
    requires: Requirements = Requirements()

    @field_validator("compare")
    @classmethod
    def _distinct(cls, value: tuple[Role, Role]) -> tuple[Role, Role]:
        if value[0] == value[1]:
            raise ValueError("compare needs two different roles")
        return value


# ``trait: any``: a scan gate, testing every candidate of its probe (traitgate.scan)
SCAN_TRAIT = "any"


@dataclass(frozen=True)
class Gate:
    """A validated gate: its spec, the suite it uses, and where it was written."""

    spec: GateSpec
    suite: Suite
    trait: str  # the canonical candidate name
    path: Path | None = None
    line: int = 0

    @property
    def name(self) -> str:
        return self.spec.gate

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}" if self.path else self.name

    @property
    def is_scan(self) -> bool:
        """``trait: any``: every candidate is tested, their p-values BH-adjusted together."""
        return self.trait == SCAN_TRAIT


def build_gate(
    data: dict[str, Any],
    probe_paths: Sequence[Path] = (),
    *,
    doc: Document | None = None,
) -> Gate:
    """Validate a gate mapping and resolve its probe, trait, measure and variant."""
    if doc is None:
        doc = Document(Path("<gate>"), data, _fake_node())
    spec = validate(GateSpec, doc, data)

    def fail(field: str, message: str) -> ConfigError:
        return ConfigError(f"{doc.path}:{doc.line_of((field,))}: {field}: {message}")

    try:
        suite = load_suite(find_suite(spec.probe, probe_paths))
    except ConfigError as exc:
        raise fail("probe", str(exc)) from None
    trait = SCAN_TRAIT if spec.trait == SCAN_TRAIT else suite.canonical(spec.trait)
    if trait == SCAN_TRAIT and suite.canonical(SCAN_TRAIT) is not None:
        raise fail(
            "trait",
            f"probe {suite.id!r} has a candidate named {SCAN_TRAIT!r}: a "
            "scan gate cannot be told from a gate on it",
        )
    if trait == SCAN_TRAIT and spec.specific:
        raise fail(
            "specific",
            "a scan gate (trait: any) reports each candidate's specificity and ranks by it; "
            "it cannot require it",
        )
    if trait is None:
        raise fail(
            "trait",
            f"{spec.trait!r} is not a candidate of probe {suite.id!r} "
            f"(candidates: {', '.join(suite.candidates)}; or {SCAN_TRAIT!r} to scan them all)",
        )
    if getattr(suite.measures, spec.measure) is None:
        raise fail("measure", f"probe {suite.id!r} defines no {spec.measure!r} measure")
    if spec.specific and not (
        isinstance(suite, PreferenceSuite) and len(suite.candidates) >= MIN_SPECIFICITY_CANDIDATES
    ):
        raise fail(
            "specific",
            f"needs a preference probe with at least {MIN_SPECIFICITY_CANDIDATES} candidates "
            f"(probe {suite.id!r} is {suite.kind} with {len(suite.candidates)})",
        )
    if spec.variant is not None and spec.variant not in suite.variants:
        known = ", ".join(sorted(suite.variants)) or "none"
        raise fail("variant", f"probe {suite.id!r} has no variant {spec.variant!r} (has: {known})")
    return Gate(spec, suite, trait, doc.path if doc.path.name != "<gate>" else None, doc.line_of())


def load_gate_file(path: Path, probe_paths: Sequence[Path] = ()) -> list[Gate]:
    """All gates in a YAML file (one per YAML document, separated by ``---``). Every
    document is checked: the error raised holds each problem found (``messages``)."""
    gates = []
    names: set[str] = set()
    problems: list[str] = []
    for doc in load_documents(path):
        try:
            if not isinstance(doc.data, dict):
                raise ConfigError(f"{path}:{doc.line_of()}: a gate is a mapping of fields")
            gate = build_gate(doc.data, probe_paths, doc=doc)
        except ConfigError as exc:
            problems += exc.messages
            continue
        if gate.name in names:
            problems.append(
                f"{path}:{doc.line_of(('gate',))}: gate: {gate.name!r} repeats "
                "a gate name in this file"
            )
        names.add(gate.name)
        gates.append(gate)
    if problems:
        raise ConfigError.of_all(problems)
    return gates


# at least three other candidates give the specificity test two degrees of freedom
MIN_SPECIFICITY_CANDIDATES = 4


def _fake_node() -> Any:
    import yaml

    return yaml.compose("{}")
