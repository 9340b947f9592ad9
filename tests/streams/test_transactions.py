"""Kafka transactions per unit, against the real broker: the stale owner loses."""

from __future__ import annotations

import asyncio
import uuid
from types import SimpleNamespace
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from faust.types import TP
from kafka.admin import KafkaAdminClient, NewTopic

from streams import faust_adapter
from streams.outbox import Outbox, OutRecord, lead_unit
from streams.restore import read_changelog
from streams.transactions import Committed, Transactions

pytestmark = pytest.mark.kafka


def _topics(bootstrap: str, *names: str) -> None:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        admin.create_topics([NewTopic(name, 1, 1) for name in names])
    finally:
        admin.close()


async def _group_offset(bootstrap: str, group: str, topic: str) -> int | None:
    """The offset the consumer group has committed for partition 0 of `topic`."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group)
    await consumer.start()
    try:
        return await consumer.committed(TopicPartition(topic, 0))
    finally:
        await consumer.stop()


def _owner(bootstrap: str, app: str, changelog: str, lost: list[Any]) -> Transactions:
    async def on_lost(unit: Any, error: BaseException) -> None:
        lost.append((unit, type(error).__name__))

    outbox = Outbox()
    return Transactions(
        connection={"bootstrap_servers": bootstrap},
        app_id=app,
        group_id=f"{app}-group",
        changelog_topic=changelog,
        outbox=outbox,
        encode_states=lambda unit, dirty: [
            (lead.encode(), b"state-" + lead.encode()) for lead in sorted(dirty)
        ],
        on_committed=lambda done: None,
        on_lost=on_lost,
    )


async def _committed_values(bootstrap: str, topic: str) -> list[bytes]:
    values: list[bytes] = []
    await read_changelog(
        {"bootstrap_servers": bootstrap},
        topic,
        [0],
        lambda partition, records: values.extend(r.value for r in records),
    )
    return values


def test_a_woken_stale_owner_is_fenced_and_nothing_it_wrote_is_ever_read(
    kafka_bootstrap: str,
) -> None:
    app = f"tx{uuid.uuid4().hex[:8]}"
    changelog, dlq = f"{app}-changelog", f"{app}-dlq"
    _topics(kafka_bootstrap, changelog, dlq, f"{app}-events")
    unit = lead_unit(0)

    async def scenario() -> tuple[list[Any], list[Any], list[bytes], int | None]:
        lost_old: list[Any] = []
        lost_new: list[Any] = []
        old = _owner(kafka_bootstrap, app, changelog, lost_old)
        new = _owner(kafka_bootstrap, app, changelog, lost_new)
        await old.acquire([unit])
        old.outbox.get(unit).dirty.add("L1")  # type: ignore[union-attr]
        assert await old.commit(unit)
        # The old owner stages more, then "sleeps"; the new owner takes the partition.
        stale = old.outbox.get(unit)
        assert stale is not None
        stale.dirty.add("L2")
        stale.records.append(OutRecord(dlq, 0, None, b"stale dead letter"))
        stale.offsets[TP(f"{app}-events", 0)] = 99
        await new.acquire([unit])
        assert not await old.commit(unit)  # woken: fenced, output dropped
        new.outbox.get(unit).dirty.add("L3")  # type: ignore[union-attr]
        assert await new.commit(unit)
        values = await _committed_values(kafka_bootstrap, changelog)
        offset = await _group_offset(kafka_bootstrap, f"{app}-group", f"{app}-events")
        dead = await _committed_values(kafka_bootstrap, dlq)
        await new.release([unit], commit=False, timeout=0)
        return lost_old, lost_new, values + dead, offset

    lost_old, lost_new, values, offset = asyncio.run(scenario())
    # Fenced mid-transaction, the old producer fails the commit with ProducerFenced, or,
    # when the broker's fence reached its sender first, its transaction has already
    # ended and the next send is refused (IllegalOperation) and so is the abort: the
    # unit is given up either way, which is what the rest of this test checks.
    [(lost_unit, cause)] = lost_old
    assert lost_unit == unit
    assert cause in {"ProducerFenced", "IllegalOperation"}
    assert lost_new == []
    assert values == [b"state-L1", b"state-L3"]
    assert offset is None  # the stale owner's offsets never reached the group


def test_a_transaction_carries_state_records_and_offsets_together(kafka_bootstrap: str) -> None:
    app = f"tx{uuid.uuid4().hex[:8]}"
    changelog, forwards = f"{app}-changelog", f"{app}-by-lead"
    _topics(kafka_bootstrap, changelog, forwards, f"{app}-events")
    unit = lead_unit(0)
    done: list[Committed] = []

    async def scenario() -> tuple[list[bytes], list[bytes], int | None]:
        owner = _owner(kafka_bootstrap, app, changelog, [])
        owner._on_committed = done.append
        await owner.acquire([unit])
        pending = owner.outbox.get(unit)
        assert pending is not None
        pending.dirty.update({"L1", "L2"})
        pending.records.append(OutRecord(forwards, 0, b"L9", b"forwarded"))
        pending.offsets[TP(f"{app}-events", 0)] = 17
        await owner.commit(unit)
        await owner.release([unit], commit=False, timeout=0)
        offset = await _group_offset(kafka_bootstrap, f"{app}-group", f"{app}-events")
        return (
            await _committed_values(kafka_bootstrap, changelog),
            await _committed_values(kafka_bootstrap, forwards),
            offset,
        )

    states, forwarded, offset = asyncio.run(scenario())
    assert states == [b"state-L1", b"state-L2"]
    assert forwarded == [b"forwarded"]
    assert offset == 17
    assert done[0].changelog_last_offset == 1


def test_the_fetch_position_passes_trailing_transaction_markers(kafka_bootstrap: str) -> None:
    """Lag relies on it: a transactional topic's last offset is a marker, never delivered."""
    topic = f"tx{uuid.uuid4().hex[:8]}"
    _topics(kafka_bootstrap, topic)
    tp = TopicPartition(topic, 0)

    async def scenario() -> tuple[int | None, int | None, int]:
        producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, transactional_id=topic)
        await producer.start()
        for value in (b"a", b"b"):
            async with producer.transaction():
                await producer.send_and_wait(topic, value, partition=0)
        await producer.stop()
        consumer = AIOKafkaConsumer(
            bootstrap_servers=kafka_bootstrap,
            isolation_level="read_committed",
            auto_offset_reset="earliest",
        )
        await consumer.start()
        consumer.assign([tp])
        records: list[Any] = []
        while len(records) < 2:
            records.extend((await consumer.getmany(tp, timeout_ms=2000)).get(tp, []))
        await consumer.getmany(tp, timeout_ms=500)
        app = SimpleNamespace(consumer=SimpleNamespace(_thread=SimpleNamespace(_consumer=consumer)))
        found = (
            faust_adapter.fetch_position(app, TP(topic, 0)),
            faust_adapter.last_stable_offset(app, TP(topic, 0)),
        )
        await consumer.stop()
        return (*found, records[-1].offset)

    position, stable_end, last_record = asyncio.run(scenario())
    assert last_record == 2  # a (0), marker (1), b (2), marker (3)
    assert position == stable_end == 4


