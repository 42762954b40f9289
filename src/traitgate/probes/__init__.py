"""Probe suites: YAML schema, loading, and the built-in probe kinds."""

from traitgate.probes.kinds import REGISTRY, ProbeKind, register
from traitgate.probes.loader import builtin_probe_dir, find_suite, iter_suite_files, load_suite
from traitgate.probes.preference import build_prompts, run_preference
from traitgate.probes.result import ProbeResult
from traitgate.probes.schema import PreferenceSuite, Suite

__all__ = [
    "REGISTRY",
    "PreferenceSuite",
    "ProbeKind",
    "ProbeResult",
    "Suite",
    "build_prompts",
    "builtin_probe_dir",
    "find_suite",
    "iter_suite_files",
    "load_suite",
    "register",
    "run_preference",
]
