"""Stored baselines: the base and control models' probe results, recorded once, gated against
many times.

A baseline directory holds one JSON file per probe run (``<probe>.<measure>[.<variant>].json``)
with the probe's version, its prompts and candidates, and each recorded role's per-model
per-prompt results. It is written only on ``--baseline-update DIR``; ``--baseline DIR`` then
serves the ``base`` and ``control`` roles from it, so a release gate evaluates only the
candidate. A file recorded for another probe version, or for prompts that have since changed,
is an error asking to re-record: comparing against it would compare different questions. So
is a sampled file drawn by another version of the sampler (``models.base.SAMPLER``).
"""

from __future__ import annotations

import datetime as _dt
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from traitgate._io import atomic_write_text
from traitgate.errors import ConfigError, TraitgateError
from traitgate.models.base import SAMPLER
from traitgate.probes.kinds import prompt_texts
from traitgate.probes.result import Measure, ProbeResult
from traitgate.probes.schema import Suite
from traitgate.roles import Role

if TYPE_CHECKING:
    from traitgate.schedule import ProbeRun

FORMAT = 1
BASELINE_ROLES: tuple[Role, ...] = ("base", "control")


def entry_name(suite_id: str, measure: str, variant: str | None) -> str:
    return f"{suite_id}.{measure}" + (f".{variant}" if variant else "") + ".json"


@dataclass(frozen=True)
class Entry:
    """One baseline file, read and checked for shape (not yet against a probe)."""

    path: Path
    probe: str
    probe_version: str
    measure: Measure
    variant: str | None
    prompts: list[str]
    candidates: list[str]
    samples: int | None
    seed: int
    recorded: str
    roles: dict[str, list[dict[str, Any]]]
    scored_columns: int | None = None
    # the sampler that drew a sampled entry's answers (files without the field: sampler 1);
    # None for the exact measure, which draws nothing
    sampler: int | None = None

    def stale_sampler(self) -> bool:
        """Sampled answers drawn by another sampler than this traitgate's."""
        return self.measure == "sampled" and self.sampler != SAMPLER

    def results(self, role: str) -> list[ProbeResult]:
        return [
            ProbeResult(
                suite=self.probe,
                version=self.probe_version,
                measure=self.measure,
                variant=self.variant,
                model=str(m["model"]),
                fingerprint=str(m["fingerprint"]),
                prompts=list(self.prompts),
                candidates=list(self.candidates),
                values=np.asarray(m["values"], dtype=float if self.measure == "exact" else int),
                covered=None if m.get("covered") is None else np.asarray(m["covered"], float),
                samples=self.samples,
                seed=self.seed,
                scored_columns=self.scored_columns,
            )
            for m in self.roles.get(role, [])
        ]


def read_entry(path: Path) -> Entry:
    """Read one baseline file; a malformed one is a one-line error naming it."""
    data = _read_json(path)

    def bad(message: str) -> ConfigError:
        return ConfigError(f"baseline {path}: {message}; re-record it with --baseline-update")

    if not isinstance(data, dict) or "traitgate_baseline" not in data:
        raise bad("not a traitgate baseline file (no traitgate_baseline field)")
    if data["traitgate_baseline"] != FORMAT:
        raise bad(f"format {data['traitgate_baseline']!r}, this traitgate reads {FORMAT}")
    try:
        entry, width = _entry_fields(path, data, bad)
    except (KeyError, TypeError, ValueError) as exc:
        raise bad(f"missing or malformed field {exc}") from None
    _check_roles(entry, width, bad)
    return entry


def _read_json(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"baseline {path}: cannot read ({exc.strerror})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"baseline {path}:{exc.lineno}: not valid JSON ({exc.msg}); re-record it with "
            "--baseline-update"
        ) from None


def _entry_fields(
    path: Path, data: dict[str, Any], bad: Callable[[str], ConfigError]
) -> tuple[Entry, int]:
    """The entry a baseline file describes, and the width of its value rows."""
    measure = str(data["measure"])
    if measure not in ("exact", "sampled"):
        raise bad(f"measure must be exact or sampled (got {measure!r})")
    prompts = [str(p) for p in data["prompts"]]
    candidates = [str(c) for c in data["candidates"]]
    roles = {str(r): list(models) for r, models in dict(data["roles"]).items()}
    entry = Entry(
        path=path,
        probe=str(data["probe"]),
        probe_version=str(data["probe_version"]),
        measure="exact" if measure == "exact" else "sampled",
        variant=None if data.get("variant") is None else str(data["variant"]),
        prompts=prompts,
        candidates=candidates,
        samples=None if data.get("samples") is None else int(data["samples"]),
        seed=int(data.get("seed", 0)),
        recorded=str(data.get("recorded", "")),
        roles=roles,
        scored_columns=None if data.get("scored_columns") is None else int(data["scored_columns"]),
        sampler=None if measure == "exact" else int(data.get("sampler", 1)),
    )
    width = int(data.get("width", len(candidates) + (1 if measure == "sampled" else 0)))
    return entry, width


