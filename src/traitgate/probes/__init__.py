"""Probe suites: YAML schema, loading, and the built-in probe kinds."""

from traitgate.probes.loader import builtin_probe_dir, find_suite, iter_suite_files, load_suite
from traitgate.probes.preference import ProbeResult, build_prompts, run_preference
from traitgate.probes.schema import KINDS, PreferenceSuite, Suite

__all__ = [
    "KINDS",
    "PreferenceSuite",
    "ProbeResult",
    "Suite",
    "build_prompts",
    "builtin_probe_dir",
    "find_suite",
    "iter_suite_files",
    "load_suite",
    "run_preference",
]
