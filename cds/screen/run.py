"""Screen a population: inputs → patient records → rows (in worker processes) → sink, plus a summary.

Processes, not threads: the rules engine's C core holds the GIL. The default backend is a local
process pool; `cds.screen.cluster` runs the same passes on Dask. Work is submitted in small
batches with a bounded number in flight, so memory stays flat whatever the population; rows come
back in submission order (bucket, then patient), so a run is reproducible.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import tempfile
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, replace
from functools import partial
from itertools import islice
from multiprocessing import forkserver
from pathlib import Path
from typing import Any, TypeVar

from cds.errors import InputError
from cds.screen import bulk
from cds.screen.progress import Progress
from cds.screen.rows import Row, Summary, error_row
from cds.screen.worker import BucketPart, Settings, assess_buckets, assess_files, warm

BATCH = 16  # patients per task: amortises inter-process traffic, keeps the progress bar lively
SPLIT = 8  # groups a bucket's patients are re-run in after its worker died
T = TypeVar("T")
PRELOAD = ["cds.screen.worker", "cds.pipeline", "cds.screen.preload"]


@dataclass(frozen=True)
class Inputs:
    bundles: list[Path]  # one patient per file
    ndjson: list[Path]  # together: one Bulk Data export


@dataclass(frozen=True)
class Dask:
    """Run on Dask: a scheduler address, or None for a local cluster of `workers` processes."""

    scheduler: str | None = None
    workers: int | None = None
    connect_timeout_s: float = 20.0
    worker_wait_s: float = 60.0  # for a first worker, or for one to come back when none is left


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
            if suffix in (".ndjson", ".json") and not os.access(f, os.R_OK):
                raise InputError("cannot be read (permission denied)", location=str(f))
            if suffix == ".ndjson":
                ndjson.append(f)
            elif suffix == ".json":
                bundles.append(f)
            elif not p.is_dir():
                raise InputError("expected a .json bundle, an .ndjson file or a folder", location=str(f))
    if not bundles and not ndjson:
        raise InputError("no .json or .ndjson files in the input")
    # A file named twice (a folder and a file in it, a link to it) is read once: twice, a bundle
    # gave its patient two rows, and an export's lines were counted and assessed twice.
    return Inputs(_once(bundles), _once(ndjson))


def _once(files: list[Path]) -> list[Path]:
    first: dict[Path, Path] = {}
    for f in files:
        first.setdefault(f.resolve(), f)
    return list(first.values())


def reading() -> bulk.Reading:
    """What pass 1 must know about the facts: the types they read and the pipeline's own filter."""
    from cds.ingest.validate import USED_TYPES, known_types
    from cds.screen.prefilter import may_become_fact

    return bulk.Reading(USED_TYPES, known_types(), may_become_fact)


