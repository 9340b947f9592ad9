"""Staged output per unit: taken whole for a transaction, given back whole if it fails."""

from __future__ import annotations

from faust.types import TP

from streams.outbox import Outbox, OutRecord, lead_unit


def test_taking_leaves_an_empty_pending_behind() -> None:
    outbox = Outbox()
    unit = lead_unit(0)
    outbox.open(unit)
    outbox.get(unit).dirty.add("L1")  # type: ignore[union-attr]
    taken = outbox.take(unit)
    assert taken.dirty == {"L1"}
    assert outbox.get(unit).empty  # type: ignore[union-attr]


def test_a_failed_snapshot_given_back_merges_under_what_came_after_it() -> None:
    outbox = Outbox()
    unit = lead_unit(0)
    outbox.open(unit)
    first = outbox.get(unit)
    assert first is not None
    first.dirty.add("L1")
    first.records.append(OutRecord("dlq", 0, None, b"old"))
    first.offsets[TP("ev", 0)] = 10
    first.processed["lead.created"] = 2
    snapshot = outbox.take(unit)
    later = outbox.get(unit)
    assert later is not None
    later.dirty.add("L2")
    later.records.append(OutRecord("dlq", 0, None, b"new"))
    later.offsets[TP("ev", 0)] = 12
    outbox.give_back(unit, snapshot)
    merged = outbox.get(unit)
    assert merged is not None
    assert merged.dirty == {"L1", "L2"}
    assert [record.value for record in merged.records] == [b"old", b"new"]
    assert merged.offsets == {TP("ev", 0): 12}
    assert merged.processed == {"lead.created": 2}


def test_a_snapshot_of_a_unit_given_up_meanwhile_is_dropped() -> None:
    outbox = Outbox()
    unit = lead_unit(3)
    outbox.open(unit)
    snapshot = outbox.take(unit)
    snapshot.dirty.add("L1")
    outbox.close(unit)
    outbox.give_back(unit, snapshot)
    assert outbox.get(unit) is None
