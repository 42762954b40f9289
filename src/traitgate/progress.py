"""Progress of long work: one task per (model, probe run), advanced chunk by chunk.

Three renderings, chosen by the caller (the pytest plugin picks by verbosity and terminal):
a live tqdm bar on a terminal (prompts done, samples/s, ETA), one summary line per task in
non-interactive logs (CI), and nothing under ``-q``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import IO, Protocol


class Task(Protocol):
    def advance(self, requests: int, outputs: int, cached: bool) -> None:
        """``requests`` more prompts done, giving ``outputs`` samples or scores."""
        ...

    def close(self) -> None: ...


TaskFactory = Callable[[str, int], Task]  # (description, total prompts) -> task


class _Counts:
    def __init__(self, description: str, total: int) -> None:
        self.description = description
        self.total = total
        self.done = 0
        self.cached = 0
        self.outputs = 0  # computed (not cached) outputs, for the rate
        self.started = time.perf_counter()

    def add(self, requests: int, outputs: int, cached: bool) -> None:
        self.done += requests
        if cached:
            self.cached += requests
        else:
            self.outputs += outputs

    def summary(self) -> str:
        elapsed = time.perf_counter() - self.started
        rate = self.outputs / elapsed if elapsed > 0 else 0.0
        line = f"{self.description}: {self.done}/{self.total} prompts in {elapsed:.1f}s"
        if self.outputs:
            line += f" ({rate:,.0f} outputs/s)"
        if self.cached:
            line += f", {self.cached} from cache"
        return line


class LineTask:
    """Non-interactive logs: one line when the task ends."""

    def __init__(self, description: str, total: int, write: Callable[[str], None]) -> None:
        self._counts = _Counts(description, total)
        self._write = write

    def advance(self, requests: int, outputs: int, cached: bool) -> None:
        self._counts.add(requests, outputs, cached)

    def close(self) -> None:
        self._write(self._counts.summary())


class BarTask:
    """A terminal: a live bar with prompts done, outputs per second and the ETA."""

    def __init__(self, description: str, total: int, stream: IO[str]) -> None:
        from tqdm import tqdm

        self._counts = _Counts(description, total)
        self._bar = tqdm(total=total, desc=description, unit="prompt", file=stream, leave=True)

    def advance(self, requests: int, outputs: int, cached: bool) -> None:
        self._counts.add(requests, outputs, cached)
        elapsed = time.perf_counter() - self._counts.started
        postfix = {"out/s": f"{self._counts.outputs / elapsed:,.0f}"} if elapsed > 0 else {}
        if self._counts.cached:
            postfix["cached"] = str(self._counts.cached)
        self._bar.set_postfix(postfix, refresh=False)
        self._bar.update(requests)

    def close(self) -> None:
        self._bar.close()


class _Silent:
    def advance(self, requests: int, outputs: int, cached: bool) -> None:
        pass

    def close(self) -> None:
        pass


def silent(description: str, total: int) -> Task:
    return _Silent()


def lines(write: Callable[[str], None]) -> TaskFactory:
    return lambda description, total: LineTask(description, total, write)


def bars(stream: IO[str]) -> TaskFactory:
    return lambda description, total: BarTask(description, total, stream)


__all__ = ["BarTask", "LineTask", "Task", "TaskFactory", "bars", "lines", "silent"]
