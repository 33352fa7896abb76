"""The connection table that spreads keep-alive connections over `cds serve`'s workers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from cds.service.balance import SLOTS, ConnectionTable, create_table


@pytest.fixture
def table_path(tmp_path: Path) -> Path:
    return create_table(tmp_path)


@pytest.fixture
def two_workers(table_path: Path) -> Iterator[tuple[ConnectionTable, ConnectionTable]]:
    # Two opens of one file stand for two worker processes: each claims a slot of its own.
    a, b = ConnectionTable(table_path, 2), ConnectionTable(table_path, 2)
    yield a, b
    a.close()
    b.close()


def _open(table: ConnectionTable, n: int) -> None:
    for _ in range(n):
        table.opened()


def test_each_worker_claims_its_own_slot(two_workers: tuple[ConnectionTable, ConnectionTable]) -> None:
    a, b = two_workers
    assert {a.slot, b.slot} == {0, 1}


def test_a_worker_holding_more_than_its_share_sheds_until_even(
    two_workers: tuple[ConnectionTable, ConnectionTable],
) -> None:
    a, b = two_workers
    _open(a, 8)
    _open(b, 2)
    assert not b.should_shed()
    shed = 0
    while a.should_shed():  # a burst of 10 connections that landed 8/2: fair share is 5
        a.leave()
        shed += 1
    assert shed == 3
    # The connections told to leave are not counted as staying, so no more are shed meanwhile.
    assert not a.should_shed()
    for _ in range(3):
        a.closed(was_leaving=True)
    assert (a.held, a.leaving) == (5, 0)
    _open(b, 3)  # the clients reconnected, to the other worker
    assert not a.should_shed() and not b.should_shed()


def test_an_even_or_single_connection_worker_never_sheds(
    two_workers: tuple[ConnectionTable, ConnectionTable],
) -> None:
    a, b = two_workers
    _open(a, 1)
    assert not a.should_shed()  # one client, one connection: nowhere better to send it
    _open(a, 4)
    _open(b, 5)
    assert not a.should_shed() and not b.should_shed()
    _open(a, 1)  # 6 of 11: the share rounds up
    assert not a.should_shed()


def test_a_dead_workers_slot_is_taken_over_and_zeroed(table_path: Path) -> None:
    a = ConnectionTable(table_path, 2)
    _open(a, 7)
    slot = a.slot
    a.close()  # the process died: its lock is gone
    b = ConnectionTable(table_path, 2)
    try:
        assert b.slot == slot
        c = ConnectionTable(table_path, 2)
        _open(c, 4)
        # 4 of 4 is over the share of 2; with the dead worker's 7 still counted it would not be.
        assert c.should_shed()
        c.close()
    finally:
        b.close()


def test_more_workers_than_slots_is_an_error(table_path: Path) -> None:
    tables = [ConnectionTable(table_path, SLOTS) for _ in range(SLOTS)]
    try:
        with pytest.raises(RuntimeError, match="share the connection table"):
            ConnectionTable(table_path, SLOTS)
    finally:
        for t in tables:
            t.close()