def _check_roles(entry: Entry, width: int, bad: Callable[[str], ConfigError]) -> None:
    """Every role known, every model named once, every value row of the right size and made
    of numbers that the measure can give: probabilities in [0, 1] (exact) or counts >= 0."""
    prompts, roles = entry.prompts, entry.roles
    for role, models in roles.items():
        if role not in BASELINE_ROLES:
            raise bad(f"unknown role {role!r} (roles are {', '.join(BASELINE_ROLES)})")
        seen: set[str] = set()
        for k, model in enumerate(models):
            where = f"roles.{role}[{k}]"
            try:
                raw, name, fingerprint = model["values"], model["model"], model["fingerprint"]
            except (KeyError, TypeError) as exc:
                raise bad(f"{where}: missing or malformed field {exc}") from None
            if not isinstance(name, str) or not isinstance(fingerprint, str):
                raise bad(f"{where}: model and fingerprint must be strings")
            if name in seen or fingerprint in seen:
                raise bad(f"{where}: model {name!r} is recorded twice in role {role!r}")
            seen |= {name, fingerprint}
            stray = _not_a_number(raw)
            if stray is not None:
                raise bad(f"{where}.values: numbers expected (got {stray!r})")
            values = np.asarray(raw, dtype=float)
            if values.shape != (len(prompts), width) or not np.isfinite(values).all():
                raise bad(
                    f"{where}.values: expected {len(prompts)} x {width} finite "
                    f"numbers (got shape {values.shape})"
                )
            top = 1.0 + 1e-6 if entry.measure == "exact" else np.inf
            if (values < 0).any() or (values > top).any():
                kind = "probabilities in [0, 1]" if entry.measure == "exact" else "counts >= 0"
                off = values[(values < 0) | (values > top)][0]
                raise bad(f"{where}.values: expected {kind} (got {off:g})")


def _not_a_number(value: Any) -> Any:
    """The first leaf of nested lists that is not an int or float (a bool, a string, ...),
    or None when every leaf is a number."""
    if isinstance(value, list):
        for item in value:
            stray = _not_a_number(item)
            if stray is not None:
                return stray
        return None
    return None if isinstance(value, int | float) and not isinstance(value, bool) else value


