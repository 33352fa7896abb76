"""`cds screen --dask` / `--scheduler tcp://HOST:PORT`: the same two passes as the process pool, on Dask.

Pass 1 is a `dask.bag` with one partition per byte range of the export (`bulk.partition_records`):
each element is (bucket, records). The cluster groups them by bucket (Dask's task shuffle, no
shared disk), and each bucket is assessed on a worker (`assess_partition`), which compiled the
ruleset once when it joined (`Warm`, a worker plugin). Rows come back per partition, fed to the
progress bar as the futures finish, and are written in bucket order, as the process pool writes
them. Workers need the same ketamine-cds installed (checked: the same ruleset version) and the
input at the same path (checked before any work).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from cds.errors import CdsError, InputError
from cds.ingest.load import RawResource
from cds.screen import bulk
from cds.screen.progress import Progress
from cds.screen.rows import Row, Summary
from cds.screen.run import BATCH, Dask, Inputs, after_scan, bundle_rows, chunk_size
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
def connect(target: Dask) -> Iterator[Any]:
    import dask
    from distributed import Client, LocalCluster

    if target.scheduler:
        try:
            client = Client(target.scheduler, timeout=f"{target.connect_timeout_s}s")
        except (OSError, ValueError) as exc:  # refused, timed out, or not an address
            raise InputError(f"cannot reach the Dask scheduler ({exc})", location=target.scheduler) from None
        with client:
            yield client
        return
    workers = max(1, target.workers or os.cpu_count() or 1)
    # One thread per worker process: the rules engine holds the GIL. No statistical profiler: its
    # thread walks the task's stack every 10 ms, and with a GIL-bound task that is CPU lost.
    with (
        dask.config.set({"distributed.worker.profile.enabled": False}),
        LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            silence_logs=logging.ERROR,
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client


def _ruleset_version() -> str:
    """Version and content hash: workers must hold the very same knowledge, not only its number."""
    from cds.knowledge import default_knowledge

    return default_knowledge().stamp


def _unreadable(paths: list[str]) -> list[str]:
    return [p for p in paths if not os.access(p, os.R_OK)]


def check_workers(client: Any, files: list[Path]) -> None:
    """Every worker runs this ruleset version and can read every input file, or nothing starts."""
    client.register_plugin(_plugin())
    mine = _ruleset_version()
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
    with connect(target) as client:
        check_workers(client, inputs.bundles + inputs.ndjson)
        workers = max(1, len(client.scheduler_info().get("workers", {})))
        if inputs.bundles:
            bar.start("screening bundles", len(inputs.bundles))
            batches = [
                [str(p.resolve()) for p in inputs.bundles[i : i + BATCH]]
                for i in range(0, len(inputs.bundles), BATCH)
            ]
            futures = client.map(assess_files, batches, settings=settings, pure=False)
            for i, rows in _in_order(futures):
                emit(bundle_rows(batches[i], rows, summary))
        if inputs.ndjson:
            _screen_export(client, inputs.ndjson, settings, emit, summary, bar, read, workers)


def _screen_export(
    client: Any,
    files: list[Path],
    settings: Settings,
    emit: Callable[[list[Row]], None],
    summary: Summary,
    bar: Progress,
    read: bulk.Reading,
    workers: int,
) -> None:
    import dask.bag as db
    from dask.base import compute
    from dask.delayed import delayed
    from distributed import as_completed

    files = [f.resolve() for f in files]
    buckets = bulk.bucket_count(bulk.read_bytes(files, read))
    pieces = bulk.chunks(files, read, chunk_size(files, read, workers))
    # One pass-1 task per parsed chunk, at least 4 per worker; the checked-only chunks dealt among them.
    parts = bulk.deal(pieces, max(4 * workers, sum(c.skip_type is None for c in pieces)))
    scanned = client.map(bulk.partition_records, parts, reading=read, buckets=buckets, pure=False)
    bar.start("grouping export by patient", len(parts))
    for future in as_completed(scanned):
        if future.status == "error":
            raise InputError(f"grouping the export failed on a worker: {future.exception()}")
        bar.advance(1)
    stage1 = db.from_delayed(scanned)
    data = stage1.filter(_is_bucket)
    scans, meds, present = compute(
        stage1.filter(_is_scan).map(_second),
        stage1.filter(_is_medications).map(_second).flatten(),
        data.map(_first).distinct(),
    )
    scan = bulk.Scan()
    for s in scans:
        scan.merge(s)
    part_settings = after_scan(scan, settings, summary, None)
    shared = delayed(medications_from(list(meds)), pure=True)
    assessed = data.groupby(_first, shuffle="tasks").map_partitions(assess_partition, part_settings, shared)
    bar.start("screening export", scan.patients)
    futures = client.compute(assessed.to_delayed())
    del stage1, scanned  # released once the shuffle has read them
    order = sorted(present)
    waiting: dict[int, list[Row]] = {}
    nxt = 0
    for future in as_completed(futures):
        try:
            done = future.result()
        except Exception as exc:  # a worker lost the task too often (KilledWorker), or a bug
            raise CdsError(
                f"a Dask task failed ({type(exc).__name__}: {exc}); rows so far are incomplete"
            ) from None
        for k, rows in done:
            waiting[k] = rows
        while nxt < len(order) and order[nxt] in waiting:
            emit(waiting.pop(order[nxt]))
            nxt += 1
    if nxt < len(order):  # never a silent loss of patients
        raise CdsError(f"{len(order) - nxt} buckets of the export came back without rows from the cluster")


def assess_partition(
    elements: list[tuple[int, list[tuple[int, list[bulk.Record]]]]],
    settings: Settings,
    medications: dict[str, RawResource],
) -> list[tuple[int, list[Row]]]:
    """On a worker: each bucket of this partition as (bucket, rows), patients sorted."""
    out: list[tuple[int, list[Row]]] = []
    for k, parts in elements:
        records = [r for _, rs in parts for r in rs]
        out.append((k, assess_groups_with(bulk.group_records(records), settings, medications)))
    return out


def _in_order(futures: list[Any]) -> Iterator[tuple[int, Any]]:
    """(index, result) in submission order, read as they finish (a bounded wait for the earliest)."""
    from distributed import as_completed

    index = {f.key: i for i, f in enumerate(futures)}
    done: dict[int, Any] = {}
    nxt = 0
    for future in as_completed(futures):
        try:
            done[index[future.key]] = future.result()
        except Exception as exc:  # a worker lost the task too often (KilledWorker), or a bug
            raise CdsError(f"a Dask task failed ({type(exc).__name__}: {exc})") from None
        while nxt in done:
            yield nxt, done.pop(nxt)
            nxt += 1


def _is_bucket(e: tuple[int, object]) -> bool:
    return e[0] >= 0


def _is_scan(e: tuple[int, object]) -> bool:
    return e[0] == bulk.SCAN_KEY


def _is_medications(e: tuple[int, object]) -> bool:
    return e[0] == bulk.MEDICATION_KEY


def _first(e: tuple[int, object]) -> int:
    return e[0]


def _second(e: tuple[int, object]) -> object:
    return e[1]
