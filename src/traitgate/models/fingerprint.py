"""Weights fingerprints: a hash of what a model computes, not of how a file stores it.

The same weights saved by ``save_pretrained`` (safetensors), by ``torch.save(state_dict())``
in a ``.ckpt`` beside the model's config, or by Lightning (``{"state_dict": {"model.<name>":
...}}``) share one fingerprint, so they share cached answers and baselines. The hash covers:

- every tensor's name, shape and values: floating-point values as float32 (the loader casts
  weights to the run's dtype, float32 or bfloat16, so weights stored in float16 and the
  same values stored in float32 compute the same), other tensors as stored; names made
  canonical: a tied output embedding (``lm_head.weight`` equal to another tensor) is left
  out (``save_pretrained`` drops it, ``state_dict()`` keeps it), and a leading name
  component every tensor shares is dropped (Lightning's ``model.``; transformers' own
  ``model.`` when nothing else is saved), repeatedly;
- the model's configuration (``config.json`` and ``generation_config.json`` as parsed JSON,
  without the fields that record who wrote them: ``transformers_version``, ``_name_or_path``);
- the tokenizer's files.

Files that change nothing the model computes (a README, training logs) are not hashed.
Tensor digests are cached per file (path, size, modification time).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from functools import lru_cache
from pathlib import Path

from traitgate.errors import ModelError

TensorDigests = tuple[tuple[str, str, tuple[int, ...], str], ...]  # name, kind, shape, sha

CONFIG_FILES = ("config.json", "generation_config.json")
WRITER_FIELDS = {"transformers_version", "_name_or_path"}
TOKENIZER_FILES = (
    "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json",
    "vocab.json", "vocab.txt", "merges.txt", "tokenizer.model", "chat_template.jinja",
    "chat_template.json",
)  # fmt: skip
# safetensors' dtype codes as torch names them (one name per dtype across formats)
_SAFETENSORS_DTYPES = {
    "F64": "float64", "F32": "float32", "F16": "float16", "BF16": "bfloat16",
    "I64": "int64", "I32": "int32", "I16": "int16", "I8": "int8", "U8": "uint8",
    "BOOL": "bool", "F8_E4M3": "float8_e4m3fn", "F8_E5M2": "float8_e5m2",
}  # fmt: skip


def weight_files(directory: Path) -> list[Path]:
    """The weights ``from_pretrained`` reads in a model directory: its safetensors files,
    else its PyTorch ``.bin`` files."""
    found = sorted(directory.glob("*.safetensors"))
    return found or sorted(directory.glob("pytorch_model*.bin"))


def fingerprint(weights: Sequence[Path], config_dir: Path) -> str:
    """The fingerprint of the tensors in ``weights`` with the configuration and tokenizer
    files in ``config_dir`` (the model directory, or the folder beside a weights file)."""
    digest = hashlib.sha256(b"traitgate-fingerprint-2\n")
    for name, dtype, shape, sha in _canonical(t for path in weights for t in tensor_digests(path)):
        digest.update(f"{name}\t{dtype}\t{list(shape)}\t{sha}\n".encode())
    for file in CONFIG_FILES:
        path = config_dir / file
        if path.is_file():
            digest.update(f"{file}\t{_config_digest(path)}\n".encode())
    for file in TOKENIZER_FILES:
        path = config_dir / file
        if path.is_file():
            digest.update(f"{file}\t{file_digest(path)}\n".encode())
    return digest.hexdigest()


def _canonical(tensors: Iterable[tuple[str, str, tuple[int, ...], str]]) -> TensorDigests:
    """The tensors, less a tied output embedding (``lm_head.weight`` equal in content to
    another tensor: ``save_pretrained`` drops it, ``state_dict()`` keeps it), with the
    leading name components every tensor shares dropped."""
    listed = list(tensors)
    contents = {(kind, shape, sha) for name, kind, shape, sha in listed if not _tied(name)}
    kept = sorted(
        (name, kind, shape, sha)
        for name, kind, shape, sha in listed
        if not (_tied(name) and (kind, shape, sha) in contents)
    )
    while kept and all("." in n for n, *_ in kept):
        first = kept[0][0].split(".", 1)[0]
        if not all(n.split(".", 1)[0] == first for n, *_ in kept):
            break
        kept = [(n.split(".", 1)[1], kind, shape, sha) for n, kind, shape, sha in kept]
    return tuple(kept)


def _tied(name: str) -> bool:
    return name == "lm_head.weight" or name.endswith(".lm_head.weight")


def tensor_digests(path: Path) -> TensorDigests:
    """(name, dtype, shape, sha256 of the bytes) of every tensor in a weights file."""
    stat = path.stat()
    return _tensor_digests(path, stat.st_size, stat.st_mtime_ns)


@lru_cache(maxsize=1024)
def _tensor_digests(path: Path, _size: int, _mtime_ns: int) -> TensorDigests:
    if path.suffix == ".safetensors":
        return _safetensors_digests(path)
    return _torch_digests(path)


def _safetensors_digests(path: Path) -> TensorDigests:
    """Straight from the file: the header gives each tensor's byte range (no torch)."""
    out = []
    try:
        with path.open("rb") as handle:
            size = int.from_bytes(handle.read(8), "little")
            header = json.loads(handle.read(size))
            start = 8 + size
            for name, info in header.items():
                if name == "__metadata__":
                    continue
                low, high = info["data_offsets"]
                handle.seek(start + low)
                raw = handle.read(high - low)
                if len(raw) != high - low:
                    raise ValueError("the file ends before its tensors do")
                dtype = _SAFETENSORS_DTYPES.get(info["dtype"], info["dtype"].lower())
                dtype, raw = _as_float32(dtype, raw)
                sha = hashlib.sha256(raw).hexdigest()
                out.append((name, dtype, tuple(int(d) for d in info["shape"]), sha))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelError(f"{path}: corrupt or unreadable safetensors file ({exc})") from None
    return tuple(out)


