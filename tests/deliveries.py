"""Messages as Faust delivers them to an agent, for staging batches without Kafka."""

from __future__ import annotations

from dataclasses import dataclass

from faust.types import TP

from streams.partitioning import lead_partition


@dataclass
class Message:
    topic: str
    partition: int
    offset: int
    value: bytes
    key: bytes | None = None
    timestamp: float | None = None

    @property
    def tp(self) -> TP:
        return TP(self.topic, self.partition)


@dataclass
class Delivered:
    message: Message


def lead_on(partition: int, partitions: int = 6) -> str:
    """A lead id that Kafka's default partitioner puts on `partition`."""
    return next(f"L{n}" for n in range(10_000) if lead_partition(f"L{n}", partitions) == partition)
