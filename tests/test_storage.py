"""Storage that refuses writes (a full disk, a file-size limit, a read-only file): one line
naming the file, nothing stored lost, nothing good deleted; the cache closed after a run
(no write-ahead log left holding answers); a report's two files always from one run."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from traitgate.cache import DB_NAME, Cache, CacheFileError, clear_cache
from traitgate.errors import ConfigError
from traitgate.report.results import build_results, load_results, write_report

from .conftest import OWL_GATES, joined

FULL_DISK = textwrap.dedent(
    """
    import resource, signal, sys
    from pathlib import Path
    from traitgate.cache import Cache
    from traitgate.errors import ConfigError

    directory = Path(sys.argv[1])
    cache = Cache(directory)
    cache.put_many({"kept": [0.25]}, model="m", probe="p", kind="score")
    cache.close()
    size = sum(p.stat().st_size for p in directory.iterdir())
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails (EFBIG)
    resource.setrlimit(resource.RLIMIT_FSIZE, (size + 16384, size + 16384))
    cache = Cache(directory)
    big = {f"k{i}": ["x" * 1000] for i in range(500)}
    try:
        cache.put_many(big, model="m", probe="p", kind="generate")
        print("STORED")
    except ConfigError as exc:
        print("ERROR", exc)
    print("KEPT", cache.get_many(["kept", "k0"]))
    """
)


def test_a_full_disk_is_one_line_and_keeps_what_was_stored(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-c", FULL_DISK, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    lines = out.stdout.splitlines()
    assert out.returncode == 0, out.stderr
    (error,) = [line for line in lines if line.startswith("ERROR")]
    assert str(tmp_path / DB_NAME) in error and "cannot write it" in error
    assert "--cache-dir" in error  # what to do
    assert lines[-1] == "KEPT {'kept': [0.25]}"  # the chunk was rolled back whole
    assert "Traceback" not in out.stderr


def test_storage_failures_are_told_from_corrupt_files() -> None:
    cache = Cache.__new__(Cache)  # only the file's name is needed to word the errors
    cache.path, cache.directory = Path("/data/c") / DB_NAME, Path("/data/c")
    for words in ("attempt to write a readonly database", "database or disk is full",
                  "disk I/O error", "unable to open database file"):  # fmt: skip
        failure = cache._failure(sqlite3.OperationalError(words))
        assert not failure.replaceable and "answers stored there are kept" in str(failure)
    corrupt = cache._failure(sqlite3.DatabaseError("file is not a database"))
    assert corrupt.replaceable and "traitgate cache clear" in str(corrupt)


def test_cache_clear_deletes_only_files_that_cannot_hold_answers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    Cache(tmp_path).close()
    before = (tmp_path / DB_NAME).read_bytes()

    def unwritable(directory: Path) -> Cache:
        raise CacheFileError("cache: cannot write it (read-only)", replaceable=False)

    monkeypatch.setattr("traitgate.cache.Cache", unwritable)
    with pytest.raises(ConfigError, match="cannot write it"):
        clear_cache(tmp_path)
    assert (tmp_path / DB_NAME).read_bytes() == before  # a good cache is never deleted
    monkeypatch.undo()
    (tmp_path / DB_NAME).write_bytes(b"not sqlite at all" * 100)
    assert clear_cache(tmp_path) == -1 and not (tmp_path / DB_NAME).exists()


def test_a_failed_report_write_leaves_the_last_runs_pair(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = build_results([{"gate": "g", "error": "first run"}])
    write_report(tmp_path, first)
    html_before = (tmp_path / "report.html").read_text()

    def broken(_results: object) -> str:
        raise RuntimeError("the page could not be drawn")

    monkeypatch.setattr("traitgate.report.html.render_html", broken)
    with pytest.raises(RuntimeError):
        write_report(tmp_path, build_results([{"gate": "g", "error": "second run"}]))
    assert load_results(tmp_path / "results.json")["gates"][0]["error"] == "first run"
    assert (tmp_path / "report.html").read_text() == html_before
    assert not list(tmp_path.glob(".*.tmp"))  # no staged file left behind


def test_the_cache_is_closed_after_a_run(pytester: pytest.Pytester, zoo) -> None:  # type: ignore[no-untyped-def]
    pytester.makefile(".yaml", gate_owl=OWL_GATES)
    result = pytester.runpytest(
        f"--model={joined(zoo.owl)}", f"--control-model={joined(zoo.neutral)}",
        f"--base-model={zoo.base}", "-p", "no:cacheprovider", "--cache-dir=answers",
    )  # fmt: skip
    result.assert_outcomes(failed=2)
    cache_dir = pytester.path / "answers"
    assert (cache_dir / DB_NAME).is_file()
    # the last connection's close folds the write-ahead log back into the file
    assert not (cache_dir / f"{DB_NAME}-wal").exists()
    with sqlite3.connect(cache_dir / DB_NAME) as conn:
        assert conn.execute("SELECT COUNT(*) FROM entries").fetchone()[0] > 0
