"""`cds screen --dask` / `--scheduler tcp://HOST:PORT`: the same two passes as the process pool, on Dask.

Pass 1 is one task per few byte ranges of the export (`bulk.partition_blobs`): it returns, for each
contiguous range of buckets, one blob of bucket lines (bytes, the pool's bucket-file format), plus
what it saw of each chunk and the shared Medication lines (small: gathered here, and merged on a
worker into pass 2's settings, so pass 2 waits for no round trip through this client). Pass 2 is one task per range
of buckets (`assess_blobs`), fed that range's blob from every pass-1 result: the blob is cut out on
the worker holding the result, so only the lines of that range move, as bytes, never pickled
objects, and nothing passes through this client but rows. Workers compiled the ruleset once when
they joined (`Warm`, a worker plugin). Rows come back per range, fed to the progress bar as the
futures finish, and are written in bucket order, as the process pool writes them. Workers need the same ketamine-cds installed (checked: the same ruleset version) and the
input at the same path (checked before any work).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from cds.errors import CdsError, InputError
from cds.screen import bulk
from cds.screen.progress import Progress
from cds.screen.rows import Row, Summary, error_row
from cds.screen.run import BATCH, DIED_ALONE, SPLIT, Dask, Inputs, after_scan, bundle_rows, chunk_size
from cds.screen.worker import Settings, assess_files, assess_groups_with, medications_from, warm


def warmed_here() -> tuple[int, int]:
    """(pid, how often this process compiled the ruleset): asked of every worker by the tests."""
    from cds.screen.worker import warmed

    return os.getpid(), warmed()


def _plugin() -> Any:
    from distributed.diagnostics.plugin import WorkerPlugin

    class Warm(WorkerPlugin):
        """Compile the ruleset when a worker joins, so no task pays for it."""

        name = "ketamine-cds-warm"

        def setup(self, worker: Any) -> None:
            warm()

    return Warm()


@contextmanager
def connect(target: Dask, starting: Callable[[], None] | None = None) -> Iterator[Any]:
    """A client of the scheduler, or of a local cluster started here; `starting()` is called once a
    local cluster's fork server is starting (its preload is the longest step of the start)."""
    if target.scheduler:
        from distributed import Client

        try:
            client = Client(target.scheduler, timeout=f"{target.connect_timeout_s}s")
        except (OSError, ValueError) as exc:  # refused, timed out, or not an address
            raise InputError(f"cannot reach the Dask scheduler ({exc})", location=target.scheduler) from None
        with client:
            _wait_for_a_worker(client, target)
            yield client
        return
    workers = max(1, target.workers or os.cpu_count() or 1)
    _start_forkserver()  # first: importing Dask here takes a while, and the server needs none of it
    if starting is not None:
        starting()
    import dask
    from distributed import Client, LocalCluster

    # One thread per worker process: the rules engine holds the GIL. No statistical profiler: its
    # thread walks the task's stack every 10 ms, and with a GIL-bound task that is CPU lost.
    # Worker processes fork from a server that imported distributed and the pipeline and compiled
    # the ruleset once (`cds.screen.preload`), instead of each starting a fresh interpreter, importing
    # both and compiling (spawn, Dask's default); a worker the nanny restarts forks ready too.
    # Dask's nannies set MALLOC_TRIM_THRESHOLD_=65536 in every worker by default; that fixes glibc's
    # mmap threshold too, and an assessment's many allocations then cost about 30% more CPU
    # (measured: 15.3 against 11.8 s for 5,000 patients in one process). Not set here.
    # The system monitor (psutil CPU, memory, network and disk counters for the dashboard, every
    # 500 ms in the scheduler, each nanny and worker) and the 20 ms event-loop health tick wake every
    # event loop on the 2 cores the tasks need: 0.3 s CPU and 0.15 s of a 5,000-patient run
    # (measured, interleaved). Workers check their own memory on their own timer, unchanged.
    config = {
        **QUIET,
        "distributed.worker.profile.enabled": False,
        "distributed.worker.multiprocessing-method": "forkserver",
        "distributed.nanny.pre-spawn-environ": NANNY_ENVIRON,
    }
    with (
        dask.config.set(config),
        LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=":0",  # no fixed port: two screenings (or a test beside one) never collide
            silence_logs=logging.ERROR,
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client


def _wait_for_a_worker(client: Any, target: Dask) -> None:
    """A scheduler with no worker would hold the tasks for ever: wait a bounded time for one."""
    try:
        client.wait_for_workers(1, timeout=max(target.worker_wait_s, 0.01))  # 0 would wait for ever
    except TimeoutError:
        raise InputError(
            f"no Dask worker joined the scheduler within {target.worker_wait_s:g} s "
            f"(start them with `dask worker {target.scheduler}`, or wait longer with --worker-wait)",
            location=str(target.scheduler),
        ) from None


class _EarlyChecks:
    """A thread byte-checking the chunks of types no fact reads (`bulk.checked`) until `stop()`,
    which gives the scans of those that passed by (path, start); the rest go to the cluster."""

    def __init__(self, files: list[Path], read: bulk.Reading) -> None:
        self.chunks = [c for c in bulk.chunks([f.resolve() for f in files], read) if c.skip_type]
        self.passed: dict[tuple[str, int], bulk.Scan] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="cds-early-checks", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        for chunk in self.chunks:
            if self._stop.is_set():
                return
            try:
                seen = bulk.checked(chunk)
            except OSError:
                return  # the cluster's own reading reports it
            if seen is not None:
                self.passed[chunk.path, chunk.start] = seen

    def stop(self) -> dict[tuple[str, int], bulk.Scan]:
        self._stop.set()
        if self._thread.ident is not None:
            self._thread.join()
        return self.passed


class _Watch:
    """A thread asking the scheduler every second how many workers it has: when none is left for
    `wait_s`, the waits it was given (`as_completed`) are emptied, so the run stops with `reason`
    instead of waiting for ever (the lost work cannot come back)."""

    def __init__(self, client: Any, wait_s: float) -> None:
        self.client = client
        self.wait_s = wait_s
        self.reason: str | None = None
        self._waits: list[Any] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="cds-dask-watch", daemon=True)

    def __enter__(self) -> _Watch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def add(self, waiting: Any) -> Any:
        self._waits.append(waiting)
        if self.reason:
            waiting.clear()
        return waiting

    def check(self) -> None:
        if self.reason:
            raise CdsError(self.reason)

    def _loop(self) -> None:
        since: float | None = None
        while not self._stop.wait(1.0):
            try:
                workers = len(self.client.nthreads())
            except Exception:  # the scheduler itself is gone: the client's own calls fail
                workers = 0
            if workers:
                since = None
                continue
            since = since or time.monotonic()
            if time.monotonic() - since >= self.wait_s:
                self.reason = f"no Dask worker left for {self.wait_s:g} s; the cluster lost the patients still in flight"
            if self.reason:  # every second from then on: a wait may have been given more futures
                for waiting in self._waits:
                    waiting.clear()


