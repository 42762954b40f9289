"""Reading a model's weights and tokenizer for the transformers backend: a model directory,
a PEFT adapter over its base, or a bare state-dict file with an architecture directory.
Every failure is one :class:`~traitgate.errors.ModelError` line naming the model."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

from traitgate.errors import ModelError, first_line
from traitgate.models.spec import ModelSpec, resolve_peft_base


@contextmanager
def no_progress_bars() -> Iterator[None]:
    """transformers' own progress bars (loading, writing shards) off: clutter in pytest
    output and CI logs, where traitgate prints its own progress."""
    from transformers.utils import logging as hf_logging

    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if bars:
            hf_logging.enable_progress_bar()


def load_weights(spec: ModelSpec, dtype: torch.dtype) -> tuple[Any, Any]:
    with no_progress_bars():
        return _load_any(spec, dtype)


def _load_any(spec: ModelSpec, dtype: torch.dtype) -> tuple[Any, Any]:
    try:
        if spec.kind in ("hf_dir", "hub"):
            directory = spec.local_path()
            return _load_pretrained(directory, dtype), _load_tokenizer(directory, spec)
        if spec.kind == "peft":
            return _load_peft(spec, dtype)
        return _load_state_dict(spec, dtype)
    except ModelError:
        raise
    except Exception as exc:  # transformers/safetensors raise many types; keep one line
        raise ModelError(f"model {spec.raw!r}: cannot load: {first_line(exc)}") from None


def _load_pretrained(directory: Path, dtype: torch.dtype) -> Any:
    from transformers import AutoModelForCausalLM

    if not _declares_quantisation(directory):
        for file in sorted(directory.glob("*.safetensors")):
            check_float_weights(_safetensors_dtypes(file), str(directory))

    return AutoModelForCausalLM.from_pretrained(directory, dtype=dtype, trust_remote_code=False)


def _load_tokenizer(directory: Path, spec: ModelSpec) -> Any:
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(directory, trust_remote_code=False)
    except Exception as exc:
        raise ModelError(
            f"model {spec.raw!r}: no usable tokenizer in {directory}: {first_line(exc)}"
        ) from None


def _load_peft(spec: ModelSpec, dtype: torch.dtype) -> tuple[Any, Any]:
    from peft import PeftModel

    base_spec = resolve_peft_base(spec)
    base, tokenizer = _load_any(base_spec, dtype)
    if any((spec.path / name).is_file() for name in ("tokenizer.json", "tokenizer_config.json")):
        tokenizer = _load_tokenizer(spec.path, spec)
    model = PeftModel.from_pretrained(base, spec.path, is_trainable=False)
    return model.merge_and_unload(), tokenizer


def _load_state_dict(spec: ModelSpec, dtype: torch.dtype) -> tuple[Any, Any]:
    from transformers import AutoConfig, AutoModelForCausalLM

    assert spec.architecture is not None  # guaranteed by spec parsing
    config = AutoConfig.from_pretrained(spec.architecture, trust_remote_code=False)
    model = AutoModelForCausalLM.from_config(config, dtype=dtype)
    state = _without_wrapper_prefix(read_state_dict(spec.path), set(model.state_dict()))
    check_float_weights({k: str(v.dtype) for k, v in state.items()}, spec.raw)
    try:
        missing, unexpected = model.load_state_dict(state, strict=False)
    except RuntimeError as exc:  # shape mismatches
        raise ModelError(
            f"model {spec.raw!r}: weights do not fit --model-architecture "
            f"{spec.architecture}: {first_line(exc, prefer='size mismatch')}"
        ) from None
    tied = {"lm_head.weight"} if getattr(config, "tie_word_embeddings", False) else set()
    missing = [k for k in missing if k not in tied]
    if missing or unexpected:
        detail = f"missing {missing[:3]}" if missing else f"unexpected {list(unexpected)[:3]}"
        raise ModelError(
            f"model {spec.raw!r}: weights do not fit --model-architecture "
            f"{spec.architecture}: {detail}"
        )
    if tied:
        model.tie_weights()
    return model, _load_tokenizer(spec.architecture, spec)


def check_float_weights(dtypes: dict[str, str], model: str) -> None:
    """Refuse weight matrices stored as integers (a quantised checkpoint without its
    quantisation config): loading would cast the codes to floats and run a different model
    without a word. Integer buffers (position ids, masks) are not weights and pass."""
    for name, dtype in dtypes.items():
        kind = dtype.removeprefix("torch.").lower()
        if (
            name.endswith(".weight")
            and kind.startswith(("int", "uint", "i", "u"))
            and not (kind.startswith("inf"))
        ):
            raise ModelError(
                f"model {model!r}: {name} is stored as {kind} (a quantised checkpoint?): "
                "traitgate loads floating-point weights; give the float checkpoint, or a "
                "model directory whose config.json carries its quantization_config"
            )


def _declares_quantisation(directory: Path) -> bool:
    try:
        config = json.loads((directory / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(config, dict) and "quantization_config" in config


def _safetensors_dtypes(path: Path) -> dict[str, str]:
    """Each tensor's dtype from a safetensors header (nothing else is read)."""
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as handle:
        return {k: str(handle.get_slice(k).get_dtype()) for k in handle.keys()}  # noqa: SIM118


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """Tensors from a safetensors or torch file, never executing pickled code."""
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            return dict(load_file(str(path)))
        except Exception as exc:
            raise ModelError(
                f"{path}: corrupt or unreadable safetensors file: {first_line(exc)}"
            ) from None
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        detail = first_line(exc, prefer="Unsupported")
        if "Unsupported global" in str(exc):  # a pickled object, e.g. a whole model
            raise ModelError(
                f"{path}: holds pickled Python objects ({_global_name(str(exc))}), not only "
                "tensors, and traitgate never unpickles code (weights_only=True refuses "
                "pickled code): save model.state_dict() with torch.save, or use "
                "save_pretrained"
            ) from None
        raise ModelError(
            f"{path}: not loadable as plain tensors (weights_only=True refuses pickled code "
            f"and corrupt files): {detail}"
        ) from None
    for key in ("state_dict", "model", "model_state_dict"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ModelError(f"{path}: does not hold a state dict of tensors")
    return {k.removeprefix("module."): v for k, v in obj.items()}


def _global_name(message: str) -> str:
    """The class a weights_only load refused, from torch's message ("GLOBAL a.b.C ...")."""
    found = re.search(r"GLOBAL ([\w.]+)", message)
    return found.group(1) if found else "a Python object"


def _without_wrapper_prefix(
    state: dict[str, torch.Tensor], wanted: set[str]
) -> dict[str, torch.Tensor]:
    """A training framework's checkpoint names the model's tensors under its own attribute
    (Lightning: ``model.`` + the transformers names): strip the one leading prefix that
    turns the names into the model's, when the names do not fit as they are."""
    if not state or set(state) & wanted:
        return state
    first = next(iter(state))
    parts = first.split(".")
    for depth in range(1, min(3, len(parts))):
        prefix = ".".join(parts[:depth]) + "."
        if all(k.startswith(prefix) for k in state):
            stripped = {k[len(prefix) :]: v for k, v in state.items()}
            if set(stripped) & wanted:
                return stripped
    return state
