"""Reading a changelog straight into memory, against the real broker."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from streams.restore import read_changelog

pytestmark = pytest.mark.kafka


async def _produce(
    bootstrap: str, topic: str, records: list[tuple[int, bytes, bytes | None]]
) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        for partition, key, value in records:
            await producer.send_and_wait(topic, value, key=key, partition=partition)
    finally:
        await producer.stop()


def _read(bootstrap: str, topic: str, partitions: list[int]) -> tuple[dict, dict[int, int]]:
    seen: dict[int, dict[bytes, bytes]] = {}

    def apply(partition: int, records: list[Any]) -> None:
        values = seen.setdefault(partition, {})
        for record in records:
            if record.value is None:
                values.pop(record.key, None)
            else:
                values[record.key] = record.value

    reached = asyncio.run(
        read_changelog({"bootstrap_servers": bootstrap}, topic, partitions, apply)
    )
    return seen, reached


def _topic(bootstrap: str, partitions: int) -> str:
    from kafka.admin import KafkaAdminClient, NewTopic

    name = f"restore-{uuid.uuid4().hex[:10]}"
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)])
    finally:
        admin.close()
    return name


def test_the_latest_value_of_each_key_wins_and_tombstones_remove_it(kafka_bootstrap: str) -> None:
    topic = _topic(kafka_bootstrap, 2)
    asyncio.run(
        _produce(
            kafka_bootstrap,
            topic,
            [
                (0, b"lead-a", b"v1"),
                (0, b"lead-b", b"v1"),
                (0, b"lead-a", b"v2"),
                (0, b"lead-b", None),
                (1, b"lead-c", b"v1"),
            ],
        )
    )
    seen, reached = _read(kafka_bootstrap, topic, [0, 1])
    assert seen == {0: {b"lead-a": b"v2"}, 1: {b"lead-c": b"v1"}}
    assert reached == {0: 4, 1: 1}  # the end offsets: after the last record


def test_only_the_requested_partitions_are_read(kafka_bootstrap: str) -> None:
    topic = _topic(kafka_bootstrap, 3)
    asyncio.run(
        _produce(kafka_bootstrap, topic, [(p, f"lead-{p}".encode(), b"v") for p in range(3)])
    )
    seen, reached = _read(kafka_bootstrap, topic, [2])
    assert seen == {2: {b"lead-2": b"v"}}
    assert reached == {2: 1}


def test_empty_partitions_report_an_end_of_zero(kafka_bootstrap: str) -> None:
    topic = _topic(kafka_bootstrap, 2)
    asyncio.run(_produce(kafka_bootstrap, topic, [(1, b"lead-x", b"v")]))
    seen, reached = _read(kafka_bootstrap, topic, [0, 1])
    assert seen == {1: {b"lead-x": b"v"}}
    assert reached == {0: 0, 1: 1}
