"""What the commands that run models share: messages on stderr, and the session services
(answer cache, progress on stderr) for the length of one command."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from traitgate.session_config import SessionServices


def err(message: str) -> None:
    print(message, file=sys.stderr)


@contextmanager
def command_services(cache_dir: Path, no_cache: bool) -> Iterator[SessionServices]:
    """Services logging to stderr with progress there (bars on a terminal, lines in a log)
    and the answer cache in ``cache_dir`` (none with ``no_cache``), closed at the end."""
    from traitgate import progress
    from traitgate.cache import Cache

    cache = None if no_cache else Cache(cache_dir)
    shown = progress.bars(sys.stderr) if sys.stderr.isatty() else progress.lines(err)
    try:
        yield SessionServices(log=err, cache=cache, progress=shown)
    finally:
        if cache is not None:
            cache.close()
