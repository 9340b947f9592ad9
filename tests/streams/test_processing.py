"""A batch, staged without Kafka: what it folds, forwards, dead-letters and commits."""

from __future__ import annotations

from faust.types import TP

from events import to_micros
from projections import Funnel
from streams import deadletter
from streams.ledgers import PartitionLedgers
from streams.outbox import Outbox, ingest_unit, lead_unit
from streams.processing import MAX_DEAD_LETTER_BYTES, TRUNCATED, BatchProcessor
from streams.progress import Progress
from streams.topics import TopicPlan
from tests.builders import CLOCK, event
from tests.deliveries import Delivered, Message, lead_on

TOPICS = TopicPlan(events="ev", by_lead="app-by-lead", dead_letters="dlq", partitions=6)
NOW = to_micros(CLOCK)


def processor(owned: set[int], copartitioned: bool = True) -> BatchProcessor:
    funnel = Funnel()
    ledgers = PartitionLedgers(funnel, 6)
    outbox = Outbox()
    for partition in owned:
        outbox.open(lead_unit(partition))
    ledgers.assign(owned, [])
    return BatchProcessor(
        topics=TOPICS,
        vocabulary=funnel.vocabulary,
        ledgers=ledgers,
        outbox=outbox,
        progress=Progress(),
        events_copartitioned=copartitioned,
    )


def created(lead: str) -> bytes:
    return event("lead.created", lead, "2026-03-02T10:00:00Z", source="organic")


def test_an_event_on_its_leads_partition_is_folded_and_its_state_and_offset_staged() -> None:
    batch = processor({2})
    lead = lead_on(2)
    batch.stage_ingest([Delivered(Message("ev", 2, 41, created(lead)))], NOW)
    pending = batch.outbox.get(lead_unit(2))
    assert pending is not None
    assert pending.dirty == {lead}
    assert pending.offsets == {TP("ev", 2): 42}
    assert pending.processed == {"lead.created": 1}
    assert lead in batch.ledgers.get(2).leads  # type: ignore[union-attr]


def test_an_event_of_another_leads_partition_is_forwarded_keyed_by_lead() -> None:
    batch = processor({2})
    lead = lead_on(4)
    batch.stage_ingest([Delivered(Message("ev", 2, 7, created(lead)))], NOW)
    pending = batch.outbox.get(lead_unit(2))
    assert pending is not None
    [record] = pending.records
    assert (record.topic, record.partition, record.key) == ("app-by-lead", 4, lead.encode())
    assert record.value == created(lead)
    assert pending.dirty == set()
    assert pending.offsets == {TP("ev", 2): 8}


def test_messages_of_a_partition_this_worker_does_not_own_are_skipped_and_not_committed() -> None:
    batch = processor({2})
    stats = batch.stage_ingest([Delivered(Message("ev", 3, 5, created(lead_on(3))))], NOW)
    assert stats.skipped == 1
    assert batch.outbox.get(lead_unit(3)) is None
    assert batch.outbox.get(lead_unit(2)).empty  # type: ignore[union-attr]


def test_a_bad_message_is_staged_as_a_dead_letter_with_its_reason_and_origin() -> None:
    batch = processor({1})
    batch.stage_ingest([Delivered(Message("ev", 1, 9, b"{not json", key=b"k"))], NOW)
    pending = batch.outbox.get(lead_unit(1))
    assert pending is not None
    [record] = pending.records
    headers = dict(record.headers)
    assert (record.topic, record.key, record.value) == ("dlq", b"k", b"{not json")
    assert headers[deadletter.REASON] == b"not-json"
    assert headers[deadletter.SOURCE_OFFSET] == b"9"
    assert pending.dead_lettered == {"not-json": 1}
    assert pending.offsets == {TP("ev", 1): 10}


def test_an_oversized_dead_letter_keeps_its_start_and_says_how_long_it_was() -> None:
    batch = processor({1})
    huge = b"x" * (MAX_DEAD_LETTER_BYTES + 10)
    batch.stage_ingest([Delivered(Message("ev", 1, 0, huge))], NOW)
    [record] = batch.outbox.get(lead_unit(1)).records  # type: ignore[union-attr]
    assert len(record.value) == MAX_DEAD_LETTER_BYTES
    assert dict(record.headers)[TRUNCATED] == str(len(huge)).encode()


def test_forwarded_events_are_folded_on_the_by_lead_partition() -> None:
    batch = processor({4})
    lead = lead_on(4)
    batch.stage_forwarded([Delivered(Message("app-by-lead", 4, 3, created(lead)))], NOW)
    pending = batch.outbox.get(lead_unit(4))
    assert pending is not None
    assert pending.dirty == {lead}
    assert pending.offsets == {TP("app-by-lead", 4): 4}


def test_a_topic_with_another_partition_count_stages_under_an_ingest_unit() -> None:
    batch = processor({0}, copartitioned=False)
    batch.outbox.open(ingest_unit(0))
    lead = lead_on(0)
    batch.stage_ingest([Delivered(Message("ev", 0, 0, created(lead)))], NOW)
    ingest = batch.outbox.get(ingest_unit(0))
    assert ingest is not None
    assert [record.partition for record in ingest.records] == [0]  # forwarded, not folded
    assert batch.outbox.get(lead_unit(0)).empty  # type: ignore[union-attr]


def test_progress_advances_to_the_offset_after_each_message() -> None:
    batch = processor({2})
    lead = lead_on(2)
    batch.stage_ingest([Delivered(Message("ev", 2, n, created(f"{lead}"))) for n in (5, 6)], NOW)
    assert batch.progress.position(TP("ev", 2)) == 7


def test_a_lead_created_with_an_unlisted_source_is_counted_and_named_for_status() -> None:
    funnel = Funnel()
    batch = processor({2})
    batch._source_label = funnel.source_label
    lead = lead_on(2)
    odd = event("lead.created", lead, "2026-03-02T10:00:00Z", source="Lead 00Q5e000001")
    stats = batch.stage_ingest([Delivered(Message("ev", 2, 0, odd))], NOW)
    assert stats.unlisted_sources == 1
    assert batch.unlisted_sources == {"Lead 00Q5e000001": 1}
