"""Model specs: what the user wrote (``--model runs/student-s*``) resolved to concrete models.

A spec is resolved without loading weights, so a typo fails at once, before any work.
Kinds:
- ``hf_dir``: a local Hugging Face model directory (config.json + weights + tokenizer);
- ``peft``: a PEFT adapter directory (adapter_config.json); its base is resolved from it;
- ``state_dict``: one ``.safetensors``/``.ckpt``/``.pt``/``.bin`` file, with an architecture
  directory (config + tokenizer) given by ``--model-architecture``;
- ``hub``: ``hf:org/name``, fetched with huggingface_hub (or read from its local cache);
- ``inspect``: ``inspect:provider/model``, any model inspect-ai serves (an API);
- ``vllm``: ``vllm:<dir>``, a local model directory served by vLLM (optional extra).
"""

from __future__ import annotations

import glob
import hashlib
import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal

from traitgate.errors import ConfigError, ModelError, TraitgateError, first_line
from traitgate.models.fingerprint import file_digest, fingerprint, weight_files

Kind = Literal["hf_dir", "peft", "state_dict", "hub", "inspect", "vllm"]
# what a hub id looks like (org/name), to suggest hf:org/name for a path that does not exist
_HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")
STATE_DICT_SUFFIXES = (".safetensors", ".ckpt", ".pt", ".pth", ".bin")
HUB_PREFIX = "hf:"
INSPECT_PREFIX = "inspect:"
VLLM_PREFIX = "vllm:"


def parameter_count(spec: ModelSpec) -> int | None:
    """Parameters of a local model (full directory or weights file) from its safetensors
    headers, without loading weights; None when unknown (hub, API, adapter, other formats)."""
    if spec.kind in ("hf_dir", "vllm"):
        files = sorted(Path(spec.location).glob("*.safetensors"))
    elif spec.kind == "state_dict" and spec.location.endswith(".safetensors"):
        files = [Path(spec.location)]
    else:
        return None
    total = 0
    for file in files:
        try:
            with file.open("rb") as handle:
                size = int.from_bytes(handle.read(8), "little")
                header = json.loads(handle.read(size))
        except (OSError, ValueError):
            return None
        for name, info in header.items():
            if name != "__metadata__":
                count = 1
                for dim in info.get("shape", []):
                    count *= int(dim)
                total += count
    return total or None


@dataclass(frozen=True)
class ModelSpec:
    raw: str
    kind: Kind
    location: str  # a resolved path, or a hub id
    architecture: Path | None = None

    @property
    def path(self) -> Path:
        return Path(self.location)

    @property
    def label(self) -> str:
        if self.kind in ("hub", "inspect"):
            return self.location
        return self.path.name if self.kind != "state_dict" else self.path.stem

    def local_path(self) -> Path:
        """Where the weights are on disk; a hub model is fetched (or found in the HF cache)."""
        return resolve_hub(self.location) if self.kind == "hub" else self.path

    def short_fingerprint(self) -> str:
        """The fingerprint's first 12 characters for display, or "?" when the weights cannot
        be read (the gates that need them report why)."""
        try:
            return self.fingerprint()[:12]
        except (OSError, TraitgateError):
            return "?"

    def fingerprint(self) -> str:
        """Content hash of everything that determines the model's behaviour: its tensors,
        configuration and tokenizer, however the weights are stored (see
        :mod:`traitgate.models.fingerprint`). A model behind an API has no weights to hash:
        its name stands in (the provider may change it)."""
        if self.kind == "inspect":
            return hashlib.sha256(f"inspect:{self.location}".encode()).hexdigest()[:16]
        path = self.local_path()
        if self.kind == "peft":
            parts = [_dir_digest(path), resolve_peft_base(self).fingerprint()]
            return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]
        if path.is_dir():
            files = weight_files(path)
            return (fingerprint(files, path) if files else _dir_digest(path))[:16]
        # a weights file: its configuration is beside it or in --model-architecture
        return fingerprint([path], self.architecture or path.parent)[:16]

    def answers_id(self, weights: str | None = None) -> str:
        """What the answer cache files this model's answers under: its fingerprint
        (``weights``, when already computed), qualified by the backend where that backend
        answers in its own way. vLLM samples with its own sampler (other draws than the
        transformers backend's) and scores in its own kernels, so ``vllm:DIR`` and ``DIR``
        share a fingerprint (the same weights) but not answers: otherwise which answers a
        run got would depend on which backend ran first."""
        weights = weights or self.fingerprint()
        if self.kind == "vllm":
            return hashlib.sha256(f"vllm:{weights}".encode()).hexdigest()[:16]
        return weights


