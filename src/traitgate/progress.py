"""Progress of long work: one task per (model, probe run), advanced chunk by chunk.

Three renderings, chosen by the caller (the pytest plugin picks by verbosity and terminal):
a live tqdm bar on a terminal (prompts done, samples/s, ETA), one summary line per task in
non-interactive logs (CI), and nothing under ``-q``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import IO, Any, Protocol


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


class Meter:
    """Progress of one long command-line step (sampling, training): a live bar on a
    terminal; in a log (no terminal), a line every ``interval`` seconds and one at the end,
    with what is done, the elapsed time and the time left, so a 20-minute run in CI is not
    silent."""

    def __init__(
        self, description: str, unit: str, stream: IO[str], *, interval: float = 30.0
    ) -> None:
        self.description, self.unit, self.stream, self.interval = (
            description,
            unit,
            stream,
            interval,
        )
        self.started = self._last = time.perf_counter()
        self.done, self.total, self.postfix = 0, 0, ""
        self._bar: Any = None
        if stream.isatty():
            from tqdm import tqdm

            self._bar = tqdm(total=0, desc=description, unit=unit, file=stream)

    def update(self, done: int, total: int, postfix: str = "") -> None:
        self.done, self.total, self.postfix = done, total, postfix
        if self._bar is not None:
            self._bar.total = total
            self._bar.update(done - self._bar.n)
            if postfix:
                self._bar.set_postfix_str(postfix, refresh=False)
            return
        now = time.perf_counter()
        if now - self._last >= self.interval and done < total:
            self._last = now
            self._line()

    def _line(self) -> None:
        elapsed = time.perf_counter() - self.started
        line = f"{self.description}: {self.done}/{self.total} {self.unit}s, {elapsed:.0f}s"
        if 0 < self.done < self.total:
            line += f", about {elapsed * (self.total - self.done) / self.done:.0f}s left"
        if self.postfix:
            line += f" ({self.postfix})"
        print(line, file=self.stream, flush=True)

    def close(self, failed: bool = False) -> None:
        """End the bar, or print the final line (not when the step failed: its error is
        the line that matters, and "0/0 steps" before it would only mislead)."""
        if self._bar is not None:
            self._bar.close()
        elif not failed:
            self._line()

    def __enter__(self) -> Meter:
        return self

    def __exit__(self, kind: object, *exc: object) -> None:
        self.close(failed=kind is not None)


__all__ = ["BarTask", "LineTask", "Meter", "Task", "TaskFactory", "bars", "lines", "silent"]
