"""The worker's hooks, called as Faust and the committer would, without Kafka."""

from __future__ import annotations

import asyncio
import gc
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import pytest
from faust.types import TP

from projections import Funnel
from streams.app import Worker, WorkerHooks, _total, create_worker
from streams.ledgers import encode_state
from streams.outbox import Pending, lead_unit
from streams.settings import WorkerSettings
from streams.transactions import Committed
from tests.builders import event
from tests.deliveries import Delivered, Message, lead_on

PARTITIONS = 6


@pytest.fixture
def worker(tmp_path: Path) -> Worker:
    return create_worker(
        WorkerSettings(app_id="hooks-test", data_dir=tmp_path), Funnel(), PARTITIONS
    )


def hooks_of(worker: Worker) -> WorkerHooks:
    assert worker.hooks is not None
    return worker.hooks


def owning(worker: Worker, partition: int) -> None:
    worker.ledgers.assign({partition}, [])
    worker.outbox.open(lead_unit(partition))


def test_a_batch_on_its_leads_partition_is_folded_and_staged(worker: Worker) -> None:
    owning(worker, 2)
    lead = lead_on(2)
    line = event("lead.created", lead, "2026-03-02T10:00:00Z", source="organic")
    message = Message(worker.topics.events, 2, 41, line, key=lead.encode())

    asyncio.run(hooks_of(worker).stage_ingest([Delivered(message)]))

    pending = worker.outbox.get(lead_unit(2))
    assert pending is not None
    assert pending.dirty == {lead}
    assert pending.offsets == {TP(worker.topics.events, 2): 42}
    assert lead in worker.ledgers.by_partition[2].leads


def test_the_states_of_dirty_leads_are_encoded_for_the_changelog(worker: Worker) -> None:
    owning(worker, 2)
    lead = lead_on(2)
    line = event("lead.created", lead, "2026-03-02T10:00:00Z", source="organic")
    asyncio.run(
        hooks_of(worker).stage_ingest([Delivered(Message(worker.topics.events, 2, 0, line))])
    )
    state = worker.ledgers.by_partition[2].leads[lead]

    assert hooks_of(worker).encode_states(lead_unit(2), {lead}) == [
        (lead.encode(), encode_state(state))
    ]
    assert hooks_of(worker).encode_states(lead_unit(3), {lead}) == []  # not owned


def test_a_commit_counts_what_it_delivered(worker: Worker) -> None:
    snapshot = Pending(
        processed=Counter({"lead.created": 3}),
        duplicates=Counter({"lead.created": 1}),
        dead_lettered=Counter({"not-json": 2}),
        forwarded=4,
    )
    hooks_of(worker).on_committed(Committed(lead_unit(1), snapshot, [], None))

    telemetry = worker.telemetry
    assert _total(telemetry.processed) == 3
    assert _total(telemetry.duplicates) == 1
    assert _total(telemetry.dead_lettered) == 2
    assert _total(telemetry.forwarded) == 4
    assert _total(telemetry.transactions) == 1


def test_a_lost_partition_drops_its_leads_and_counts_a_fencing(worker: Worker) -> None:
    owning(worker, 1)
    owning(worker, 4)

    asyncio.run(hooks_of(worker).on_lost(lead_unit(1), RuntimeError("fenced")))

    assert set(worker.ledgers.by_partition) == {4}
    assert _total(worker.telemetry.fenced) == 1


def test_restoring_builds_the_ledgers_from_the_store_and_marks_the_worker_restored(
    worker: Worker,
) -> None:
    hooks = hooks_of(worker)
    lead = lead_on(3)
    owning(worker, 3)
    line = event("lead.created", lead, "2026-03-02T10:00:00Z", source="organic")
    asyncio.run(hooks.stage_ingest([Delivered(Message(worker.topics.events, 3, 0, line))]))
    state = encode_state(worker.ledgers.by_partition[3].leads[lead])
    worker.ledgers.revoke({3})
    changelog = TP(hooks.changelog_topic, 3)
    message = SimpleNamespace(key=lead.encode(), value=state, partition=3, tp=changelog, offset=0)
    hooks.table.data.apply_changelog_batch(
        [SimpleNamespace(key=lead.encode(), value=state, message=message)],
        to_key=lambda key: key,
        to_value=lambda value: value,
    )

    threshold = gc.get_threshold()
    try:
        assert hooks.restore({3}) == 1
    finally:  # restoring tunes the process's GC for a worker; give the test process its own back
        gc.unfreeze()
        gc.set_threshold(*threshold)

    assert worker.restored
    assert lead in worker.ledgers.by_partition[3].leads
