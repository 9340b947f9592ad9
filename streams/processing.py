"""What the worker does with a batch of Kafka messages, without doing any I/O.

A batch is decoded, folded into the owning partition's ledger and *staged* in the
outbox: dead letters, forwards to the by-lead topic, the leads whose state changed
and the input offsets consumed. Nothing reaches Kafka here; the committer
(`streams.transactions`) sends a unit's staged output in one transaction. Staging
is synchronous on purpose: the committer cannot take a snapshot halfway through a
batch, so the offsets it commits always match the state it writes.
"""

from __future__ import annotations

import logging
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from events import Event, EventType, Rejection, Vocabulary, decode
from events.batch import split_batch
from projections.funnel import OTHER_SOURCE
from streams.deadletter import Origin, dead_letter_headers
from streams.ledgers import PartitionLedgers
from streams.outbox import Outbox, OutRecord, Pending, Unit, ingest_unit, lead_unit
from streams.partitioning import lead_partition
from streams.progress import Progress
from streams.topics import TopicPlan

log = logging.getLogger("leadflow.worker")

# A dead letter keeps the original bytes; beyond this it keeps their start, with the
# original length in a header: with its headers it must fit Kafka's default 1 MiB
# record limit, or the broker would refuse the whole transaction, again and again.
MAX_DEAD_LETTER_BYTES = 1_000_000
TRUNCATED = "leadflow-truncated-from"


class Message(Protocol):
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp: float | None

    @property
    def tp(self) -> Any: ...


class HasMessage(Protocol):
    @property
    def message(self) -> Message: ...


@dataclass
class BatchStats:
    skipped: int = 0  # messages of partitions this worker no longer owns
    dead_lettered: Counter[str] = field(default_factory=Counter)
    first_rejection: str | None = None  # an example for the log line
    unlisted_sources: int = 0  # lead.created events whose source is counted as `other`


