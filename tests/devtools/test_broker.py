"""The project's local Kafka broker: config rendering, and a real round trip."""

from __future__ import annotations

import base64
import uuid
from pathlib import Path

import pytest

from devtools.broker import random_cluster_id, render_server_properties


def _parse(text: str) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in text.splitlines() if line and line[0] != "#")
    return {key: value for key, value in pairs}


def test_server_properties_single_node_kraft() -> None:
    props = _parse(render_server_properties(9092, 9093, Path("/data/kafka"), partitions=4))

    assert props["process.roles"] == "broker,controller"
    assert props["node.id"] == "1"
    assert props["controller.quorum.voters"] == "1@127.0.0.1:9093"
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093"
    assert props["advertised.listeners"] == "PLAINTEXT://127.0.0.1:9092"
    assert props["controller.listener.names"] == "CONTROLLER"
    assert props["log.dirs"] == "/data/kafka"
    assert props["num.partitions"] == "4"
    assert props["auto.create.topics.enable"] == "true"
    assert props["group.initial.rebalance.delay.ms"] == "0"
    for key in (
        "offsets.topic.replication.factor",
        "transaction.state.log.replication.factor",
        "transaction.state.log.min.isr",
    ):
        assert props[key] == "1", key


def test_cluster_id_is_kafka_uuid_shaped() -> None:
    cid = random_cluster_id()
    assert len(cid) == 22
    assert not cid.startswith("-")
    assert uuid.UUID(bytes=base64.urlsafe_b64decode(cid + "=="))


@pytest.mark.kafka
def test_produce_and_consume_round_trip(kafka_bootstrap: str) -> None:
    from kafka import KafkaConsumer, KafkaProducer

    topic = f"test-broker-{uuid.uuid4().hex[:8]}"
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap)
    try:
        producer.send(topic, key=b"lead-1", value=b'{"stage": "mql"}').get(timeout=30)
    finally:
        producer.close()

    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=kafka_bootstrap,
        group_id=f"{topic}-reader",
        auto_offset_reset="earliest",
        consumer_timeout_ms=20_000,
    )
    try:
        message = next(consumer, None)  # None if nothing arrives within consumer_timeout_ms
    finally:
        consumer.close()

    assert message is not None, f"nothing consumed from {topic} on {kafka_bootstrap}"
    assert (message.key, message.value) == (b"lead-1", b'{"stage": "mql"}')
