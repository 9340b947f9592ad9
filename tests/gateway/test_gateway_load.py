"""A bounded load run through the gateway, checked event by event against Kafka and replay.

Fifty concurrent clients post batches of 1-20 events on loopback for 15 s (or until
the event pool runs out), while two workers fold what arrives. Every event the
gateway acknowledged must be in Kafka exactly once, and the workers' summed metrics
must equal `replay` of the acknowledged events.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from pathlib import Path

import aiohttp
import orjson
import pytest

from devtools.generate import GeneratorSpec, generate_events
from streams.settings import WorkerSettings
from streams.topics import ensure_topics
from tests.gateway_support import GatewayProcess, make_tokens, read_topic
from tests.streaming import Deployment, converge, eventually

pytestmark = pytest.mark.kafka

CLIENTS = 50
SECONDS = 15.0
POOL = 40_000  # events; the run ends early if the gateway outruns it
MAX_BATCH = 20


async def load(url: str, token: str, pool: list[bytes]) -> list[tuple[int, list[bytes]]]:
    """(status, events) of every request the clients made."""
    rng = random.Random(5)
    chunks: list[list[bytes]] = []
    start = 0
    while start < len(pool):
        size = rng.randint(1, MAX_BATCH)
        chunks.append(pool[start : start + size])
        start += size
    queue = iter(chunks)
    outcomes: list[tuple[int, list[bytes]]] = []
    deadline = time.monotonic() + SECONDS
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    async def client(session: aiohttp.ClientSession) -> None:
        while time.monotonic() < deadline and (chunk := next(queue, None)) is not None:
            body = b"[" + b",".join(chunk) + b"]"
            async with session.post(url, data=body, headers=headers) as response:
                await response.read()
                outcomes.append((response.status, chunk))

    timeout = aiohttp.ClientTimeout(total=60)
    connector = aiohttp.TCPConnector(limit=CLIENTS)
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
        await asyncio.gather(*(client(session) for _ in range(CLIENTS)))
    return outcomes


def test_fifty_clients_every_acknowledged_event_in_kafka_once_and_workers_equal_replay(
    deployment: Deployment, tmp_path: Path
) -> None:
    settings = WorkerSettings(
        kafka_bootstrap=deployment.bootstrap,
        topic=deployment.topic,
        dlq_topic=deployment.dlq_topic,
        app_id=deployment.name,
    )
    ensure_topics(settings)
    pool = [orjson.dumps(e) for e in generate_events(GeneratorSpec(seed=21, events=POOL))]
    assert len(set(pool)) == len(pool)
    tokens = make_tokens("load")
    gateway = GatewayProcess(
        deployment.bootstrap,
        deployment.topic,
        tmp_path / "gateway",
        tokens,
        settings={
            "LEADFLOW_GATEWAY_RATE_LIMIT": "100000/second",
            "LEADFLOW_GATEWAY_KAFKA_TIMEOUT": "30s",
        },
    ).start()
    workers = [deployment.worker(name).start(wait=False) for name in ("a", "b")]
    try:
        url = f"http://127.0.0.1:{gateway.port}/v1/events"
        outcomes = asyncio.run(load(url, tokens["load"], pool))
        for worker in workers:
            eventually(lambda w=worker: "leadflow_ready 1.0" in w.scrape_text(), timeout=90)
        acknowledged = [event for status, chunk in outcomes if status < 300 for event in chunk]
        acked_file = tmp_path / "acknowledged.jsonl"
        acked_file.write_bytes(b"".join(event + b"\n" for event in acknowledged))
        in_kafka = [record.value for record in read_topic(deployment.bootstrap, deployment.topic)]
        difference = converge(workers, acked_file, timeout=120)
    finally:
        gateway.stop()

    assert Counter(status for status, _ in outcomes) == {202: len(outcomes)}
    assert len(acknowledged) > 2_000
    assert Counter(in_kafka) == Counter(acknowledged)
    assert difference == {}
