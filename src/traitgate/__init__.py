"""traitgate: find hidden behavioural traits in language models, as pytest gates.

The public API. Everything else is internal and may change.
"""

from typing import TYPE_CHECKING

from traitgate._lazy import lazy_exports

if TYPE_CHECKING:  # the names below, imported on first use (a pytest run pays for none)
    from traitgate.errors import ConfigError, ModelError, TraitgateError, Unavailable
    from traitgate.fidelity import MeasureCheck, check_measures
    from traitgate.gate import (
        Evidence,
        Gate,
        GateResult,
        GateSpec,
        Specificity,
        build_gate,
        load_gate_file,
    )
    from traitgate.logcompare import LogComparison, compare_logs
    from traitgate.models import (
        Backend,
        GenerationRequest,
        ModelSpec,
        Prompt,
        ScoreRequest,
        load_backend,
        parse_model_specs,
    )
    from traitgate.planner import PlanRow, plan
    from traitgate.probes import (
        PreferenceSuite,
        ProbeKind,
        ProbeResult,
        find_suite,
        load_suite,
        run_preference,
    )
    from traitgate.probes.kinds import register as register_probe_kind
    from traitgate.scan import ScanOptions, ScanResult
    from traitgate.screen import ScreenOptions, ScreenResult, screen
    from traitgate.session import ProbeRun, SessionServices, SessionSettings, TraitSession
    from traitgate.stats import (
        ArmSummary,
        Comparison,
        ModelNoise,
        TestResult,
        adjust,
        benjamini_hochberg,
        calibrate,
        compare,
        holm,
        power,
        required_n,
        wilson_interval,
    )

# public name -> (module, attribute)
_EXPORTS: dict[str, tuple[str, str]] = {
    "ArmSummary": ("traitgate.stats", "ArmSummary"),
    "Backend": ("traitgate.models", "Backend"),
    "Comparison": ("traitgate.stats", "Comparison"),
    "ConfigError": ("traitgate.errors", "ConfigError"),
    "Evidence": ("traitgate.gate", "Evidence"),
    "Gate": ("traitgate.gate", "Gate"),
    "GateResult": ("traitgate.gate", "GateResult"),
    "GateSpec": ("traitgate.gate", "GateSpec"),
    "GenerationRequest": ("traitgate.models", "GenerationRequest"),
    "LogComparison": ("traitgate.logcompare", "LogComparison"),
    "MeasureCheck": ("traitgate.fidelity", "MeasureCheck"),
    "ModelError": ("traitgate.errors", "ModelError"),
    "ModelNoise": ("traitgate.stats", "ModelNoise"),
    "ModelSpec": ("traitgate.models", "ModelSpec"),
    "PlanRow": ("traitgate.planner", "PlanRow"),
    "PreferenceSuite": ("traitgate.probes", "PreferenceSuite"),
    "ProbeKind": ("traitgate.probes", "ProbeKind"),
    "ProbeResult": ("traitgate.probes", "ProbeResult"),
    "ProbeRun": ("traitgate.session", "ProbeRun"),
    "Prompt": ("traitgate.models", "Prompt"),
    "ScanOptions": ("traitgate.scan", "ScanOptions"),
    "ScanResult": ("traitgate.scan", "ScanResult"),
    "ScoreRequest": ("traitgate.models", "ScoreRequest"),
    "ScreenOptions": ("traitgate.screen", "ScreenOptions"),
    "ScreenResult": ("traitgate.screen", "ScreenResult"),
    "SessionServices": ("traitgate.session", "SessionServices"),
    "SessionSettings": ("traitgate.session", "SessionSettings"),
    "Specificity": ("traitgate.gate", "Specificity"),
    "TestResult": ("traitgate.stats", "TestResult"),
    "TraitSession": ("traitgate.session", "TraitSession"),
    "TraitgateError": ("traitgate.errors", "TraitgateError"),
    "Unavailable": ("traitgate.errors", "Unavailable"),
    "adjust": ("traitgate.stats", "adjust"),
    "benjamini_hochberg": ("traitgate.stats", "benjamini_hochberg"),
    "build_gate": ("traitgate.gate", "build_gate"),
    "calibrate": ("traitgate.stats", "calibrate"),
    "check_measures": ("traitgate.fidelity", "check_measures"),
    "compare": ("traitgate.stats", "compare"),
    "compare_logs": ("traitgate.logcompare", "compare_logs"),
    "find_suite": ("traitgate.probes", "find_suite"),
    "holm": ("traitgate.stats", "holm"),
    "load_backend": ("traitgate.models", "load_backend"),
    "load_gate_file": ("traitgate.gate", "load_gate_file"),
    "load_suite": ("traitgate.probes", "load_suite"),
    "parse_model_specs": ("traitgate.models", "parse_model_specs"),
    "plan": ("traitgate.planner", "plan"),
    "power": ("traitgate.stats", "power"),
    "register_probe_kind": ("traitgate.probes.kinds", "register"),
    "required_n": ("traitgate.stats", "required_n"),
    "run_preference": ("traitgate.probes", "run_preference"),
    "screen": ("traitgate.screen", "screen"),
    "wilson_interval": ("traitgate.stats", "wilson_interval"),
}


__getattr__, __dir__ = lazy_exports(__name__, globals(), _EXPORTS)


__version__ = "0.1.0"

__all__ = [
    "ArmSummary",
    "Backend",
    "Comparison",
    "ConfigError",
    "Evidence",
    "Gate",
    "GateResult",
    "GateSpec",
    "GenerationRequest",
    "LogComparison",
    "MeasureCheck",
    "ModelError",
    "ModelNoise",
    "ModelSpec",
    "PlanRow",
    "PreferenceSuite",
    "ProbeKind",
    "ProbeResult",
    "ProbeRun",
    "Prompt",
    "ScanOptions",
    "ScanResult",
    "ScoreRequest",
    "ScreenOptions",
    "ScreenResult",
    "SessionServices",
    "SessionSettings",
    "Specificity",
    "TestResult",
    "TraitSession",
    "TraitgateError",
    "Unavailable",
    "__version__",
    "adjust",
    "benjamini_hochberg",
    "build_gate",
    "calibrate",
    "check_measures",
    "compare",
    "compare_logs",
    "find_suite",
    "holm",
    "load_backend",
    "load_gate_file",
    "load_suite",
    "parse_model_specs",
    "plan",
    "power",
    "register_probe_kind",
    "required_n",
    "run_preference",
    "screen",
    "wilson_interval",
]
