"""A backend seen through the answer cache: requests in fixed chunks, each answered from
the cache or computed (after claiming it, so two processes never compute it both) and
committed at once. See :mod:`traitgate.cache` for the storage."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict
from dataclasses import fields as dataclass_fields
from typing import Any, TypeVar

from traitgate.cache import FORMAT, OWNER, Cache
from traitgate.models.base import SAMPLER, Backend, GenerationRequest, ScoreRequest
from traitgate.progress import TaskFactory, silent


def request_key(fingerprint: str, probe: str, request: GenerationRequest | ScoreRequest) -> str:
    """The content address of one request's answer on one model."""
    kind = "generate" if isinstance(request, GenerationRequest) else "score"
    payload: dict[str, Any] = {"format": FORMAT, "model": fingerprint, "probe": probe, "kind": kind}
    if kind == "generate":
        # (the key cannot tell which backend drew them: vLLM's and API models' generations
        # are computed once again at a new sampler version too)
        payload["sampler"] = SAMPLER
    # asdict(request)'s JSON without its deep copy of every continuation (0.36 ms a
    # favourite-animal request before; the same keys)
    fields: dict[str, Any] = {f.name: getattr(request, f.name) for f in dataclass_fields(request)}
    fields["prompt"] = asdict(request.prompt)
    if not fields.get("groups", True):
        del fields["groups"]  # (keys of requests without groups are those of earlier versions)
    payload["request"] = fields
    raw = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(raw).hexdigest()


# ---------------------------------------------------------------------- chunked, cached work

Req = TypeVar("Req", GenerationRequest, ScoreRequest)
Out = TypeVar("Out", list[str], list[float])

ROWS_PER_CHUNK = 256  # sequences per chunk: big enough to fill a batch, small enough to resume


class CachedBackend:
    """A backend seen through the cache, for one probe.

    Requests are split into fixed chunks (by position, about ``ROWS_PER_CHUNK`` sequences
    each). A chunk is answered from the cache when stored, else computed by the real
    backend and committed at once. Chunk boundaries do not depend on what is cached, so a
    resumed run does exactly the computation the uninterrupted run would have done, and
    results are identical with or without a cache. The real backend is opened only on the
    first miss: a fully cached model is never loaded.
    """

    def __init__(
        self,
        label: str,
        fingerprint: str,
        open_backend: Callable[[], Backend],
        *,
        cache: Cache | None,
        probe: str,
        progress: TaskFactory | None = None,
        rows_per_chunk: int = ROWS_PER_CHUNK,
        stale_seconds: float = 300.0,
        poll_seconds: float = 0.5,
        answers_id: str | None = None,
    ) -> None:
        self.label = label
        self.fingerprint = fingerprint
        # what the cache files the answers under (ModelSpec.answers_id; default the weights')
        self.answers_id = answers_id or fingerprint
        self._open_backend = open_backend
        self.cache = cache
        self.probe = probe
        self.progress = progress
        self.rows_per_chunk = rows_per_chunk
        self.stale_seconds = stale_seconds  # a claim older than this is taken over
        self.poll_seconds = poll_seconds
        self.computed = 0  # requests computed by the model (not read from the cache)

    def generate(self, requests: Sequence[GenerationRequest]) -> list[list[str]]:
        return self._run(requests, lambda b, chunk: b.generate(chunk), "generate")

    def score(self, requests: Sequence[ScoreRequest]) -> list[list[float]]:
        return self._run(requests, lambda b, chunk: b.score(chunk), "score")

    def close(self) -> None:  # the real backend belongs to whoever opened it
        pass

    def _run(
        self,
        requests: Sequence[Req],
        compute: Callable[[Backend, list[Req]], list[Out]],
        kind: str,
    ) -> list[Out]:
        chunks = list(_chunks(requests, self.rows_per_chunk))
        answers: dict[int, list[Out]] = {}
        task = (self.progress or silent)(f"{self.label} {self.probe} {kind}", len(requests))
        try:
            # first pass: what is stored, and every chunk no other process is computing;
            # then wait for the chunks others claimed (or take them over if they stop)
            waiting = [
                i
                for i, chunk in enumerate(chunks)
                if not self._answer(i, chunk, answers, compute, kind, task)
            ]
            while waiting:
                time.sleep(self.poll_seconds)
                waiting = [
                    i
                    for i in waiting
                    if not self._answer(i, chunks[i], answers, compute, kind, task)
                ]
        finally:
            task.close()
        return [a for i in range(len(chunks)) for a in answers[i]]

    def _stored(
        self, index: int, keys: list[str], answers: dict[int, list[Any]], task: Any
    ) -> bool:
        """Answer the chunk from the cache if every one of its answers is stored."""
        stored = self.cache.get_many(keys) if self.cache is not None else {}
        if len(stored) != len(keys):
            return False
        answers[index] = [stored[k] for k in keys]
        task.advance(len(keys), sum(len(a) for a in answers[index]), True)
        return True

    def _answer(
        self,
        index: int,
        chunk: Sequence[Req],
        answers: dict[int, list[Out]],
        compute: Callable[[Backend, list[Req]], list[Out]],
        kind: str,
        task: Any,
    ) -> bool:
        """Answer one chunk from the cache, or compute it if this process may (False: another
        process holds a live claim on it)."""
        keys = [request_key(self.answers_id, self.probe, r) for r in chunk]
        if self._stored(index, keys, answers, task):
            return True
        name = hashlib.sha256("".join(keys).encode()).hexdigest()
        if self.cache is not None:
            if not self.cache.claim(name, OWNER, self.stale_seconds):
                return False
            if self._stored(index, keys, answers, task):  # its owner stored it meanwhile
                self.cache.release(name)
                return True
        try:
            answers[index] = compute(self._open_backend(), list(chunk))
        except BaseException:
            if self.cache is not None:  # others need not wait for a chunk nobody computes
                self.cache.release(name)
            raise
        self.computed += len(chunk)
        if self.cache is not None:
            self.cache.put_many(
                dict(zip(keys, answers[index], strict=True)),
                model=self.answers_id,
                probe=self.probe,
                kind=kind,
                release=name,
            )
        task.advance(len(chunk), sum(len(a) for a in answers[index]), False)
        return True


def _rows(request: GenerationRequest | ScoreRequest) -> int:
    if isinstance(request, GenerationRequest):
        return max(1, request.n)
    return max(1, len(request.continuations))


def _chunks(requests: Sequence[Req], rows_per_chunk: int) -> Iterator[Sequence[Req]]:
    """Consecutive runs of requests holding about ``rows_per_chunk`` sequences each."""
    start = 0
    while start < len(requests):
        end, rows = start, 0
        while end < len(requests) and (
            end == start or rows + _rows(requests[end]) <= rows_per_chunk
        ):
            rows += _rows(requests[end])
            end += 1
        yield requests[start:end]
        start = end


__all__ = ["ROWS_PER_CHUNK", "CachedBackend", "request_key"]
