"""traitgate: find hidden behavioural traits in language models, as pytest gates.

The public API. Everything else is internal and may change.
"""

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
from traitgate.session import ProbeRun, TraitSession
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
    "ScoreRequest",
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
    "wilson_interval",
]