QUIET = {"distributed.admin.system-monitor.interval": "5s", "distributed.admin.tick.interval": "1s"}
NANNY_ENVIRON = {"OMP_NUM_THREADS": 1, "MKL_NUM_THREADS": 1, "OPENBLAS_NUM_THREADS": 1}
DASK_HASH_SEED = "6640"  # the seed distributed's nannies give workers when none is set
RANGES_PER_WORKER = 8  # pass-2 tasks: small enough that no worker waits long for the last one


FORKSERVER_PRELOAD = ["distributed", "cds.screen.cluster", "cds.pipeline", "cds.screen.preload"]


def _start_forkserver() -> None:
    """Start the fork server the local cluster's nannies fork their workers from, preloading
    distributed, the pipeline and the compiled ruleset. Already running (an earlier run in this
    process): used as it is."""
    import multiprocessing
    from multiprocessing import forkserver

    # What a nanny puts in os.environ before its first spawn (`distributed.nanny`: the
    # pre-spawn-environ unless set already, and a fixed PYTHONHASHSEED for consistent hashing
    # across workers), put there first: the server, and every worker it forks, starts with it.
    for key, value in NANNY_ENVIRON.items():
        os.environ.setdefault(key, str(value))
    if os.environ.get("PYTHONHASHSEED") in (None, "0"):
        os.environ["PYTHONHASHSEED"] = DASK_HASH_SEED
    multiprocessing.get_context("forkserver").set_forkserver_preload(FORKSERVER_PRELOAD)
    forkserver.ensure_running()


