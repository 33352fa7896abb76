"""The Dask backend on a real `distributed.LocalCluster` of 2 worker processes: its rows equal the
process pool's, row for row and in the same order, and each worker compiled the ruleset once."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cds.errors import InputError
from cds.screen import Row, screen
from cds.screen.cluster import warmed_here
from cds.screen.run import Dask
from tests.screen.test_screen import SETTINGS, _patients, write_export

distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def scheduler() -> Iterator[str]:
    with distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        dashboard_address=":0",  # a random port: never the 8787 another cluster holds
        silence_logs=logging.ERROR,
    ) as cluster:
        yield cluster.scheduler_address


def _both(paths: list[Path], address: str) -> tuple[tuple[list[Row], object], tuple[list[Row], object]]:
    pool: list[Row] = []
    on_dask: list[Row] = []
    s_pool = screen(paths, SETTINGS, pool.append, jobs=2)
    s_dask = screen(paths, SETTINGS, on_dask.append, dask=Dask(scheduler=address))
    return (pool, s_pool), (on_dask, s_dask)


def test_dask_rows_equal_the_process_pool_rows(tmp_path: Path, scheduler: str) -> None:
    write_export(tmp_path / "e")  # with a broken patient and an unreadable line
    with (tmp_path / "e" / "Condition.ndjson").open("a") as fh:  # and one naming its patient
        fh.write('{"resourceType":"Condition","subject":{"reference":"Patient/trd2"},\n')
    (pool, s_pool), (on_dask, s_dask) = _both([tmp_path / "e"], scheduler)
    assert len(pool) == 6 and on_dask == pool  # row for row, same order
    assert s_dask == s_pool and s_dask.unusable
    assert {r.patient for r in on_dask if r.error} == {"broken"}
    assert all(r.incomplete for r in on_dask)  # the run-level gap reached every worker


def test_dask_screens_a_folder_of_bundles_like_the_pool(tmp_path: Path, scheduler: str) -> None:
    folder = tmp_path / "bundles"
    folder.mkdir()
    for i, bundle in enumerate(_patients()):
        (folder / f"p{i}.json").write_text(json.dumps(bundle))
    (folder / "hook.json").write_text(
        json.dumps({"hook": "patient-view", "hookInstance": "x", "context": {}})
    )
    (pool, s_pool), (on_dask, s_dask) = _both([folder], scheduler)
    assert len(pool) == 5 and on_dask == pool and s_dask == s_pool
    assert s_dask.skipped == ["hook.json (a CDS Hooks request)"]


def test_each_worker_compiled_the_ruleset_once(tmp_path: Path, scheduler: str) -> None:
    write_export(tmp_path / "e", broken=False)
    for _ in range(2):  # two runs, many tasks: still one compile per worker process
        screen([tmp_path / "e"], SETTINGS, lambda r: None, dask=Dask(scheduler=scheduler))
    with distributed.Client(scheduler) as client:
        counts = client.run(warmed_here)
    assert len(counts) == 2
    assert all(n == 1 for _, n in counts.values()), counts


def test_the_client_tells_its_ruleset_stamp_without_compiling_it() -> None:
    from cds.knowledge import default_knowledge, stamp_without_compiling

    assert stamp_without_compiling() == default_knowledge().stamp


def test_an_unreachable_scheduler_is_one_clear_error(tmp_path: Path) -> None:
    write_export(tmp_path / "e", broken=False)
    for address in ("tcp://127.0.0.1:9", "no-port"):
        with pytest.raises(InputError, match="cannot reach the Dask scheduler"):
            screen(
                [tmp_path / "e"],
                SETTINGS,
                lambda r: None,
                dask=Dask(scheduler=address, connect_timeout_s=1),
            )


def test_the_command_names_a_bad_scheduler_in_one_line_and_writes_no_rows(tmp_path: Path) -> None:
    write_export(tmp_path / "e", broken=False)
    proc = subprocess.run(
        [sys.executable, "-m", "cds.screen", str(tmp_path / "e"), "--scheduler", "no-port"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.startswith("error: no-port: cannot reach the Dask scheduler")
    assert "Traceback" not in proc.stderr


@pytest.fixture(scope="module")
def no_workers() -> Iterator[str]:
    with distributed.LocalCluster(
        n_workers=0, processes=True, dashboard_address=":0", silence_logs=logging.ERROR
    ) as cluster:
        yield cluster.scheduler_address


def test_a_scheduler_with_no_worker_is_refused_after_the_wait(tmp_path: Path, no_workers: str) -> None:
    write_export(tmp_path / "e", broken=False)
    with pytest.raises(InputError, match=r"no Dask worker joined the scheduler within 1 s") as caught:
        screen([tmp_path / "e"], SETTINGS, lambda r: None, dask=Dask(scheduler=no_workers, worker_wait_s=1))
    assert caught.value.location == no_workers
    out = tmp_path / "rows.csv"
    argv = [sys.executable, "-m", "cds.screen", str(tmp_path / "e"), "--scheduler", no_workers]
    proc = subprocess.run(
        [*argv, "--worker-wait", "0.5", "-o", str(out)], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 2 and "no Dask worker joined the scheduler within 0.5 s" in proc.stderr
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert list(tmp_path.glob("rows.csv*")) == []  # no rows file, not even a partial one


def test_a_run_whose_workers_all_left_stops_instead_of_waiting_for_ever(no_workers: str) -> None:
    """Tasks in flight when the last worker leaves (here: none ever came) are named lost."""
    from cds.errors import CdsError
    from cds.screen.cluster import _in_order, _Watch

    with distributed.Client(no_workers) as client, _Watch(client, 1) as watch:
        futures = client.map(len, [[1], [2, 3]], pure=False)
        with pytest.raises(CdsError, match="no Dask worker left for 1 s"):
            list(_in_order(futures, watch))


def test_a_recovery_wait_with_no_worker_left_stops_instead_of_waiting_for_ever(no_workers: str) -> None:
    """The crash recovery's own waits go through the same watch (they were bare `.result()`)."""
    from cds.errors import CdsError
    from cds.screen.cluster import _settled, _Watch

    with (
        distributed.Client(no_workers) as client,
        _Watch(client, 1) as watch,
        pytest.raises(CdsError, match="no Dask worker left for 1 s"),
    ):
        _settled([client.submit(len, [1], pure=False)], watch)