def test_accepted_heartbeats_renew_with_their_send_time(kafka_bootstrap: str) -> None:
    topic = f"hb{uuid.uuid4().hex[:8]}"
    _topics(kafka_bootstrap, topic)

    async def scenario() -> list[float]:
        consumer = AIOKafkaConsumer(
            topic,
            bootstrap_servers=kafka_bootstrap,
            group_id=topic,
            heartbeat_interval_ms=300,
            session_timeout_ms=6000,
        )
        await consumer.start()
        app = SimpleNamespace(consumer=SimpleNamespace(_thread=SimpleNamespace(_consumer=consumer)))
        renewed: list[float] = []
        assert faust_adapter.watch_heartbeats(app, renewed.append)
        await consumer.getmany(timeout_ms=100)
        for _ in range(50):
            if len(renewed) >= 2:
                break
            await asyncio.sleep(0.2)
        await consumer.stop()
        return renewed

    renewed = asyncio.run(scenario())
    assert len(renewed) >= 2
    assert renewed == sorted(renewed)


def test_faust_resolves_the_leadflow_transport_and_it_never_commits() -> None:
    from faust.transport.drivers import by_url

    faust_adapter.register()
    transport = by_url("leadkafka://localhost:9092")
    assert transport is faust_adapter.LeadflowTransport
    assert transport.Consumer is faust_adapter.LeadflowConsumer
    consumer = object.__new__(faust_adapter.LeadflowConsumer)
    assert asyncio.run(consumer.force_commit()) is False