def one_model_spec(value: str, *, architecture: Path | None = None) -> ModelSpec:
    """The spec of an option that names exactly one model (a glob must match one)."""
    specs = parse_model_specs([value], architecture=architecture)
    if len(specs) != 1:
        raise ConfigError(f"{value!r} names {len(specs)} models; give exactly one")
    return specs[0]


def parse_model_specs(
    values: list[str], *, base_dir: Path | None = None, architecture: Path | None = None
) -> list[ModelSpec]:
    """Resolve option values (each a path, a glob or a hub id) into specs, globs sorted."""
    specs: list[ModelSpec] = []
    for value in values:
        for item in value.split(",") if "," in value else [value]:
            item = item.strip()
            if item:
                specs.extend(_expand(item, base_dir, architecture))
    seen: set[str] = set()
    for spec in specs:
        if spec.location in seen:
            raise ModelError(f"model {spec.raw!r} is given twice")
        seen.add(spec.location)
    return specs


def _expand(value: str, base_dir: Path | None, architecture: Path | None) -> list[ModelSpec]:
    if value.startswith((HUB_PREFIX, INSPECT_PREFIX, VLLM_PREFIX)):
        return _prefixed(value, base_dir)
    if ":" in value.split("/")[0] and not Path(value).exists():
        raise ModelError(
            f"model {value!r}: unknown provider prefix; use a local path, hf:org/name, "
            "inspect:provider/model or vllm:<local path>"
        )
    path = Path(value).expanduser()
    if base_dir is not None and not path.is_absolute():
        path = base_dir / path
    if glob.has_magic(str(path)):
        matches = sorted(Path(p) for p in glob.glob(str(path)))
        if not matches:
            raise ModelError(f"model {value!r}: the pattern matches nothing")
        return [_classify(value, m, architecture) for m in matches]
    return [_classify(value, path, architecture)]


def _prefixed(value: str, base_dir: Path | None) -> list[ModelSpec]:
    """A model named with a provider prefix: hf:, inspect: or vllm:."""
    if value.startswith(HUB_PREFIX):
        name = value[len(HUB_PREFIX) :]
        if not name or name.count("/") > 1:
            raise ModelError(f"model {value!r}: a hub id looks like hf:org/name")
        return [ModelSpec(value, "hub", name)]
    if value.startswith(INSPECT_PREFIX):
        name = value[len(INSPECT_PREFIX) :]
        if "/" not in name.strip("/"):
            raise ModelError(
                f"model {value!r}: an inspect-ai model looks like inspect:provider/model"
            )
        return [ModelSpec(value, "inspect", name)]
    inner = _expand(value[len(VLLM_PREFIX) :], base_dir, None)
    other = next((s for s in inner if s.kind != "hf_dir"), None)
    if other is not None:  # a glob must not drop an adapter or a hub id silently
        raise ModelError(
            f"model {value!r}: vllm: takes local model directories (config.json, weights, "
            f"tokenizer), not {other.location}; download hub models, merge adapters first"
        )
    return [ModelSpec(value, "vllm", s.location) for s in inner]


