"""Accepted events onto the events topic, answered only once Kafka has them all.

The producer is idempotent with acks=all, and each event is keyed by its lead, so
Kafka's default partitioner puts it on its lead's partition, where the workers
fold it without a forward. If any event of a request is not acknowledged within
the timeout, the whole request fails; some of its events may still have reached
Kafka, which is harmless because a resent event_id changes nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from gateway.intake import Checked
from streams.kafka_clients import aiokafka_security
from streams.settings import KafkaSettings

TOKEN_HEADER = "leadflow-gateway-token"  # the sending token's name, never the token

# Kafka brokers refuse records above message.max.bytes (1 MiB by default); a larger
# event is the client's error, not an outage, so it is refused before sending.
MAX_EVENT_BYTES = 1_000_000


class KafkaUnavailable(Exception):
    """Kafka did not acknowledge every event of a request in time."""


def create_producer(settings: KafkaSettings) -> AIOKafkaProducer:
    return AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap.split(","),
        client_id="leadflow-gateway",
        acks="all",
        enable_idempotence=True,
        # A few ms of lingering lets concurrent requests share a produce request.
        linger_ms=5,
        max_batch_size=256 * 1024,
        max_request_size=2 * 1024 * 1024,
        request_timeout_ms=30_000,
        **aiokafka_security(settings),
    )


class Publisher:
    def __init__(self, producer: AIOKafkaProducer, topic: str, timeout: float) -> None:
        self.producer, self.topic, self.timeout = producer, topic, timeout

    async def publish(self, events: Sequence[Checked], token_name: str) -> None:
        """Return once Kafka has acknowledged every event; else raise KafkaUnavailable."""
        headers = [(TOKEN_HEADER, token_name.encode())]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout
        futures: list[asyncio.Future[Any]] = []
        try:
            # Cancelling a send() that waits for metadata or buffer space drops its
            # event; sends already queued go on, and their futures are awaited below.
            async with asyncio.timeout_at(deadline):
                for item in events:
                    assert item.event is not None
                    future = await self.producer.send(
                        self.topic, item.raw, key=item.event.lead_id.encode(), headers=headers
                    )
                    future.add_done_callback(_retrieve)
                    futures.append(future)
        except TimeoutError:
            raise KafkaUnavailable(f"Kafka took no events within {self.timeout:g}s") from None
        except KafkaError as error:
            raise KafkaUnavailable(f"Kafka refused the events: {error}") from error
        # Not asyncio.wait_for: cancelling these futures would not unsend anything.
        done, pending = await asyncio.wait(futures, timeout=max(0.0, deadline - loop.time()))
        if pending:
            raise KafkaUnavailable(
                f"Kafka acknowledged {len(done)} of {len(futures)} events within {self.timeout:g}s"
            )
        for future in done:
            if (error := future.exception()) is not None:
                raise KafkaUnavailable(f"Kafka refused an event: {error}") from error

    async def reachable(self, timeout: float) -> str | None:
        """None if the broker answers a metadata request listing our topic; else why not."""
        try:
            metadata = await asyncio.wait_for(self.producer.client.fetch_all_metadata(), timeout)
        except TimeoutError:
            return f"no metadata from Kafka within {timeout:g}s"
        except KafkaError as error:
            return f"no metadata from Kafka: {error}"
        if self.topic not in metadata.topics():
            return f"topic {self.topic} does not exist"
        return None


def _retrieve(future: asyncio.Future[Any]) -> None:
    # A request that gave up still leaves its futures behind; reading their outcome
    # keeps asyncio from logging "exception was never retrieved" for each.
    if not future.cancelled():
        future.exception()
