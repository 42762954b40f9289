"""Finding and loading probe suites from YAML files."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import lru_cache
from pathlib import Path

from traitgate._yaml import Document, parse_documents, read_text, validate
from traitgate.errors import ConfigError
from traitgate.probes.kinds import REGISTRY
from traitgate.probes.schema import Suite

SUFFIXES = (".yaml", ".yml")


def builtin_probe_dir() -> Path | None:
    """Directory of the suites that ship with traitgate.

    In a wheel they are packaged as ``traitgate/_builtin_probes``; in a source checkout
    (editable install) they are the repository's ``probes/`` directory.
    """
    here = Path(__file__).resolve().parent.parent
    for candidate in (here / "_builtin_probes", here.parent.parent / "probes"):
        if candidate.is_dir():
            return candidate
    return None


def load_suite(path: str | Path) -> Suite:
    """Load and validate one probe suite file (cached on its path and content)."""
    resolved = Path(path).resolve()
    return _load_suite_cached(resolved, read_text(resolved))


@lru_cache(maxsize=256)
def _load_suite_cached(path: Path, text: str) -> Suite:
    docs = parse_documents(path, text)
    if len(docs) > 1:
        raise ConfigError(f"{path}:{docs[1].line_of()}: a probe suite file holds one document")
    return suite_from_document(docs[0])


def suite_from_document(doc: Document) -> Suite:
    data = doc.data
    if not isinstance(data, dict):
        raise ConfigError(f"{doc.path}:{doc.line_of()}: expected a mapping of fields")
    kind = data.get("kind")
    if kind not in REGISTRY:
        known = ", ".join(sorted(REGISTRY))
        where = doc.line_of(("kind",)) if "kind" in data else doc.line_of()
        got = "missing" if kind is None else repr(kind)
        raise ConfigError(f"{doc.path}:{where}: kind: must be one of {known} (got {got})")
    probe_kind = REGISTRY[kind]
    suite: Suite = probe_kind.resolve(validate(probe_kind.schema, doc), doc.path.parent)
    if suite.id != doc.path.stem:
        raise ConfigError(
            f"{doc.path}:{doc.line_of(('id',))}: id: must match the file name "
            f"{doc.path.stem!r} (got {suite.id!r})"
        )
    return suite


def find_suite(name: str, search_paths: Sequence[Path] = ()) -> Path:
    """Path of the suite called ``name``: the first match in ``search_paths``, then built-ins.

    ``name`` may also be a path to a YAML file.
    """
    as_path = Path(name)
    if as_path.suffix in SUFFIXES:
        if as_path.is_file():
            return as_path
        raise ConfigError(f"probe file {name!r} does not exist")
    builtin = builtin_probe_dir()
    resolved = [Path(d).resolve() for d in [*search_paths, *([builtin] if builtin else [])]]
    dirs = list(dict.fromkeys(resolved))
    for directory in dirs:
        for suffix in SUFFIXES:
            candidate = directory / f"{name}{suffix}"
            if candidate.is_file():
                return candidate
    available = sorted({p.stem for d in dirs for p in iter_suite_files([d])})
    raise ConfigError(
        f"unknown probe {name!r}; searched {', '.join(str(d) for d in dirs) or 'nothing'}; "
        f"available: {', '.join(available) or 'none'}"
    )


def project_probe_dirs(*roots: Path) -> list[Path]:
    """The ``probes/`` directories of these project roots that exist (each once): where a
    project keeps its own suites, searched after explicit ``--probe-path`` directories."""
    found = [Path(root).resolve() / "probes" for root in roots]
    return [d for d in dict.fromkeys(found) if d.is_dir()]


def iter_suite_files(paths: Iterable[Path]) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted(p for p in path.rglob("*") if p.suffix in SUFFIXES))
        elif path.is_file():
            files.append(path)
    return files