def _ruleset_version() -> str:
    """Version and content hash: workers must hold the very same knowledge, not only its number
    (on a worker, where the plugin compiled it)."""
    from cds.knowledge import default_knowledge

    return default_knowledge().stamp


def _unreadable(paths: list[str]) -> list[str]:
    return [p for p in paths if not os.access(p, os.R_OK)]


def check_workers(client: Any, files: list[Path]) -> None:
    """Every worker runs this ruleset version and can read every input file, or nothing starts."""
    client.register_plugin(_plugin())
    from cds.knowledge import default_stamp

    mine = default_stamp()  # from the files: this client never assesses, so it compiles nothing
    for worker, version in client.run(_ruleset_version).items():
        if version != mine:
            raise InputError(
                f"runs ruleset {version}, this command {mine}: install the same ketamine-cds on every worker",
                location=f"Dask worker {worker}",
            )
    paths = [str(f.resolve()) for f in files]
    for worker, missing in client.run(_unreadable, paths).items():
        if missing:
            raise InputError(
                f"cannot read {missing[0]} (workers need the input at the same path)",
                location=f"Dask worker {worker}",
            )


def screen_on_dask(
    inputs: Inputs,
    settings: Settings,
    emit: Callable[[list[Row]], None],
    summary: Summary,
    bar: Progress,
    target: Dask,
    read: bulk.Reading,
) -> None:
    # A local cluster's workers start only once its fork server has loaded the knowledge: meanwhile
    # this process byte-checks the export's chunks of types no fact reads (a core idled for it);
    # only those that pass are left out of pass 1, so its tasks read the same whichever they were.
    early = _EarlyChecks(inputs.ndjson, read) if target.scheduler is None and inputs.ndjson else None
    try:
        with (
            connect(target, early.start if early else None) as client,
            _Watch(client, target.worker_wait_s) as watch,
        ):
            checked = early.stop() if early is not None else {}
            _on_cluster(client, watch, inputs, settings, emit, summary, bar, read, checked)
    finally:
        if early is not None:
            early.stop()


def _on_cluster(
    client: Any,
    watch: _Watch,
    inputs: Inputs,
    settings: Settings,
    emit: Callable[[list[Row]], None],
    summary: Summary,
    bar: Progress,
    read: bulk.Reading,
    checked: dict[tuple[str, int], bulk.Scan],
) -> None:
    check_workers(client, inputs.bundles + inputs.ndjson)
    workers = max(1, len(client.scheduler_info().get("workers", {})))
    if inputs.bundles:
        bar.start("screening bundles", len(inputs.bundles))
        batches = [
            [str(p.resolve()) for p in inputs.bundles[i : i + BATCH]]
            for i in range(0, len(inputs.bundles), BATCH)
        ]
        futures = client.map(assess_files, batches, settings=settings, pure=False)
        for i, rows in _in_order(futures, watch):
            emit(bundle_rows(batches[i], rows, summary))
    if inputs.ndjson:
        _screen_export(client, inputs.ndjson, settings, emit, summary, bar, read, workers, watch, checked)


