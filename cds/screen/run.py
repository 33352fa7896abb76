"""Screen a population: inputs → patient records → rows (in worker processes) → sink, plus a summary.

Processes, not threads: the rules engine's C core holds the GIL. Work is submitted in small
batches with a bounded number in flight, so memory stays flat whatever the population; rows come
back in submission order, so a run is reproducible.
"""

from __future__ import annotations

import multiprocessing
import os
import tempfile
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any, TypeVar

from cds.errors import InputError
from cds.screen import bulk
from cds.screen.progress import Progress
from cds.screen.rows import Row, Summary, error_row
from cds.screen.worker import Group, Settings, assess_files, assess_groups

BATCH = 16  # patients per task: amortises inter-process traffic, keeps the progress bar lively
T = TypeVar("T")


@dataclass(frozen=True)
class Inputs:
    bundles: list[Path]  # one patient per file
    ndjson: list[Path]  # together: one Bulk Data export


def classify(paths: Iterable[Path]) -> Inputs:
    """Bundles (.json), folders of them, and NDJSON files or folders holding them (Bulk Data)."""
    bundles: list[Path] = []
    ndjson: list[Path] = []
    for p in paths:
        if not p.exists():
            raise InputError("no such file or folder", location=str(p))
        files = sorted(f for f in p.rglob("*") if f.is_file()) if p.is_dir() else [p]
        for f in files:
            suffix = f.suffix.lower()
            if suffix == ".ndjson":
                ndjson.append(f)
            elif suffix == ".json":
                bundles.append(f)
            elif not p.is_dir():
                raise InputError("expected a .json bundle, an .ndjson file or a folder", location=str(f))
    if not bundles and not ndjson:
        raise InputError("no .json or .ndjson files in the input")
    return Inputs(bundles, ndjson)


def screen(
    paths: list[Path],
    settings: Settings,
    sink: Callable[[Row], None],
    *,
    jobs: int | None = None,
    progress: Progress | None = None,
) -> Summary:
    """Assess every patient under `paths`, handing each row to `sink`; the summary of all rows."""
    inputs = classify(paths)
    jobs = max(1, jobs or os.cpu_count() or 1)
    summary = Summary()
    bar = progress or Progress(enabled=False)
    with _pool(jobs) as pool, tempfile.TemporaryDirectory(prefix="cds-screen-") as tmp:

        def emit(rows: list[Row]) -> None:
            for row in rows:
                summary.add(row)
                sink(row)
            bar.advance(len(rows))

        if inputs.bundles:
            bar.start("screening bundles", len(inputs.bundles))
            batches = ([str(p) for p in b] for b in _batched(inputs.bundles, BATCH))
            for rows in _ordered(pool, assess_files, batches, settings, jobs, _file_failure):
                emit(rows)
        if inputs.ndjson:
            part_settings, total = _partition(pool, inputs.ndjson, Path(tmp), settings, summary, bar, jobs)
            bar.start("screening export", total)
            folder = Path(tmp)
            batches_g = (list(b) for b in _batched(bulk.groups(folder, _buckets(folder)), BATCH))
            for rows in _ordered(pool, assess_groups, batches_g, part_settings, jobs, _group_failure):
                emit(rows)
    bar.stop()
    return summary


def _partition(
    pool: Executor | None,
    files: list[Path],
    folder: Path,
    settings: Settings,
    summary: Summary,
    bar: Progress,
    jobs: int,
) -> tuple[Settings, int]:
    buckets = bulk.bucket_count(files)
    (folder / "buckets").write_text(str(buckets))
    pieces = bulk.chunks(files)
    bar.start("grouping export by patient", len(pieces))
    result = bulk.Partitioned()
    tasks = ([c] for c in pieces)
    for parts in _ordered(pool, _partition_task, tasks, (str(folder), buckets), jobs, None):
        for p in parts:
            result.merge(p)
        bar.advance(1)
    summary.unattributed = result.unattributed
    meds = bulk.merge_medications(folder)
    return Settings(settings.as_of, settings.profile, meds), result.patients


def _partition_task(batch: list[bulk.Chunk], args: tuple[str, int]) -> list[bulk.Partitioned]:
    folder, buckets = args
    # One tag per process: two processes never append to the same bucket file.
    return [bulk.partition_chunk(c, folder, buckets, str(os.getpid())) for c in batch]


def _buckets(folder: Path) -> int:
    return int((folder / "buckets").read_text())


def _file_failure(batch: list[str], message: str) -> list[Row]:
    return [error_row(Path(p).name, Path(p).name, message) for p in batch]


def _group_failure(batch: list[Group], message: str) -> list[Row]:
    return [error_row(g.patient, "bulk export", message) for g in batch]


class _InProcess:
    """jobs=1: everything in this process (no pool start-up; what the tests use)."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def _pool(jobs: int) -> Any:
    if jobs == 1:
        return _InProcess()
    # forkserver: workers fork from a clean single-threaded server, never from this process
    # (which runs the progress bar's thread); the server preloads the pipeline once.
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["cds.screen.worker", "cds.pipeline"])
    return ProcessPoolExecutor(max_workers=jobs, mp_context=ctx)


def _ordered(
    pool: Executor | None,
    fn: Callable[[Any, Any], list[T]],
    batches: Iterator[Any],
    arg: Any,
    jobs: int,
    on_crash: Callable[[Any, str], list[T]] | None,
) -> Iterator[list[T]]:
    """fn(batch, arg) for every batch, results in order, at most 2 x jobs batches in flight.

    A worker process that dies (a crash in the C rules engine) loses its batch: its rows say so,
    the batches still in flight go to a fresh pool, and the run goes on."""
    if pool is None:
        for batch in batches:
            yield fn(batch, arg)
        return
    current: Executor = pool
    inflight: deque[tuple[Any, Future[list[T]]]] = deque()
    limit = 2 * jobs
    pending = iter(batches)
    while True:
        while len(inflight) < limit and (batch := next(pending, None)) is not None:
            inflight.append((batch, current.submit(fn, batch, arg)))
        if not inflight:
            break
        batch, future = inflight.popleft()
        try:
            yield future.result()
        except BrokenProcessPool:
            if on_crash is None:
                raise InputError("a worker process died while grouping the export") from None
            yield on_crash(batch, "worker process died while assessing this batch (record not assessed)")
            if current is not pool:
                current.shutdown(wait=False)
            current = _pool(jobs)
            retry = [b for b, _ in inflight]
            inflight.clear()
            inflight.extend((b, current.submit(fn, b, arg)) for b in retry)
    if current is not pool:
        current.shutdown()


def _batched(items: Iterable[T], size: int) -> Iterator[list[T]]:
    it = iter(items)
    while batch := list(islice(it, size)):
        yield batch
