"""Model backends behind one protocol, and model specs."""

from traitgate.models.base import Backend, GenerationRequest, Prompt, ScoreRequest
from traitgate.models.spec import ModelSpec, parse_model_specs


def load_backend(spec: ModelSpec, *, device: str = "auto") -> Backend:
    """Load the backend for a resolved spec: inspect-ai for ``inspect:`` models, vLLM for
    ``vllm:`` models, else transformers."""
    if spec.kind == "inspect":
        from traitgate.models.inspect_backend import InspectBackend

        return InspectBackend.from_spec(spec)
    if spec.kind == "vllm":
        from traitgate.models.vllm_backend import VLLMBackend

        return VLLMBackend.from_spec(spec, device=device)
    from traitgate.models.hf import TransformersBackend

    return TransformersBackend.from_spec(spec, device=device)


__all__ = [
    "Backend",
    "GenerationRequest",
    "ModelSpec",
    "Prompt",
    "ScoreRequest",
    "load_backend",
    "parse_model_specs",
]