def _fails() -> None:
    raise ValueError("task failed")


def test_a_recovery_task_failing_otherwise_than_expected_is_one_clear_error(scheduler: str) -> None:
    """A failure of the type the recovery expects (KilledWorker there: a record that kills workers)
    is returned for it to handle; any other is a CdsError naming it, not a traceback out of the
    command."""
    from cds.errors import CdsError
    from cds.screen.cluster import _settled, _Watch

    with distributed.Client(scheduler) as client, _Watch(client, 30) as watch:
        [expected] = _settled([client.submit(_fails, pure=False)], watch, ValueError)
        assert isinstance(expected, ValueError)
        assert _settled([client.submit(len, [1, 2], pure=False)], watch) == [2]
        with pytest.raises(CdsError, match="a Dask task failed \\(ValueError: task failed\\)"):
            _settled([client.submit(_fails, pure=False)], watch, distributed.KilledWorker)


def test_dask_names_the_unreadable_lines_in_file_order_whatever_the_split(
    tmp_path: Path, scheduler: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each chunk's scan is merged in file order, as the pool merges them: the same first unreadable
    lines named, whichever task read which chunk (here one line a chunk, the tasks given in reverse)."""
    from cds.screen import bulk, cluster

    write_export(tmp_path / "e", broken=False)
    for name in ("Condition.ndjson", "Observation.ndjson", "MedicationStatement.ndjson"):
        with (tmp_path / "e" / name).open("a") as fh:
            fh.write("{not json\n")
    alone: list[Row] = []
    s_alone = screen([tmp_path / "e"], SETTINGS, alone.append, jobs=1)
    deal = bulk.deal
    monkeypatch.setattr(cluster, "chunk_size", lambda *_: 1)
    monkeypatch.setattr(bulk, "deal", lambda *a, **k: deal(*a, **k)[::-1])
    on_dask: list[Row] = []
    s_dask = screen([tmp_path / "e"], SETTINGS, on_dask.append, dask=Dask(scheduler=scheduler))
    assert len(s_alone.unreadable) == 3
    assert s_dask.unreadable == s_alone.unreadable
    assert on_dask == alone and s_dask == s_alone


def test_pass_2_is_submitted_before_pass_1_results_reach_the_client(
    tmp_path: Path, scheduler: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pass 2's first ranges wait on the cluster for pass 1 (their settings a task's result), not
    for the client to gather pass 1 and send them: they are submitted when it starts to."""
    from cds.screen import cluster

    write_export(tmp_path / "e")
    queued: list[int] = []
    real = cluster._in_order

    def in_order(futures: list[Any], *args: Any, **kwargs: Any) -> Any:
        if futures and "seen_and_medications" in str(futures[0].key):
            queued.append(sum("assess_blobs" in str(key) for key in futures[0].client.futures))
        return real(futures, *args, **kwargs)

    monkeypatch.setattr(cluster, "_in_order", in_order)
    on_dask: list[Row] = []
    s_dask = screen([tmp_path / "e"], SETTINGS, on_dask.append, dask=Dask(scheduler=scheduler))
    pool: list[Row] = []
    s_pool = screen([tmp_path / "e"], SETTINGS, pool.append, jobs=1)
    assert queued and queued[0] > 0
    assert on_dask == pool and s_dask == s_pool  # the run-level settings made on a worker are the same
