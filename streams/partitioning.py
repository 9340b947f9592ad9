"""Which partition a lead lives on: Kafka's default partitioner applied to its id.

The same function places the lead's state (the table's changelog partition), so
events keyed otherwise are forwarded to this partition before they touch state.
"""

from __future__ import annotations

from aiokafka.partitioner import murmur2


def lead_partition(lead_id: str, partitions: int) -> int:
    return (murmur2(lead_id.encode()) & 0x7FFFFFFF) % partitions