class BatchProcessor:
    def __init__(
        self,
        *,
        topics: TopicPlan,
        vocabulary: Vocabulary,
        ledgers: PartitionLedgers,
        outbox: Outbox,
        progress: Progress,
        events_copartitioned: bool,
        observe_latency: Callable[[float], None] = lambda seconds: None,
        source_label: Callable[[str], str] = lambda source: source,
        on_folded: Callable[[int, list[str]], None] = lambda partition, leads: None,
    ) -> None:
        self.topics = topics
        self.vocabulary = vocabulary
        self.ledgers = ledgers
        self.outbox = outbox
        self.progress = progress
        self.copartitioned = events_copartitioned
        self._observe_latency = observe_latency
        self._source_label = source_label
        self._on_folded = on_folded  # the milestone poster's index of leads to watch
        # A few producer-supplied sources counted under `other`, for /status.
        self.unlisted_sources: dict[str, int] = {}

    def unit_for(self, topic: str, partition: int) -> Unit:
        if topic == self.topics.by_lead or self.copartitioned:
            return lead_unit(partition)
        return ingest_unit(partition)

    def _owned(self, message: Message, stats: BatchStats) -> Pending | None:
        """Where `message`'s output is staged; None (and counted) if not ours now."""
        unit = self.unit_for(message.topic, message.partition)
        pending = self.outbox.get(unit)
        # A lead unit acquired but not yet restored has no ledger to fold into.
        if pending is None or (unit.kind == "lead" and self.ledgers.get(unit.partition) is None):
            stats.skipped += 1
            return None
        return pending

    def _owned_messages(
        self, events: Sequence[HasMessage], stats: BatchStats
    ) -> Iterator[tuple[Message, Pending]]:
        for event in events:
            pending = self._owned(event.message, stats)
            if pending is not None:
                yield event.message, pending

    def stage_ingest(self, events: Sequence[HasMessage], now: int) -> BatchStats:
        """Messages from the events topic: decode, fold what lives here, stage the rest."""
        stats = BatchStats()
        local: dict[int, list[Event]] = defaultdict(list)
        for message, pending in self._owned_messages(events, stats):
            value = message.value or b""
            elements = split_batch(value)
            parts = [value] if elements is None else elements
            here = self.ledgers.get(message.partition) if self.copartitioned else None
            # A lead already in this partition's ledger lives here by construction;
            # only a lead's first event pays for hashing its id (pure-Python murmur2).
            known = here.leads if here is not None else {}
            for index, part in enumerate(parts):
                decoded = decode(part, self.vocabulary, now)
                if isinstance(decoded, Rejection):
                    self._dead_letter(pending, message, part, decoded, elements, index, stats)
                    continue
                if decoded.lead_id in known:
                    local[message.partition].append(decoded)
                    continue
                partition = lead_partition(decoded.lead_id, self.topics.partitions)
                if self.copartitioned and partition == message.partition:
                    local[partition].append(decoded)
                else:
                    pending.records.append(
                        OutRecord(self.topics.by_lead, partition, decoded.lead_id.encode(), part)
                    )
                    pending.forwarded += 1
            pending.offsets[message.tp] = message.offset + 1
        self._fold(local, stats)
        self._mark(events)
        return stats

    def stage_forwarded(self, events: Sequence[HasMessage], now: int) -> BatchStats:
        """Messages from the by-lead topic: already on their lead's partition."""
        stats = BatchStats()
        local: dict[int, list[Event]] = defaultdict(list)
        for message, pending in self._owned_messages(events, stats):
            raw = message.value or b""
            decoded = decode(raw, self.vocabulary, now)
            if isinstance(decoded, Rejection):  # only if the config changed in between
                self._dead_letter(pending, message, raw, decoded, None, 0, stats)
            else:
                local[message.partition].append(decoded)
            pending.offsets[message.tp] = message.offset + 1
        self._fold(local, stats)
        self._mark(events)
        return stats

    def _fold(self, local: dict[int, list[Event]], stats: BatchStats) -> None:
        for partition, events in local.items():
            stats.unlisted_sources += self._note_unlisted(events)
            ledger = self.ledgers.get(partition)
            pending = self.outbox.get(lead_unit(partition))
            if ledger is None or pending is None:  # cannot happen: checked per message
                raise RuntimeError(f"partition {partition} folded without an owner")
            result = ledger.apply(events)
            pending.dirty.update(result.touched)
            self._on_folded(partition, result.touched)
            pending.processed.update(result.processed)
            pending.duplicates.update(result.duplicates)

    def _note_unlisted(self, events: list[Event]) -> int:
        count = 0
        for event in events:
            source = event.source
            if source is None or event.type is not EventType.LEAD_CREATED:
                continue
            if self._source_label(source) == OTHER_SOURCE:
                count += 1
                if source in self.unlisted_sources or len(self.unlisted_sources) < 20:
                    self.unlisted_sources[source] = self.unlisted_sources.get(source, 0) + 1
        return count

    def _mark(self, events: Sequence[HasMessage]) -> None:
        folded_at = time.time()
        for event in events:
            message = event.message
            self.progress.advance(message.tp, message.offset + 1)
            if message.timestamp:
                self._observe_latency(max(0.0, folded_at - message.timestamp))

    def _dead_letter(
        self,
        pending: Pending,
        message: Message,
        raw: bytes,
        rejection: Rejection,
        elements: list[bytes] | None,
        index: int,
        stats: BatchStats,
    ) -> None:
        origin = Origin(
            message.topic, message.partition, message.offset, None if elements is None else index
        )
        headers = dead_letter_headers(rejection, origin)
        if len(raw) > MAX_DEAD_LETTER_BYTES:
            headers.append((TRUNCATED, str(len(raw)).encode()))
            raw = raw[:MAX_DEAD_LETTER_BYTES]
        pending.records.append(
            OutRecord(self.topics.dead_letters, 0, message.key, raw, tuple(headers))
        )
        pending.dead_lettered[str(rejection.reason)] += 1
        stats.dead_lettered[str(rejection.reason)] += 1
        if stats.first_rejection is None:
            stats.first_rejection = f"{origin}: {rejection}"
        # One line per dead letter would make a burst of garbage a burst of logging.
        log.debug("dead-lettered %s: %s", origin, rejection)
