"""Dead-letter records: the original bytes plus why and where they came from."""

from __future__ import annotations

from dataclasses import dataclass

from events import Rejection

REASON = "leadflow-reason"
DETAIL = "leadflow-detail"
SOURCE_TOPIC = "leadflow-source-topic"
SOURCE_PARTITION = "leadflow-source-partition"
SOURCE_OFFSET = "leadflow-source-offset"
_MAX_DETAIL = 1000


@dataclass(frozen=True)
class Origin:
    topic: str
    partition: int
    offset: int


def dead_letter_headers(rejection: Rejection, origin: Origin) -> list[tuple[str, bytes]]:
    return [
        (REASON, str(rejection.reason).encode()),
        (DETAIL, rejection.detail[:_MAX_DETAIL].encode("utf-8", "replace")),
        (SOURCE_TOPIC, origin.topic.encode()),
        (SOURCE_PARTITION, str(origin.partition).encode()),
        (SOURCE_OFFSET, str(origin.offset).encode()),
    ]