def _as_float32(dtype: str, raw: bytes) -> tuple[str, bytes]:
    """Floating-point tensor bytes (little-endian, as safetensors stores them) as float32
    values; other tensors unchanged. float8 values are kept as stored (numpy has no type)."""
    import numpy as np

    if dtype == "float32":
        return "float", raw
    if dtype in ("float16", "float64"):
        values = np.frombuffer(raw, dtype="<f2" if dtype == "float16" else "<f8")
        return "float", values.astype("<f4").tobytes()
    if dtype == "bfloat16":  # the top half of a float32
        bits = np.frombuffer(raw, dtype="<u2").astype("<u4") << 16
        return "float", bits.view("<f4").tobytes()
    return dtype, raw


def _torch_digests(path: Path) -> TensorDigests:
    """A torch file's tensors, read as the loader reads them (plain tensors only)."""
    import torch

    from traitgate.models.hf_loading import read_state_dict

    out = []
    for name, tensor in read_state_dict(path).items():
        data = tensor.detach().cpu()
        floating = data.is_floating_point() and data.element_size() >= 2  # (not float8)
        if floating:
            data = data.to(torch.float32)
        data = data.contiguous()
        raw = data.reshape(-1).view(torch.uint8).numpy().tobytes()
        dtype = "float" if floating else str(data.dtype).removeprefix("torch.")
        shape = tuple(int(d) for d in data.shape)
        out.append((name, dtype, shape, hashlib.sha256(raw).hexdigest()))
    return tuple(out)


def _config_digest(path: Path) -> str:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return file_digest(path)  # not JSON: its bytes
    if isinstance(data, dict):
        data = {k: v for k, v in data.items() if k not in WRITER_FIELDS}
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


def file_digest(path: Path) -> str:
    """sha256 of a file's bytes, cached per (path, size, modification time)."""
    stat = path.stat()
    return _file_digest_cached(path, stat.st_size, stat.st_mtime_ns)


@lru_cache(maxsize=4096)
def _file_digest_cached(path: Path, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


__all__ = ["file_digest", "fingerprint", "tensor_digests", "weight_files"]
