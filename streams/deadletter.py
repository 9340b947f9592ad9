"""Dead-letter records: the original bytes plus why and where they came from."""

from __future__ import annotations

from dataclasses import dataclass

from events import Rejection

REASON = "leadflow-reason"
DETAIL = "leadflow-detail"
SOURCE_TOPIC = "leadflow-source-topic"
SOURCE_PARTITION = "leadflow-source-partition"
SOURCE_OFFSET = "leadflow-source-offset"
BATCH_INDEX = "leadflow-batch-index"  # position in a bulk message, when it was one
_MAX_DETAIL = 1000


@dataclass(frozen=True)
class Origin:
    topic: str
    partition: int
    offset: int
    batch_index: int | None = None

    def __str__(self) -> str:
        where = f"{self.topic}@{self.partition}:{self.offset}"
        return where if self.batch_index is None else f"{where}[{self.batch_index}]"


def dead_letter_headers(rejection: Rejection, origin: Origin) -> list[tuple[str, bytes]]:
    headers = [
        (REASON, str(rejection.reason).encode()),
        (DETAIL, rejection.detail[:_MAX_DETAIL].encode("utf-8", "replace")),
        (SOURCE_TOPIC, origin.topic.encode()),
        (SOURCE_PARTITION, str(origin.partition).encode()),
        (SOURCE_OFFSET, str(origin.offset).encode()),
    ]
    if origin.batch_index is not None:
        headers.append((BATCH_INDEX, str(origin.batch_index).encode()))
    return headers