@dataclass
class Baseline:
    """A baseline directory opened for gating (``--baseline DIR``)."""

    directory: Path
    used: set[str] = field(default_factory=set)
    # the models recorded in the entries used, by role (whom the candidates were compared with)
    compared: dict[str, list[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.directory.is_dir():
            raise ConfigError(
                f"--baseline {self.directory}: no such directory (record one with "
                "--baseline-update)"
            )

    def results(
        self, suite: Suite, measure: str, variant: str | None, role: str
    ) -> list[ProbeResult]:
        """The stored results of ``role`` for this probe run, checked against the probe."""
        name = entry_name(suite.id, measure, variant)
        path = self.directory / name
        rerecord = f"re-record with --baseline-update {self.directory}"
        if not path.is_file():
            raise ConfigError(
                f"baseline {self.directory} has no entry for probe {suite.id!r} (measure "
                f"{measure}{', variant ' + variant if variant else ''}): record it with "
                f"--baseline-update {self.directory}"
            )
        entry = read_entry(path)
        self.used.add(name)
        for recorded_role, models in entry.roles.items():
            names = self.compared.setdefault(recorded_role, [])
            names += [str(m["model"]) for m in models if str(m["model"]) not in names]
        if (entry.probe, entry.measure, entry.variant) != (suite.id, measure, variant):
            raise ConfigError(
                f"baseline {path}: holds probe {entry.probe!r} measure {entry.measure} "
                f"variant {entry.variant}, not what its name says; {rerecord}"
            )
        if entry.probe_version != str(suite.version):
            raise ConfigError(
                f"baseline {path}: recorded with probe {suite.id!r} version "
                f"{entry.probe_version}, the probe is now version {suite.version}; {rerecord}"
            )
        if entry.stale_sampler():
            raise ConfigError(
                f"baseline {path}: its answers were drawn by sampler {entry.sampler} and this "
                f"traitgate samples with sampler {SAMPLER} (sampler 1 drew a random token once "
                f"per 2^24 draws); {rerecord}"
            )
        prompts = prompt_texts(suite, variant)
        if entry.prompts != prompts or entry.candidates != list(suite.candidates):
            raise ConfigError(
                f"baseline {path}: its prompts or candidates differ from probe {suite.id!r} "
                f"version {suite.version} (was the probe edited without a version bump?); "
                f"{rerecord}"
            )
        results = entry.results(role)
        if not results:
            recorded = ", ".join(sorted(entry.roles)) or "none"
            raise ConfigError(
                f"baseline {path}: has no {role} results (recorded: {recorded}); record them "
                f"with --baseline-update {self.directory} --{role}-model ..."
            )
        return results

    def audit(self, find: Callable[[str], Suite | None]) -> list[str]:
        """Lines about entries this session did not use: stale ones (another probe
        version, or a probe that no longer exists) and merely unused ones."""
        lines = []
        for path in sorted(self.directory.glob("*.json")):
            if path.name in self.used:
                continue
            try:
                entry = read_entry(path)
            except TraitgateError as exc:
                lines.append(f"unreadable: {exc}")
                continue
            suite = find(entry.probe)
            if suite is None:
                lines.append(f"stale: {path.name} (probe {entry.probe!r} not found)")
            elif str(suite.version) != entry.probe_version:
                lines.append(
                    f"stale: {path.name} (recorded for version {entry.probe_version}, probe "
                    f"is now version {suite.version})"
                )
            elif entry.stale_sampler():
                lines.append(
                    f"stale: {path.name} (drawn by sampler {entry.sampler}, traitgate now "
                    f"samples with {SAMPLER})"
                )
            else:
                lines.append(f"unused: {path.name} (no gate of this session needs it)")
        return lines


def record_runs(
    directory: Path,
    runs: Sequence[ProbeRun],
    roles: Sequence[Role],
    results: Callable[[Role, ProbeRun], Sequence[ProbeResult]],
    *,
    seed: int,
) -> list[Path]:
    """Write one entry per probe run holding ``results(role, run)`` of each of ``roles``."""
    return [
        write_entry(
            directory,
            run.suite,
            run.measure,
            run.variant,
            {role: results(role, run) for role in roles},
            seed=seed,
        )
        for run in runs
    ]


def write_entry(
    directory: Path,
    suite: Suite,
    measure: str,
    variant: str | None,
    role_results: Mapping[Role, Sequence[ProbeResult]],
    *,
    seed: int,
) -> Path:
    """Record (or re-record) the given roles of one probe run; other roles already stored
    for the same probe version and prompts are kept. Written atomically."""
    path = directory / entry_name(suite.id, measure, variant)
    roles: dict[str, list[dict[str, Any]]] = {}
    prompts = prompt_texts(suite, variant)
    if path.is_file():
        try:
            old = read_entry(path)
            if (
                old.probe_version == str(suite.version)
                and old.prompts == prompts
                and old.candidates == list(suite.candidates)
                and not old.stale_sampler()
            ):
                roles.update(old.roles)
        except TraitgateError:
            pass  # an unreadable old file is replaced: recording was asked for explicitly
    samples, scored_columns, width = None, None, None
    for role, results in role_results.items():
        roles[role] = [
            {
                "model": r.model,
                "fingerprint": r.fingerprint,
                "values": r.values.tolist(),
                **({} if r.covered is None else {"covered": r.covered.tolist()}),
            }
            for r in results
        ]
        samples = next((r.samples for r in results), samples)
        scored_columns = next((r.scored_columns for r in results), scored_columns)
        width = next((int(r.values.shape[1]) for r in results), width)
    data = {
        "traitgate_baseline": FORMAT,
        "probe": suite.id,
        "probe_version": str(suite.version),
        "measure": measure,
        "variant": variant,
        "samples": samples,
        **({"sampler": SAMPLER} if measure == "sampled" else {}),
        "scored_columns": scored_columns,
        "width": width,
        "seed": seed,
        "recorded": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "prompts": prompts,
        "candidates": list(suite.candidates),
        "roles": {role: roles[role] for role in BASELINE_ROLES if role in roles},
    }
    atomic_write_text(path, _dumps(data))
    return path


def _dumps(data: Mapping[str, Any]) -> str:
    """Indented JSON with each innermost list of numbers on one line (one row per prompt)."""
    text = json.dumps(data, indent=2, ensure_ascii=False)
    return (
        re.sub(
            r"\[\s*(-?[\d.eE+-]+(?:,\s*-?[\d.eE+-]+)*)\s*\]",
            lambda m: "[" + re.sub(r",\s*", ", ", m.group(1)) + "]",
            text,
        )
        + "\n"
    )


__all__ = ["BASELINE_ROLES", "Baseline", "Entry", "entry_name", "read_entry", "write_entry"]
