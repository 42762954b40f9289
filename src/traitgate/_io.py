"""Small file helpers shared by the modules that write user-visible files."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from traitgate.errors import ConfigError


def atomic_write_text(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` all at once: a reader (or a crash) sees the old file or
    the new one, never half of it. The temporary file is unique, so concurrent writers of
    the same path cannot interleave. A path that cannot be written (a directory, a
    read-only folder, a full disk) is a one-line ConfigError naming it."""
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
        os.replace(tmp, path)
    except OSError as exc:  # a full disk, a file-size limit: the old file stays as it was
        Path(tmp).unlink(missing_ok=True)
        raise ConfigError(f"{path}: cannot write ({exc.strerror or exc})") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