def _classify(raw: str, path: Path, architecture: Path | None) -> ModelSpec:
    if not path.exists():
        hub = _HUB_ID.fullmatch(raw)
        hint = f"; if it is a hub id, write hf:{raw}" if hub else ""
        raise ModelError(f"model {raw!r}: no such file or directory ({path}){hint}")
    path = path.resolve()
    if path.is_dir():
        if (path / "adapter_config.json").is_file():
            return ModelSpec(raw, "peft", str(path))
        if (path / "config.json").is_file():
            _has_hf_weights(raw, path)
            return ModelSpec(raw, "hf_dir", str(path))
        raise ModelError(
            f"model {raw!r}: {path} is not a model directory "
            "(no config.json or adapter_config.json)"
        )
    if path.suffix not in STATE_DICT_SUFFIXES:
        raise ModelError(
            f"model {raw!r}: unsupported file type {path.suffix!r} "
            f"(expected a directory or one of {', '.join(STATE_DICT_SUFFIXES)})"
        )
    if architecture is None and (path.parent / "config.json").is_file():
        architecture = path.parent  # config.json and the tokenizer beside the weights
    if architecture is None:
        raise ModelError(
            f"model {raw!r}: a bare weights file needs --model-architecture DIR "
            "(a directory with config.json and the tokenizer), or those files beside it"
        )
    arch = architecture.resolve()
    if not (arch / "config.json").is_file():
        raise ModelError(f"--model-architecture {architecture}: no config.json there")
    return ModelSpec(raw, "state_dict", str(path), arch)


# files transformers reads weights from, in a model directory
HF_WEIGHTS = ("model.safetensors", "pytorch_model.bin", "tf_model.h5", "flax_model.msgpack")


def _has_hf_weights(raw: str, path: Path) -> None:
    """A model directory must hold weights transformers reads (a single file or a sharded
    index); one holding only a training checkpoint is named, with what to pass instead."""
    names = [p.name for p in path.iterdir()]
    if any(n in HF_WEIGHTS or n.endswith(".index.json") for n in names):
        return
    if any(n.startswith("model-") and n.endswith(".safetensors") for n in names):
        return
    weights = sorted(n for n in names if Path(n).suffix in STATE_DICT_SUFFIXES)
    hint = (
        f"; give the weights file itself (--model {path / weights[0]}): the config.json "
        "and tokenizer beside it are used"
        if weights
        else ""
    )
    raise ModelError(
        f"model {raw!r}: {path} has config.json but no weights transformers reads "
        f"({', '.join(HF_WEIGHTS[:2])} or a sharded index){hint}"
    )


def resolve_peft_base(spec: ModelSpec) -> ModelSpec:
    """The base model an adapter directory was trained on: a local path (absolute, or
    relative to the adapter, a folder above it, or here), else a hub id."""
    config_path = spec.path / "adapter_config.json"
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelError(f"{config_path}: cannot read adapter config: {exc}") from None
    base = config.get("base_model_name_or_path")
    if not isinstance(base, str) or not base:
        raise ModelError(f"{config_path}: base_model_name_or_path is missing")
    given = Path(base).expanduser()
    # PEFT writes the path as training was given it: relative to the folder training ran
    # in, which is usually above the adapter (runs/base for runs/student-s0), or to the
    # adapter itself when it was moved with its base; else it is a hub id
    places = (
        [given]
        if given.is_absolute()
        else [folder / given for folder in (spec.path, *spec.path.resolve().parents, Path.cwd())]
    )
    found = next((c for c in places if (c / "config.json").is_file() or c.is_file()), None)
    if found is not None:
        return _classify(base, found, None)
    if given.is_absolute() or base.startswith((".", "~")) or base.count("/") != 1:
        raise ModelError(
            f"{config_path}: base model {base!r} not found (looked beside the adapter, in "
            "the folders above it and here); write its absolute path into "
            "base_model_name_or_path"
        )
    return ModelSpec(base, "hub", base)


@lru_cache(maxsize=64)
def resolve_hub(repo_id: str) -> Path:
    """Local snapshot of a hub model: downloaded with huggingface_hub, or read from its cache
    when HF_HUB_OFFLINE=1. Only the files a causal LM needs are fetched."""
    from huggingface_hub import snapshot_download

    try:
        return Path(
            snapshot_download(
                repo_id,
                allow_patterns=[
                    "*.json",
                    "*.safetensors",
                    "*.model",
                    "*.txt",
                    "*.jinja",
                    "tokenizer*",
                ],
            )
        )
    except Exception as exc:  # network, auth, missing repo, offline cache miss
        raise ModelError(
            f"model hf:{repo_id}: cannot fetch from the hub: {first_line(exc)}"
        ) from None


def _dir_digest(path: Path) -> str:
    files = sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
    return hashlib.sha256(
        "\n".join(f"{p.name}:{file_digest(p)}" for p in files).encode()
    ).hexdigest()
