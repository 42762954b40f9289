"""Small file helpers shared by the modules that write user-visible files."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

from traitgate.errors import ConfigError


def atomic_write_text(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` all at once: a reader (or a crash) sees the old file or
    the new one, never half of it. The temporary file is unique, so concurrent writers of
    the same path cannot interleave. A path that cannot be written (a directory, a
    read-only folder, a full disk) is a one-line ConfigError naming it."""
    atomic_write_texts([(path, text)])


def atomic_write_texts(items: Sequence[tuple[Path, str]]) -> None:
    """Write several files that belong together (a report's results.json and its page):
    every one is written and synced to a temporary file first, and only when all are
    complete are they moved into place, one rename each. A failure (a full disk, a
    file-size limit) before that leaves every old file as it was; a kill can only fall in
    the microseconds between the renames."""
    staged: list[tuple[str, Path]] = []
    try:
        for path, text in items:
            staged.append((_stage(path, text), path))
        for tmp, path in staged:
            try:
                os.replace(tmp, path)
            except OSError as exc:
                raise ConfigError(f"{path}: cannot write ({exc.strerror or exc})") from None
    finally:
        for tmp, _ in staged:
            Path(tmp).unlink(missing_ok=True)


def _stage(path: Path, text: str) -> str:
    """``text`` in a synced temporary file beside ``path``; returns its name."""
    if path.is_dir():
        raise ConfigError(f"{path}: is a directory (give a file name to write)")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot write ({exc.strerror or exc})") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes it private; give the usual mode
    except OSError as exc:  # a full disk, a file-size limit: the old file stays as it was
        Path(tmp).unlink(missing_ok=True)
        raise ConfigError(f"{path}: cannot write ({exc.strerror or exc})") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return tmp


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
