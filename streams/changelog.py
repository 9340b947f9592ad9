"""Writing lead state to the table's changelog topic in record batches.

Faust's table API produces one record at a time through its own buffer, at tens
of microseconds each; a batch of events touches hundreds of leads. Appending to
aiokafka record batches through Faust's *own* producer costs a few microseconds a
record and keeps the guarantee that matters: Faust flushes that producer before
it commits offsets, so state is durable before the events that made it are
acknowledged. Faust still owns the topic and reads it back on recovery.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


class ChangelogWriter:
    def __init__(self, app: Any, topic: str) -> None:
        self._app = app
        self.topic = topic
        self.records = 0

    async def write(self, partition: int, records: Iterable[tuple[bytes, bytes]]) -> None:
        producer = self._app.producer._ensure_producer()  # the aiokafka producer Faust flushes
        batch = producer.create_batch()
        for key, value in records:
            if batch.append(key=key, value=value, timestamp=None) is None:
                await producer.send_batch(batch, self.topic, partition=partition)
                batch = producer.create_batch()
                batch.append(key=key, value=value, timestamp=None)
            self.records += 1
        if batch.record_count():
            await producer.send_batch(batch, self.topic, partition=partition)
