"""Progress and log lines that reach the terminal through pytest's output capture."""

from __future__ import annotations

import contextlib
import sys
from typing import Any

import pytest

from traitgate import progress
from traitgate.progress import Task


class TerminalOutput:
    """A live bar per (model, probe) on a terminal, one line per (model, probe) in CI logs,
    nothing under -q. (Under pytest-xdist, workers' progress is not shown.)"""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config

    def _disabled_capture(self) -> Any:
        capture = self.config.pluginmanager.get_plugin("capturemanager")
        return capture.global_and_fixture_disabled() if capture else contextlib.nullcontext()

    def log(self, message: str) -> None:
        # looked up on use: the terminal reporter registers after pytest_configure may run
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is None or self.config.get_verbosity() < 0:
            return
        with self._disabled_capture():
            reporter.write_line(f"traitgate: {message}")

    def progress(self, description: str, total: int) -> Task:
        if self.config.get_verbosity() < 0:
            return progress.silent(description, total)
        with self._disabled_capture():
            tty = sys.stderr.isatty()
        if tty:
            return progress.BarTask(description, total, self)  # type: ignore[arg-type]
        return progress.LineTask(f"    {description}", total, self.log)

    # the file tqdm writes to
    @property
    def encoding(self) -> str:
        return getattr(sys.stderr, "encoding", None) or "utf-8"

    def write(self, text: str) -> None:
        with self._disabled_capture():
            sys.stderr.write(text)

    def flush(self) -> None:
        with self._disabled_capture():
            sys.stderr.flush()
