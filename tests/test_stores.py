"""The memory store as a restore buffer: what it hands over, and its fallback."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from faust.types import TP

from leadflow.settings import Settings
from projections import Funnel
from streams import stores
from streams.app import create_worker
from streams.stores import LeadMemoryStore


class Record(NamedTuple):
    key: bytes
    value: bytes | None


def _store(tmp_path: Path) -> tuple[LeadMemoryStore, str]:
    worker = create_worker(Settings(app_id="store-test", data_dir=tmp_path), Funnel(), 6)
    table = worker.app.tables["leads"]
    store = table.data
    assert isinstance(store, LeadMemoryStore)
    return store, table.changelog_topic_name


def test_drain_hands_over_each_partitions_latest_states_then_empties(tmp_path: Path) -> None:
    store, _ = _store(tmp_path)
    store._apply(0, [Record(b"a", b"1"), Record(b"b", b"1"), Record(b"a", b"2")])
    store._apply(3, [Record(b"c", b"1"), Record(b"c", None)])
    assert sorted(store.drain()) == [(0, b"a", b"2"), (0, b"b", b"1")]
    assert list(store.drain()) == []


def test_what_faust_recovered_after_the_fast_read_is_handed_over_last(tmp_path: Path) -> None:
    store, _ = _store(tmp_path)
    store._apply(2, [Record(b"a", b"old")])
    store.data[b"a"], store._key_partition[b"a"] = b"new", 2  # as Faust's recovery puts it
    assert list(store.drain()) == [(2, b"a", b"old"), (2, b"a", b"new")]


def test_a_failed_fast_read_leaves_the_whole_changelog_to_faust(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store, changelog = _store(tmp_path)

    async def unreachable(*args: Any, **kwargs: Any) -> dict[int, int]:
        store._apply(0, [Record(b"half", b"read")])
        raise ConnectionError("broker went away")

    monkeypatch.setattr(stores, "read_changelog", unreachable)
    assigned = {TP(changelog, partition) for partition in range(6)}
    store.set_persisted_offset(TP(changelog, 0), 41)
    asyncio.run(store.on_rebalance(assigned, set(), assigned))
    assert [store.persisted_offset(tp) for tp in sorted(assigned)] == [None] * 6
    assert list(store.drain()) == []
