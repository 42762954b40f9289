"""The ``traitgate`` fixture: gates written in Python, recorded in the summary table."""

from __future__ import annotations

import json
from typing import Any

import pytest

from traitgate._plugin import PROPERTY
from traitgate.errors import ConfigError
from traitgate.gate import GateResult
from traitgate.probes.loader import find_suite, load_suite
from traitgate.probes.result import ProbeResult
from traitgate.roles import Role
from traitgate.scan import ScanOptions, ScanResult
from traitgate.session import ProbeRun, TraitSession


class TraitgateFixture:
    """What Python gates get as ``traitgate``: comparisons recorded in the summary table."""

    def __init__(self, session: TraitSession, node: pytest.Item) -> None:
        self.session = session
        self._node = node

    def compare(
        self,
        probe: str,
        trait: str,
        compare: tuple[Role, Role] = ("model", "control"),
        **options: Any,
    ) -> GateResult:
        """Run one comparison (a gate written in Python); its p-value is not corrected
        with the YAML gates. Options are the gate fields: alternative, alpha, min_effect,
        measure, variant."""
        result = self.session.compare(probe, trait, compare, **options)
        row = result.to_dict()
        row["gate"] = f"{self._node.name}:{probe}/{result.gate.trait}"
        self._node.user_properties.append((PROPERTY, json.dumps(row)))
        return result

    def check(
        self,
        probe: str,
        trait: str,
        compare: tuple[Role, Role] = ("model", "control"),
        **options: Any,
    ) -> GateResult:
        """Like :meth:`compare`, and fail the test with the explanation if the gate fails."""
        result = self.compare(probe, trait, compare, **options)
        if not result.passed:
            pytest.fail(result.explain(), pytrace=False)
        return result

    def scan(self, probes: str | list[str], **options: Any) -> ScanResult:
        """Test every candidate of the probe(s), BH-adjusted together (see
        :mod:`traitgate.scan`); recorded in the summary table. Options are
        :class:`~traitgate.scan.ScanOptions` fields: compare, q, alternative, min_effect,
        measure, variant, model_sd. Fails nothing by itself: assert on ``.passed`` or
        ``.discoveries``."""
        try:
            settings = ScanOptions(**options)
        except TypeError as exc:  # an option that is no ScanOptions field
            raise ConfigError(f"scan: {exc}") from None
        result = self.session.scan([probes] if isinstance(probes, str) else probes, settings)
        row = result.to_dict()
        row["gate"] = f"{self._node.name}:scan"
        self._node.user_properties.append((PROPERTY, json.dumps(row)))
        return result

    def results(
        self, role: Role, probe: str, measure: str = "exact", variant: str | None = None
    ) -> list[ProbeResult]:
        """Raw per-model probe results of a role, for custom statistics."""
        suite = load_suite(find_suite(probe, self.session.settings.probe_paths))
        if measure not in ("exact", "sampled"):
            raise ConfigError(f"measure must be exact or sampled (got {measure!r})")
        return self.session.results(role, ProbeRun(suite, measure, variant))  # type: ignore[arg-type]
