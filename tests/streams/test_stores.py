"""The memory store as a restore buffer: what it hands over, and how it retries."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from faust.types import TP

from projections import Funnel
from streams import stores
from streams.app import create_worker
from streams.settings import WorkerSettings
from streams.stores import LeadMemoryStore


class Record(NamedTuple):
    key: bytes
    value: bytes | None


def _store(tmp_path: Path) -> tuple[LeadMemoryStore, str]:
    worker = create_worker(WorkerSettings(app_id="store-test", data_dir=tmp_path), Funnel(), 6)
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


def test_a_failed_read_starts_again_from_scratch_and_reports_the_ends_as_persisted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store, changelog = _store(tmp_path)
    calls = []

    async def flaky(connection: Any, topic: str, owned: Any, apply: Any, **kw: Any) -> Any:
        calls.append(topic)
        if len(calls) == 1:
            apply(0, [Record(b"half", b"read")])
            raise ConnectionError("broker went away")
        apply(0, [Record(b"whole", b"read")])
        return {partition: 7 for partition in owned}

    async def no_wait(seconds: float) -> None:
        pass

    monkeypatch.setattr(stores, "read_changelog", flaky)
    monkeypatch.setattr(stores.asyncio, "sleep", no_wait)
    assigned = {TP(changelog, partition) for partition in range(6)}
    asyncio.run(store.on_rebalance(assigned, set(), assigned))
    assert len(calls) == 2
    # Faust's recovery takes the end as reached: nothing is left for it to read.
    assert [store.persisted_offset(tp) for tp in sorted(assigned)] == [6] * 6
    assert list(store.drain()) == [(0, b"whole", b"read")]