def _screen_export(
    client: Any,
    files: list[Path],
    settings: Settings,
    emit: Callable[[list[Row]], None],
    summary: Summary,
    bar: Progress,
    read: bulk.Reading,
    workers: int,
    watch: _Watch,
    checked: dict[tuple[str, int], bulk.Scan] | None = None,
) -> None:
    files = [f.resolve() for f in files]
    checked = checked or {}
    total = bulk.read_bytes(files, read)
    buckets = bulk.bucket_count(total)
    # Pass 2 tasks: each a contiguous range of buckets, enough for every worker to get several
    # and none holding much more than a bucket's worth of input.
    ranges = bulk.bucket_ranges(buckets, max(RANGES_PER_WORKER * workers, -(-total // bulk.BUCKET_BYTES)))
    pieces = bulk.chunks(files, read, chunk_size(files, read, workers))
    # Pass-1 tasks of even work, at least 4 per worker: one per parsed chunk at most.
    parts = bulk.deal(pieces, max(4 * workers, sum(c.skip_type is None for c in pieces)), checked)
    scanned = client.map(
        bulk.partition_blobs, parts, reading=read, buckets=buckets, parts=len(ranges), pure=False
    )
    # Each range's blob is cut out on each worker holding a pass-1 result (only that blob moves),
    # submitted now in one graph (a cut runs as soon as its part is done, ahead of queued parts:
    # a cut queued behind a long task would hold up another worker), not one message per cut
    # once every part is in: pass 2 then waits for no cut.
    cuts = client.map(
        _blob,
        [s for _ in ranges for s in scanned],
        [i for i in range(len(ranges)) for _ in scanned],
        pure=False,
        priority=1,
    )
    blobs: list[list[Any] | None] = [
        cuts[i * len(scanned) : (i + 1) * len(scanned)] for i in range(len(ranges))
    ]
    bar.start("grouping export by patient", len(parts))
    seen = client.map(_seen_and_medications, scanned, pure=False)  # small: gathered here
    # Pass 2's first tasks are submitted now, with the run-level settings and the shared
    # Medications as tasks of their own over pass 1's results: each range starts as soon as pass 1
    # is done, not once every result has come here and the tasks have gone back (about 0.05 s).
    # Results, not scattered data: a worker that dies takes scattered data with it for good (every
    # task needing it is cancelled), while a result is computed again elsewhere.
    keys = [(c.path, c.start) for c in pieces]
    run_settings = client.submit(_run_settings, settings, keys, checked, *seen, pure=False)
    shared = client.submit(_shared_medications, *seen, pure=False)

    # Each task goes to the worker with the fewest unfinished ones (as the process pool hands out
    # work): left to itself, the scheduler places a task where its input lies, and one worker may
    # hold a queue while the other idles until work stealing notices. Loosely: a lost worker's
    # task runs elsewhere.
    unfinished = dict.fromkeys(client.scheduler_info().get("workers", {}), 0)
    placed: dict[str, str] = {}
    held: dict[int, list[Any]] = {}  # a range's blobs, until its rows are in (a re-run needs them)

    def assess_range(i: int) -> Any:
        worker = min(unfinished, key=lambda w: unfinished[w])
        inputs, blobs[i] = blobs[i], None
        assert inputs is not None
        held[i] = inputs
        future = client.submit(
            assess_blobs,
            run_settings,
            shared,
            buckets,
            *inputs,
            pure=False,
            workers=[worker],
            allow_other_workers=True,
        )
        unfinished[worker] += 1
        placed[future.key] = worker
        return future

    window = 2 * workers
    first = [assess_range(i) for i in range(min(window, len(ranges)))]
    del scanned, cuts  # each blob holds what it needs

    # What pass 1 saw, for the summary: merged here as `_run_settings` merges it on a worker.
    found = (r for _, r in _in_order(seen, watch, "grouping the export failed on a worker", bar))
    scan = _merged(keys, checked, found)
    part_settings = after_scan(scan, settings, summary, None)
    del seen
    bar.start("screening export", scan.patients)

    def finished(key: str) -> None:
        unfinished[placed.pop(key)] -= 1

    def recover(i: int) -> list[Row]:
        return _recover_range(client, part_settings, shared, buckets, held[i], watch)

    def submit(i: int) -> Any:
        return first[i] if i < len(first) else assess_range(i)

    for i, rows in enumerate(_windowed(submit, len(ranges), window, finished, watch, recover)):
        held.pop(i, None)
        emit(rows)


def _recover_range(
    client: Any, settings: Settings, shared: Any, buckets: int, inputs: list[Any], watch: _Watch
) -> list[Row]:
    """The rows of a range of buckets whose task killed every worker it was given (KilledWorker),
    run with nothing else on the cluster: its patients in up to SPLIT groups side by side, all
    awaited; then each patient of a group that failed, one at a time; only a patient that kills
    workers on its own gets an error row."""
    from distributed import KilledWorker

    [patients] = _settled([client.submit(range_patients, buckets, *inputs, pure=False)], watch)
    size = max(1, -(-len(patients) // SPLIT))
    groups = [tuple(patients[i : i + size]) for i in range(0, len(patients), size)]
    settled = _settled(
        [
            client.submit(assess_blob_patients, settings, shared, buckets, g, *inputs, pure=False)
            for g in groups
        ],
        watch,
        KilledWorker,
    )
    rows: list[Row] = []
    for group, result in zip(groups, settled, strict=True):
        if not isinstance(result, KilledWorker):
            rows.extend(result)
            continue
        for patient in group:  # one at a time, after every group is in: nothing runs beside it
            [one] = _settled(
                [
                    client.submit(
                        assess_blob_patients, settings, shared, buckets, (patient,), *inputs, pure=False
                    )
                ],
                watch,
                KilledWorker,
            )
            rows.extend(
                [error_row(patient, "bulk export", DIED_ALONE)] if isinstance(one, KilledWorker) else one
            )
    return rows


_LOST_RETRIES = 3


def _settled(futures: list[Any], watch: _Watch, *allowed: type[BaseException]) -> list[Any]:
    """Each future's result, or its exception when of an `allowed` type; waited for through `watch`
    (a cluster left with no worker stops the run instead of waiting for ever). Any other failure is
    a CdsError, never a traceback."""
    from distributed import as_completed

    for attempt in range(_LOST_RETRIES + 1):
        for _ in watch.add(as_completed(futures)):
            pass
        watch.check()
        # A result held by a worker that died after finishing it (killed by another task of the
        # recovery) is lost, not failed: computed again.
        lost = [f for f in futures if f.status in ("lost", "cancelled")]
        if not lost or attempt == _LOST_RETRIES:
            break
        for future in lost:
            future.retry()
    out: list[Any] = []
    for future in futures:
        if future.status == "finished":
            out.append(future.result())
            continue
        exc = future.exception() if future.status == "error" else None
        if exc is not None and isinstance(exc, allowed):
            out.append(exc)
            continue
        what = f"{type(exc).__name__}: {exc}" if exc is not None else future.status
        raise CdsError(f"a Dask task failed ({what})")
    return out


def _windowed(
    submit: Callable[[int], Any],
    count: int,
    limit: int,
    finished: Callable[[str], None],
    watch: _Watch,
    recover: Callable[[int], Any] | None = None,
) -> Iterator[Any]:
    """The results of `submit(0)` .. `submit(count - 1)` in that order, with at most `limit` tasks
    submitted and unfinished; `finished(key)` as each finishes. A task that killed every worker it
    was given (KilledWorker): nothing more is submitted until the tasks in flight are in, then
    `recover(i)` gives its result with nothing else running (so a re-run cannot blame a record
    for another's crash)."""
    from distributed import KilledWorker, as_completed

    index: dict[str, int] = {}
    done: dict[int, Any] = {}
    lost: list[int] = []
    waiting = watch.add(as_completed())
    submitted = emitted = 0

    def more() -> None:
        nonlocal submitted
        while not lost and not watch.reason and submitted < count and submitted - emitted - len(done) < limit:
            future = submit(submitted)
            index[future.key] = submitted
            waiting.add(future)
            submitted += 1

    more()
    for future in waiting:
        i = index.pop(future.key)
        try:
            done[i] = future.result()
        except KilledWorker:
            if recover is None:
                raise CdsError("a Dask task failed (KilledWorker): every worker given it died") from None
            lost.append(i)
        except Exception as exc:  # a bug, or a cancelled task
            raise CdsError(f"a Dask task failed ({type(exc).__name__}: {exc})") from None
        finished(future.key)
        if lost and recover is not None and not index:  # everything else in flight is in
            for j in lost:
                done[j] = recover(j)
            lost.clear()
        while emitted in done:
            yield done.pop(emitted)
            emitted += 1
        more()
    watch.check()
    if emitted < count:  # never a silent loss of patients
        raise CdsError(f"{count - emitted} ranges of buckets came back without rows from the cluster")


def range_patients(buckets: int, *blobs: bytes) -> list[str]:
    """On a worker: the patients of one range of buckets, in the order `assess_blobs` gives rows."""
    groups = bulk.blob_buckets(blobs, buckets)
    return [g.patient for k in sorted(groups) for g in groups[k]]


def assess_blob_patients(
    settings: Settings,
    medications: list[tuple[str, bytes]],
    buckets: int,
    patients: tuple[str, ...],
    *blobs: bytes,
) -> list[Row]:
    """On a worker: the rows of the named patients of one range of buckets, in `assess_blobs` order."""
    shared = medications_from(medications)
    wanted = set(patients)
    groups = bulk.blob_buckets(blobs, buckets)
    return [
        row
        for k in sorted(groups)
        for row in assess_groups_with([g for g in groups[k] if g.patient in wanted], settings, shared)
    ]


Seen = tuple[tuple[tuple[tuple[str, int], bulk.Scan], ...], tuple[tuple[str, bytes], ...]]


def _merged(
    keys: list[tuple[str, int]], checked: dict[tuple[str, int], bulk.Scan], seen: Iterable[Seen]
) -> bulk.Scan:
    """Every chunk's scan merged in file order (`keys`), as the pool merges them, whichever task read
    which chunk: the first unreadable lines named are the same every run and on either backend."""
    scans = dict(checked)
    for chunk_scans, _ in seen:
        scans.update(chunk_scans)
    scan = bulk.Scan()
    for key in keys:
        scan.merge(scans[key])
    return scan


def _run_settings(
    settings: Settings, keys: list[tuple[str, int]], checked: dict[tuple[str, int], bulk.Scan], *seen: Seen
) -> Settings:
    """On a worker: the settings pass 2 runs with, as the client derives them (its summary aside)."""
    return after_scan(_merged(keys, checked, seen), settings, Summary(), None)


def _shared_medications(*seen: Seen) -> list[tuple[str, bytes]]:
    return [m for _, meds in seen for m in meds]


def _seen_and_medications(p: bulk.Partitioned) -> Seen:
    return p.seen, p.medications


def _blob(p: bulk.Partitioned, i: int) -> bytes:
    return p.blobs[i]


def assess_blobs(
    settings: Settings, medications: list[tuple[str, bytes]], buckets: int, *blobs: bytes
) -> list[Row]:
    """On a worker: the rows of one range of buckets, in bucket then patient order."""
    shared = medications_from(medications)
    groups = bulk.blob_buckets(blobs, buckets)
    return [row for k in sorted(groups) for row in assess_groups_with(groups[k], settings, shared)]


def _in_order(
    futures: list[Any], watch: _Watch, failure: str = "a Dask task failed", bar: Progress | None = None
) -> Iterator[tuple[int, Any]]:
    """(index, result) in submission order, read as they finish (a bounded wait for the earliest);
    `bar` advanced by one as each finishes."""
    from distributed import as_completed

    index = {f.key: i for i, f in enumerate(futures)}
    done: dict[int, Any] = {}
    nxt = 0
    for future in watch.add(as_completed(futures)):
        try:
            done[index[future.key]] = future.result()
        except Exception as exc:  # a worker lost the task too often (KilledWorker), or a bug
            raise CdsError(f"{failure} ({type(exc).__name__}: {exc})") from None
        if bar is not None:
            bar.advance(1)
        while nxt in done:
            yield nxt, done.pop(nxt)
            nxt += 1
    watch.check()
    if nxt < len(futures):  # never a silent loss of patients
        raise CdsError(f"{len(futures) - nxt} Dask tasks came back without a result")
