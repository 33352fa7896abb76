"""Pass 1 on the process pool: while the workers start (their fork server loads the knowledge), the
command byte-checks the chunks of types no fact reads itself; a chunk failing the check is handed
to a worker and read line by line; the counts and rows are those of a run in one process."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from cds.screen import Row, bulk, run, screen
from tests.screen.test_inputs import _aneurysm, _encounter
from tests.screen.test_screen import SETTINGS, write_export


def _export(folder: Path) -> None:
    """The small export, an Encounter file that holds only Encounters, and a mislabelled one."""
    write_export(folder, broken=False)
    ok = [json.dumps(_encounter(pid, i), separators=(",", ":")) for pid in ("trd1", "trd2") for i in range(5)]
    (folder / "Encounter.ndjson").write_text("\n".join(ok) + "\n")
    wrong = [json.dumps(_encounter("trd1", 9), separators=(",", ":")), json.dumps(_aneurysm("trd1"))]
    (folder / "2.Encounter.ndjson").write_text("\n".join(wrong) + "\n")


def _rows(folder: Path, jobs: int) -> tuple[object, list[Row]]:
    rows: list[Row] = []
    summary = screen([folder], SETTINGS, rows.append, jobs=jobs)
    return summary, rows


@pytest.mark.slow
def test_the_command_checks_skipped_chunks_while_the_workers_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _export(tmp_path / "e")
    checked_here: list[str] = []
    real_checked = bulk.checked

    def checked(chunk: bulk.Chunk) -> bulk.Scan | None:
        checked_here.append(Path(chunk.path).name)  # only this process sees the patched module
        return real_checked(chunk)

    def slow_start(pool: object) -> threading.Thread:
        # The fork server may already be running from an earlier test: a start as slow as a cold one.
        thread = threading.Thread(target=lambda: (time.sleep(1.0), run._nothing()))
        thread.start()
        return thread

    monkeypatch.setattr(bulk, "checked", checked)
    monkeypatch.setattr(run, "_start_workers", slow_start)
    pooled, rows = _rows(tmp_path / "e", jobs=2)
    assert sorted(checked_here) == ["2.Encounter.ndjson", "Encounter.ndjson"]
    alone, rows_alone = _rows(tmp_path / "e", jobs=1)
    assert rows == rows_alone
    assert pooled == alone  # counts, not parsed lines, patients
    by_id = {r.patient: r for r in rows}
    # The mislabelled file failed the check here and was read by a worker: its aneurysm counts.
    assert "aneurysmal-vascular-disease" in by_id["trd1"].contraindications


def test_a_checked_chunk_counts_what_a_scan_of_it_counts(tmp_path: Path) -> None:
    _export(tmp_path / "e")
    read = run.reading()
    for name, passes in (("Encounter.ndjson", True), ("2.Encounter.ndjson", False)):
        [chunk] = bulk.chunks([tmp_path / "e" / name], read)
        assert chunk.skip_type == "Encounter"
        seen = bulk.Scan()
        records = list(bulk.scan(chunk, read, seen))
        if passes:
            assert records == [] and bulk.checked(chunk) == seen and seen.not_parsed == 10
        else:
            assert bulk.checked(chunk) is None and records


def test_the_earliest_result_is_awaited_doing_other_work(tmp_path: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    done: list[float] = []

    def idle() -> bool:
        if len(done) == 5:
            return False  # nothing left to do
        time.sleep(0.01)
        done.append(time.monotonic())
        return True

    with ThreadPoolExecutor(2) as pool:
        out = list(run._ordered(pool, _slow_square, iter([[3], [4]]), None, 1, None, idle))
    assert out == [([3], [9]), ([4], [16])]
    assert len(done) == 5  # all of it, while the first task still ran


def _slow_square(batch: list[int], _: object) -> list[int]:
    time.sleep(0.3)
    return [x * x for x in batch]


@pytest.mark.parametrize(
    ("pid", "kept"),
    [("abc-1.2", True), ("", False), ("a b", False), ("a\tb", False), ("a\u00a0b", False), (" a", False)],
)
def test_a_patient_id_with_whitespace_names_no_patient(pid: str, kept: bool) -> None:
    assert bulk.patient_of({"resourceType": "Patient", "id": pid}) == (pid if kept else None)
    ref = {"resourceType": "Condition", "subject": {"reference": f"Patient/{pid}"}}
    assert bulk.patient_of(ref) == (pid if kept else None)


def _cost(chunk: list[object]) -> int:
    _, start, end, skip = chunk
    assert isinstance(start, int) and isinstance(end, int)
    return (end - start) * (1 if skip else bulk.PARSE_WEIGHT)


def test_pass1_tasks_share_the_work_evenly_whichever_chunks_were_checked_already() -> None:
    """Round-robin with the checked chunks taken out after left a task 3 checked chunks lighter
    than the others (all of its own were checked): a worker waited at the end of pass 1. Now even
    to within one chunk."""
    size = 100 * bulk.PARSE_WEIGHT  # a checked chunk of `size` bytes costs a parsed one of 100
    parsed = [bulk.Chunk("p.ndjson", i * 100, i * 100 + 100) for i in range(4)]
    skipped = [bulk.Chunk("e.ndjson", i * size, (i + 1) * size, "Encounter") for i in range(12)]
    done = {("e.ndjson", i * size) for i in (0, 4, 8)}
    parts = [json.loads(p) for p in bulk.deal(parsed + skipped, 4, done)]
    costs = [sum(_cost(c) for c in part) for part in parts]
    assert max(costs) - min(costs) <= size
    dealt = [(c[0], c[1]) for part in parts for c in part]
    left = [(c.path, c.start) for c in parsed + skipped if (c.path, c.start) not in done]
    assert sorted(dealt) == sorted(left) and len(dealt) == len(left)  # each once, none done
    order = {key: i for i, key in enumerate(left)}
    for part in parts:  # file order within a task
        assert [order[c[0], c[1]] for c in part] == sorted(order[c[0], c[1]] for c in part)


def test_which_chunks_were_checked_already_moves_only_checked_chunks() -> None:
    parsed = [bulk.Chunk("p.ndjson", i * 10, i * 10 + 10 + i) for i in range(5)]
    skipped = [bulk.Chunk("e.ndjson", i * 10, i * 10 + 10, "Encounter") for i in range(7)]

    def parsed_parts(done: set[tuple[str, int]]) -> list[list[object]]:
        return [[c for c in json.loads(p) if c[3] is None] for p in bulk.deal(parsed + skipped, 4, done)]

    assert parsed_parts(set()) == parsed_parts({("e.ndjson", 0), ("e.ndjson", 30), ("e.ndjson", 60)})


@pytest.mark.slow
def test_a_local_cluster_is_started_while_the_client_checks_skipped_chunks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("distributed")
    from cds.screen.run import Dask

    _export(tmp_path / "e")
    checked_here: list[str] = []
    real_checked = bulk.checked

    def checked(chunk: bulk.Chunk) -> bulk.Scan | None:
        checked_here.append(Path(chunk.path).name)
        return real_checked(chunk)

    monkeypatch.setattr(bulk, "checked", checked)
    rows: list[Row] = []
    on_dask = screen([tmp_path / "e"], SETTINGS, rows.append, dask=Dask(workers=2))
    # Both checked here while the cluster started (a second at least; a few microseconds of work).
    assert sorted(checked_here) == ["2.Encounter.ndjson", "Encounter.ndjson"]
    alone, rows_alone = _rows(tmp_path / "e", jobs=1)
    assert rows == rows_alone and on_dask == alone
    assert "aneurysmal-vascular-disease" in {r.patient: r for r in rows}["trd1"].contraindications


@pytest.mark.slow
def test_local_cluster_workers_start_with_the_environment_dask_gives_them(tmp_path: Path) -> None:
    """The fork server is started before Dask's nannies would start it: the workers it forks must
    still get what a nanny sets before spawning (one BLAS thread, a fixed hash seed)."""
    pytest.importorskip("distributed")
    import os
    import subprocess
    import sys

    # A fresh process: a fork server an earlier test started is used as it is (as in one command).
    probe = (
        "import os\n"
        "from cds.screen.cluster import connect\n"
        "from cds.screen.run import Dask\n"
        "def probe(): return os.environ.get('OMP_NUM_THREADS'), hash('ketamine')\n"
        "if __name__ == '__main__':\n"
        "    with connect(Dask(workers=2)) as client:\n"
        "        print(sorted(set(client.run(probe).values())))\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONHASHSEED", "OMP_NUM_THREADS")}
    script = tmp_path / "probe.py"
    script.write_text(probe)
    seen = subprocess.run(
        [sys.executable, str(script)], env=env, capture_output=True, text=True, check=True, timeout=120
    ).stdout.strip()
    expected = subprocess.run(
        [sys.executable, "-c", "print(hash('ketamine'))"],
        env={**env, "PYTHONHASHSEED": "6640"},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert seen == f"[('1', {expected})]"


def _timers(dask_worker: object = None, dask_scheduler: object = None) -> tuple[float, float]:
    server: object = dask_worker or dask_scheduler
    return server.periodic_callbacks["monitor"].callback_time, server._tick_interval  # type: ignore[attr-defined]


@pytest.mark.slow
def test_a_local_cluster_samples_its_system_monitor_and_tick_seldom() -> None:
    """The 500 ms system monitor and the 20 ms tick wake every event loop on the cores the tasks
    need: the scheduler and every worker of a local cluster run them at 5 s and 1 s."""
    pytest.importorskip("distributed")
    from cds.screen.cluster import connect
    from cds.screen.run import Dask

    with connect(Dask(workers=2)) as client:
        on_workers = set(client.run(_timers).values())
        on_scheduler = client.run_on_scheduler(_timers)
    assert on_workers == {(5000.0, 1.0)}
    assert on_scheduler == (5000.0, 1.0)