def chunk_size(files: list[Path], read: bulk.Reading, workers: int) -> int:
    """Chunks small enough that every worker gets several, never above CHUNK_BYTES."""
    total = bulk.read_bytes(files, read)
    return max(1 << 20, min(bulk.CHUNK_BYTES, total // (4 * workers) + 1))


def screen(
    paths: list[Path],
    settings: Settings,
    sink: Callable[[Row], None],
    *,
    jobs: int | None = None,
    progress: Progress | None = None,
    dask: Dask | None = None,
) -> Summary:
    """Assess every patient under `paths`, handing each row to `sink`; the summary of all rows."""
    inputs = classify(paths)
    summary = Summary()
    bar = progress or Progress(enabled=False)

    def emit(rows: list[Row]) -> None:
        for row in rows:
            summary.add(row)
            sink(row)
        bar.advance(len(rows))

    try:
        if dask is not None:
            from cds.screen.cluster import screen_on_dask

            screen_on_dask(inputs, settings, emit, summary, bar, dask, reading())
        else:
            _screen_on_pool(inputs, settings, emit, summary, bar, max(1, jobs or os.cpu_count() or 1))
    finally:
        bar.stop()
    return summary


def _screen_on_pool(
    inputs: Inputs,
    settings: Settings,
    emit: Callable[[list[Row]], None],
    summary: Summary,
    bar: Progress,
    jobs: int,
) -> None:
    if inputs.bundles:
        # A pool of its own: one a dead worker broke here (and `_ordered` replaced) must not be
        # handed to the export's passes.
        with _pool(jobs) as pool:
            bar.start("screening bundles", len(inputs.bundles))
            batches = ([str(p) for p in b] for b in _batched(inputs.bundles, BATCH))
            files = Recovery(_split_files, _file_failure)
            for batch, maybe in _ordered(pool, assess_files, batches, settings, jobs, files):
                emit(bundle_rows(batch, maybe, summary))
    if not inputs.ndjson:
        return
    with _pool(jobs) as pool, tempfile.TemporaryDirectory(prefix="cds-screen-") as tmp:
        folder = Path(tmp)
        part_settings, total = _partition(pool, inputs.ndjson, folder, settings, summary, bar, jobs)
        bar.start("screening export", total)
        # One task per bucket: the worker reads the bucket's files itself (nothing but the
        # bucket number and the rows cross between processes); its files go once its rows are in.
        present = sorted({int(p.name[1:].split(".")[0]) for p in folder.glob("b*.*")})
        tasks: Iterator[list[BucketPart]] = ([k] for k in present)
        buckets = Recovery(partial(_split_buckets, folder), partial(_bucket_failure, folder))
        for ks, rows in _ordered(pool, assess_buckets, tasks, (part_settings, str(folder)), jobs, buckets):
            for k in ks:
                bulk.drop_bucket(folder, k if isinstance(k, int) else k[0])
            emit(rows)


def bundle_rows(batch: list[str], rows: list[Row | None], summary: Summary) -> list[Row]:
    """The rows of a batch of files; a file that is not a patient record (None) is named as skipped."""
    out: list[Row] = []
    for path, row in zip(batch, rows, strict=True):
        if row is None:
            summary.skipped.append(f"{Path(path).name} (a CDS Hooks request)")
        else:
            out.append(row)
    return out


def after_scan(scan: bulk.Scan, settings: Settings, summary: Summary, medications: Path | None) -> Settings:
    """Record what pass 1 found; the settings pass 2 runs with (a run-level gap makes every row incomplete)."""
    summary.unreadable = scan.reported
    summary.run_incomplete = scan.unattributed
    summary.not_parsed = scan.not_parsed
    run_incomplete = (
        f"{scan.unattributed} unreadable input lines name no patient (e.g. {scan.reported[0]})"
        if scan.unattributed
        else None
    )
    return Settings(settings.as_of, settings.profile, medications, run_incomplete)


def _partition(
    pool: Executor | None,
    files: list[Path],
    folder: Path,
    settings: Settings,
    summary: Summary,
    bar: Progress,
    jobs: int,
) -> tuple[Settings, int]:
    read = reading()
    buckets = bulk.bucket_count(bulk.read_bytes(files, read))
    pieces = bulk.chunks(files, read, chunk_size(files, read, jobs))
    bar.start("grouping export by patient", len(pieces))
    index = {(c.path, c.start): i for i, c in enumerate(pieces)}
    scans: dict[int, bulk.Scan] = {}
    # Parsed chunks at the front, for the workers; chunks of types no fact reads at the back, which
    # this process byte-checks itself while it waits for a result (it needs no knowledge): at first
    # that is while the pool's fork server loads the knowledge, when a core would otherwise idle.
    work = _Work(sorted(pieces, key=lambda c: c.skip_type is not None))

    def check() -> bool:
        chunk = work.take_checked()
        if chunk is None:
            return False
        seen = bulk.checked(chunk)
        if seen is None:  # not what its name says: read line by line in a worker
            work.put_back(chunk)
        else:
            scans[index[chunk.path, chunk.start]] = seen
            bar.advance(1)
        return True

    if pool is not None:
        # The pool's processes start only once the fork server has loaded the knowledge, and a
        # submit waits for that: they start on a thread while this process checks chunks.
        starting = _start_workers(pool)
        while starting.is_alive() and check():
            pass
        starting.join()
    args = (read, str(folder), buckets)
    for batch, parts in _ordered(pool, _partition_task, work, args, jobs, None, check if pool else None):
        for c, p in zip(batch, parts, strict=True):
            scans[index[c.path, c.start]] = p
        bar.advance(len(batch))
    # Merged in chunk order, whoever read them: the first unreadable lines named are the same every run.
    scan = bulk.Scan()
    for i in sorted(scans):
        scan.merge(scans[i])
    meds = bulk.merge_medications(folder)
    return after_scan(scan, settings, summary, meds), scan.patients


def _start_workers(pool: Executor) -> threading.Thread:
    def start() -> None:
        # A pool that breaks here breaks the first real task too, which reports it.
        with contextlib.suppress(Exception):
            pool.submit(_nothing)

    thread = threading.Thread(target=start, name="cds-pool-start", daemon=True)
    thread.start()
    return thread


def _nothing() -> None:
    return None


class _Work:
    """Pass-1 tasks (one chunk each) for `_ordered`, taken from the front; this process takes
    chunks only to be byte-checked from the back. An iterator that may grow after running dry
    (a chunk put back), which `_ordered`'s `next(pending, None)` allows."""

    def __init__(self, chunks: list[bulk.Chunk]) -> None:
        self.chunks = deque(chunks)

    def __iter__(self) -> _Work:
        return self

    def __next__(self) -> list[bulk.Chunk]:
        if not self.chunks:
            raise StopIteration
        return [self.chunks.popleft()]

    def take_checked(self) -> bulk.Chunk | None:
        if self.chunks and self.chunks[-1].skip_type is not None:
            return self.chunks.pop()
        return None

    def put_back(self, chunk: bulk.Chunk) -> None:
        # As a chunk to parse: the byte check failed, and this process must not take it again.
        self.chunks.appendleft(replace(chunk, skip_type=None))


def _partition_task(batch: list[bulk.Chunk], args: tuple[bulk.Reading, str, int]) -> list[bulk.Scan]:
    read, folder, buckets = args
    warm()  # pass 1 filters with the knowledge: a folder that does not load is named here
    # One tag per process: two processes never append to the same bucket file.
    return [bulk.partition_chunk(c, read, folder, buckets, str(os.getpid())) for c in batch]


def _file_failure(batch: list[str], message: str) -> list[Row | None]:
    return [error_row(Path(p).name, Path(p).name, message) for p in batch]


def _split_files(batch: list[str]) -> list[list[str]] | None:
    return [[p] for p in batch] if len(batch) > 1 else None


def _bucket_patients(folder: Path, part: BucketPart) -> list[str]:
    if isinstance(part, int):
        return [g.patient for g in bulk.read_bucket(folder, part)]
    return list(part[1])


def _bucket_failure(folder: Path, batch: list[BucketPart], message: str) -> list[Row]:
    return [
        error_row(patient, "bulk export", message)
        for part in batch
        for patient in _bucket_patients(folder, part)
    ]


def _split_buckets(folder: Path, batch: list[BucketPart]) -> list[list[BucketPart]] | None:
    """Smaller tasks covering the same patients in the same order: buckets one by one, then a
    bucket's patients in up to SPLIT groups, then one by one; None for a single patient."""
    if len(batch) > 1:
        return [[part] for part in batch]
    [part] = batch
    k = part if isinstance(part, int) else part[0]
    patients = _bucket_patients(folder, part)
    if len(patients) <= 1:
        return None
    size = max(1, -(-len(patients) // SPLIT)) if len(patients) > BATCH else 1
    return [[(k, tuple(patients[i : i + size]))] for i in range(0, len(patients), size)]


class _InProcess:
    """jobs=1: everything in this process (no pool start-up; what the tests use)."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def _pool(jobs: int) -> Any:
    if jobs == 1:
        return _InProcess()
    return _processes(jobs)


def _processes(workers: int) -> ProcessPoolExecutor:
    # forkserver: workers fork from a clean single-threaded server, never from this process
    # (which runs the progress bar's thread); the server imports the pipeline and compiles the
    # ruleset once (`cds.screen.preload`), and every worker forks with both ready.
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(PRELOAD)
    # Started now, not at the first task: its imports and compile overlap this process's pass-1 set-up.
    forkserver.ensure_running()
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=ctx)
    # Every worker started at the first task, as with "fork", not one per task as they are needed:
    # a worker dying while the pool is still starting another (e.g. the first task kills its worker
    # while the second is submitted) left the late one out of the pool's clean-up, and the broken
    # pool's shutdown waited for it for ever (Python 3.11, seen here in the crash tests).
    pool._safe_to_dynamically_spawn_children = False  # type: ignore[attr-defined]
    return pool


@dataclass(frozen=True)
class Recovery:
    """What to do with a task whose worker process died (a crash in the C rules engine, an OOM
    kill): `split` it into smaller tasks giving the same rows in the same order (None: one record,
    nothing smaller), and the rows of a record that kills a worker on its own (`lost`)."""

    split: Callable[[Any], list[Any] | None]
    lost: Callable[[Any, str], list[Any]]


DIED_ALONE = "worker process died assessing this record, also when assessed on its own (record not assessed)"


def _ordered(
    pool: Executor | None,
    fn: Callable[[Any, Any], list[T]],
    batches: Iterator[Any],
    arg: Any,
    jobs: int,
    recovery: Recovery | None,
    idle: Callable[[], bool] | None = None,
) -> Iterator[tuple[Any, list[T]]]:
    """(batch, fn(batch, arg)) for every batch, in order, at most 2 x jobs batches in flight;
    `idle()` is called while the earliest is unfinished, until it returns False (no work left).

    A worker process that dies breaks the pool, and every batch then unfinished fails with it,
    the one that killed it among them. Those batches are re-run (`_recover`) until only records
    that kill a worker on their own are left: they get `recovery.lost` rows, every other record
    its own row. The run goes on in a fresh pool. Without `recovery`, an InputError."""
    if pool is None:
        for batch in batches:
            yield batch, fn(batch, arg)
        return
    current: Executor = pool
    inflight: deque[tuple[Any, Future[list[T]]]] = deque()
    limit = 2 * jobs
    pending = iter(batches)
    while True:
        while len(inflight) < limit and (batch := next(pending, None)) is not None:
            inflight.append((batch, _submit(current, fn, batch, arg)))
        if not inflight:
            break
        batch, future = inflight[0]
        while idle is not None and not future.done() and idle():
            pass
        try:
            result = future.result()
        except BrokenProcessPool:
            if recovery is None:
                raise InputError("a worker process died while grouping the export") from None
            wait([f for _, f in inflight])  # a broken pool fails every unfinished task
            broken = [i for i, (_, f) in enumerate(inflight) if isinstance(f.exception(), BrokenProcessPool)]
            redone = _recover([inflight[i][0] for i in broken], fn, arg, jobs, recovery)
            for i, rows in zip(broken, redone, strict=True):
                inflight[i] = (inflight[i][0], _done(rows))
            if current is not pool:
                current.shutdown(wait=False)
            current = _processes(jobs)
            continue
        inflight.popleft()
        yield batch, result
    if current is not pool:
        current.shutdown()


def _recover(
    batches: list[Any], fn: Callable[[Any, Any], list[T]], arg: Any, jobs: int, recovery: Recovery
) -> list[list[T]]:
    """fn(batch, arg) for each batch, run on fresh worker processes: side by side first (most were
    only in flight beside the one that killed the pool); each that fails again is run with nothing
    beside it, and if it still kills its worker it is split, and so on down to single records."""
    with _processes(jobs) as pool:
        futures = [pool.submit(fn, b, arg) for b in batches]
        wait(futures)
    out: list[list[T]] = []
    for batch, future in zip(batches, futures, strict=True):
        if isinstance(future.exception(), BrokenProcessPool):
            out.append(_alone(batch, fn, arg, jobs, recovery))
        else:
            out.append(future.result())
    return out


def _alone(batch: Any, fn: Callable[[Any, Any], list[T]], arg: Any, jobs: int, recovery: Recovery) -> list[T]:
    with _processes(1) as pool:
        future = pool.submit(fn, batch, arg)
        wait([future])
    if not isinstance(future.exception(), BrokenProcessPool):
        return future.result()
    pieces = recovery.split(batch)
    if pieces is None:  # this record kills a worker on its own
        return recovery.lost(batch, DIED_ALONE)
    return [row for rows in _recover(pieces, fn, arg, jobs, recovery) for row in rows]


def _submit(pool: Executor, fn: Callable[[Any, Any], list[T]], batch: Any, arg: Any) -> Future[list[T]]:
    """pool.submit, or a future failed with BrokenProcessPool when a worker died since the last
    result: the broken-pool recovery then takes it with the others, as if it had been in flight."""
    try:
        return pool.submit(fn, batch, arg)
    except BrokenProcessPool as exc:
        failed: Future[list[T]] = Future()
        failed.set_exception(exc)
        return failed


def _done(value: T) -> Future[T]:
    future: Future[T] = Future()
    future.set_result(value)
    return future


def _batched(items: Iterable[T], size: int) -> Iterator[list[T]]:
    it = iter(items)
    while batch := list(islice(it, size)):
        yield batch
