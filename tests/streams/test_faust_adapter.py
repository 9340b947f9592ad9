"""Each private Faust/aiokafka behaviour `streams.faust_adapter` relies on, without a broker.

One test per behaviour: an upgrade of faust-streaming or aiokafka (pinned in
pyproject.toml) that changes one fails here, by name, before a worker misbehaves.
The behaviours that need a broker (fetch positions past transaction markers,
heartbeats) are in tests/streams/test_transactions.py.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.consumer.group_coordinator import GroupCoordinator
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP

from projections import Funnel
from streams import faust_adapter
from streams.app import Worker, create_worker
from streams.settings import StoreKind, WorkerSettings

TOPIC_TP = TP("lead-events", 0)


@pytest.fixture
def worker(tmp_path: Path) -> Worker:
    settings = WorkerSettings(
        kafka_bootstrap="kafka-1:9092,kafka-2:9093", app_id="adapter-test", data_dir=tmp_path
    )
    return create_worker(settings, Funnel(), 6)


def test_faust_builds_the_leadflow_consumer_thread(worker: Worker) -> None:
    # `_new_consumer_thread` is Faust's hook for the thread that owns the aiokafka consumer.
    assert isinstance(worker.app.consumer._thread, faust_adapter.LeadflowConsumerThread)


def test_highwaters_are_the_read_committed_consumers_end_offsets(worker: Worker) -> None:
    # Faust asks `_highwaters(partitions)` during recovery; `_ensure_consumer` hands
    # over the aiokafka consumer the thread owns.
    base = faust_aiokafka.AIOKafkaConsumerThread._highwaters
    assert inspect.iscoroutinefunction(base)
    assert list(inspect.signature(base).parameters) == ["self", "partitions"]
    thread = worker.app.consumer._thread

    async def end_offsets(partitions: list[TP]) -> dict[TP, int]:
        return {tp: 42 for tp in partitions}

    thread._consumer = SimpleNamespace(end_offsets=end_offsets)
    assert asyncio.run(thread._highwaters([TOPIC_TP])) == {TOPIC_TP: 42}


def test_the_in_transaction_flag_makes_faust_read_committed(worker: Worker) -> None:
    async def isolation() -> str:
        consumer = worker.app.consumer._thread._create_consumer(loop=asyncio.get_running_loop())
        try:
            return consumer._isolation_level
        finally:
            await consumer.stop()

    assert asyncio.run(isolation()) == "read_committed"


def test_faust_starts_no_transaction_manager_of_its_own(worker: Worker) -> None:
    consumer = worker.app.consumer
    # With the flag set, Faust's own consumer would start its transaction manager.
    assert list(faust_aiokafka.Consumer.on_init_dependencies(consumer)) != []
    assert consumer.on_init_dependencies() == []


def test_unacked_messages_are_the_faust_consumers_own_set(worker: Worker) -> None:
    class Message:  # weak-referenceable, as Faust's messages are
        def __init__(self, tp: TP, acked: bool) -> None:
            self.tp, self.acked = tp, acked

    waiting, done = Message(TOPIC_TP, False), Message(TP("lead-events", 1), True)
    worker.app.consumer._unacked_messages.update([waiting, done])
    assert faust_adapter.unacked_partitions(worker.app) == {TOPIC_TP}


def test_the_livelock_check_reads_the_threads_last_commit_times(worker: Worker) -> None:
    before = time.monotonic()
    faust_adapter.note_committed(worker.app, [TOPIC_TP])
    assert worker.app.consumer._thread.tp_last_committed_at[TOPIC_TP] >= before


def test_a_rejoin_is_requested_on_the_consumer_threads_loop(worker: Worker) -> None:
    assert not inspect.signature(GroupCoordinator.request_rejoin).parameters.keys() - {"self"}
    thread = worker.app.consumer._thread
    assert hasattr(thread, "thread_loop")
    requested: list[bool] = []
    loop = asyncio.new_event_loop()
    try:
        thread.thread_loop = loop
        thread._consumer = SimpleNamespace(
            _coordinator=SimpleNamespace(request_rejoin=lambda: requested.append(True))
        )
        faust_adapter.request_rejoin(worker.app)
        loop.run_until_complete(asyncio.sleep(0))
    finally:
        loop.close()
    assert requested == [True]


def test_heartbeats_are_sent_by_the_coordinators_do_heartbeat() -> None:
    # watch_heartbeats wraps it (the broker-backed test checks the renewals).
    assert inspect.iscoroutinefunction(GroupCoordinator._do_heartbeat)
    assert list(inspect.signature(GroupCoordinator._do_heartbeat).parameters) == ["self"]


def test_our_clients_connect_as_fausts_consumer_does(worker: Worker) -> None:
    connection = faust_adapter.aiokafka_connection(worker.app, "restore")
    assert connection["bootstrap_servers"] == ["kafka-1:9092", "kafka-2:9093"]
    assert connection["security_protocol"] == "PLAINTEXT"
    assert connection["client_id"].endswith("-restore")


def test_the_rocksdb_store_opens_one_database_per_partition(tmp_path: Path) -> None:
    worker = create_worker(
        WorkerSettings(app_id="adapter-rocks", data_dir=tmp_path, store=StoreKind.ROCKSDB),
        Funnel(),
        6,
    )
    store = worker.app.tables["leads"].data
    db = faust_adapter.rocksdb_for_partition(store, 3)
    db[b"lead"] = b"state"
    assert faust_adapter.rocksdb_for_partition(store, 3)[b"lead"] == b"state"
    assert faust_adapter.rocksdb_for_partition(store, 4).get(b"lead") is None


def test_a_transactional_producer_reports_a_fatal_error_through_its_manager() -> None:
    async def fatal() -> Any:
        producer = AIOKafkaProducer(transactional_id="adapter-test")
        try:
            return faust_adapter.transaction_failed_fatally(producer)
        finally:
            await producer.stop()

    assert asyncio.run(fatal()) is False


def test_the_rocksdb_store_writes_each_key_into_its_computed_partition(tmp_path: Path) -> None:
    # Faust's `__setitem__` calls `_set`; `_key_index` is where its reads find the partition.
    worker = create_worker(
        WorkerSettings(app_id="adapter-placed", data_dir=tmp_path, store=StoreKind.ROCKSDB),
        Funnel(),
        6,
    )
    store = worker.app.tables["leads"].data
    key = b"lead-7"
    partition = store.partition_of(key)
    store[key] = b"state"
    assert store._key_index[key] == partition
    assert store.partition_db(partition)[key] == b"state"
    assert [number for number, _ in store.open_partition_dbs()] == [partition]
    (db,) = [db for _, db in store.open_partition_dbs()]
    assert list(store.visible_items(db)) == [(key, b"state")]


def test_the_memory_store_remembers_the_partition_of_each_key_it_holds(tmp_path: Path) -> None:
    # Faust's recovery fills `data` and records each key's partition beside it.
    worker = create_worker(WorkerSettings(app_id="adapter-memory", data_dir=tmp_path), Funnel(), 6)
    store = worker.app.tables["leads"].data
    changelog = TP("adapter-memory-leads-changelog", 2)
    message = SimpleNamespace(key=b"lead-1", value=b"state", partition=2, tp=changelog, offset=5)
    event = SimpleNamespace(key=b"lead-1", value=b"state", message=message)
    store.apply_changelog_batch([event], to_key=lambda key: key, to_value=lambda value: value)
    assert dict(store.data) == {b"lead-1": b"state"}
    assert store.key_partitions == {b"lead-1": 2}
    store.clear_all()
    assert dict(store.data) == {}
    assert store.key_partitions == {}
