"""A broker outage behind the gateway: 503 with Retry-After, never a 2xx, nothing lost.

The broker here is a dedicated one, stopped and restarted on its data directory,
so the session's shared broker is never touched.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from devtools.broker import LocalKafka
from tests.gateway.test_gateway import created, mql, new_topic
from tests.gateway_support import GatewayProcess, Reply, make_tokens, read_topic

pytestmark = pytest.mark.kafka


def resend_until_accepted(gateway: GatewayProcess, events: list, token: str) -> list[Reply]:
    """What a well-behaved client does: resend after Retry-After until a 2xx (bounded)."""
    replies = []
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        reply = gateway.post(events, token)
        replies.append(reply)
        if reply.status < 300:
            return replies
        assert reply.status == 503, reply
        time.sleep(int(reply.headers["Retry-After"]))
    raise AssertionError(f"not accepted within 90 s: {replies[-1]}")


def test_a_stopped_broker_answers_503_and_no_acknowledged_event_is_lost(tmp_path: Path) -> None:
    data_dir = tmp_path / "kafka"
    broker = LocalKafka(data_dir=data_dir).start()
    port = broker.port
    tokens = make_tokens("crm")
    gateway = GatewayProcess(
        broker.bootstrap,
        new_topic(broker.bootstrap),
        tmp_path / "gateway",
        tokens,
        settings={"LEADFLOW_GATEWAY_KAFKA_TIMEOUT": "3s", "LEADFLOW_GATEWAY_RETRY_AFTER": "2s"},
    ).start()
    token = tokens["crm"]
    try:
        before = gateway.post([created("out1"), created("out2")], token)
        broker.stop()
        asked = time.monotonic()
        during = gateway.post([created("out3"), mql("out1")], token)
        answered_in = time.monotonic() - asked
        not_ready = gateway.get("/readyz")
        broker = LocalKafka(port=port, data_dir=data_dir).start()
        resent = resend_until_accepted(gateway, [created("out3"), mql("out1")], token)
        after = gateway.post([created("out4")], token)
        records = read_topic(broker.bootstrap, gateway.topic)
    finally:
        gateway.stop()
        broker.stop()

    assert before.status == 202
    assert during.status == 503
    assert during.headers["Retry-After"] == "2"
    assert during.body["error"] == "kafka-unavailable"
    assert answered_in < 10
    assert not_ready.status == 503
    assert not_ready.body["ready"] is False
    assert resent[-1].status == 202
    assert after.status == 202
    ids = [json.loads(record.value)["event_id"] for record in records]
    # Acknowledged once, without a 503 before: in Kafka exactly once.
    for event_id in ("out1-created", "out2-created", "out4-created"):
        assert ids.count(event_id) == 1, event_id
    # Refused with a 503, then resent until acknowledged: in Kafka at least once.
    for event_id in ("out3-created", "out1-mql"):
        assert ids.count(event_id) >= 1, event_id
