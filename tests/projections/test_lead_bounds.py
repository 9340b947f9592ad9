"""One lead with 100,000 events: exact metrics, bounded state, still independent of order."""

from __future__ import annotations

from collections.abc import Iterator

import orjson
import pytest
from builders import ledger_series, value

from events import Event, EventType
from projections import Funnel, LeadState, Ledger
from projections.lead import MAX_REMEMBERED_IDS, MAX_SCORES

T0 = 1_767_225_600_000_000  # 2026-01-01T00:00:00Z
SECOND = 1_000_000
EVENTS = 100_000


def flood(count: int = EVENTS) -> list[Event]:
    """lead.created, then `count` lead.scored one second apart (score = i % 101), then an
    MQL 500 s in: the score in force at the MQL is 500 % 101 = 96, a hot lead."""
    events = [Event("created", EventType.LEAD_CREATED, "L1", T0, source="webinar")]
    events += [
        Event(f"score-{i}", EventType.LEAD_SCORED, "L1", T0 + i * SECOND, score=i % 101)
        for i in range(count)
    ]
    events.append(Event("mql", EventType.LEAD_MQL, "L1", T0 + 500 * SECOND + 1))
    return events


def in_batches(events: list[Event], size: int = 500) -> Iterator[list[Event]]:
    for start in range(0, len(events), size):
        yield events[start : start + size]


def folded(events: list[Event]) -> tuple[Ledger, int, int]:
    """A worker's ledger after the events in batches of 500; (ledger, processed, duplicates)."""
    ledger = Ledger(Funnel())
    processed = duplicates = 0
    for batch in in_batches(events):
        result = ledger.apply(batch)
        processed += sum(result.processed.values())
        duplicates += sum(result.duplicates.values())
    return ledger, processed, duplicates


@pytest.fixture(scope="module")
def flooded() -> tuple[Ledger, int, int]:
    return folded(flood())


def test_a_lead_with_100_000_events_has_exact_metrics(flooded):
    ledger, processed, duplicates = flooded
    series = ledger_series(ledger, "2026-01-02T12:00:00Z")
    assert (processed, duplicates) == (EVENTS + 2, 0)
    assert (
        value(series, "leadflow_stage_entries", stage="lead", period="day", source="webinar") == 1
    )
    assert value(series, "leadflow_stage_entries", stage="mql", period="day", source="webinar") == 1
    assert value(series, "leadflow_tier_mqls", tier="hot", period="day", source="webinar") == 1
    assert value(series, "leadflow_open_leads", stage="mql", source="webinar") == 1


def test_the_state_of_a_lead_with_100_000_events_stays_bounded(flooded):
    state = flooded[0].leads["L1"]
    assert len(state.seen) == MAX_REMEMBERED_IDS == 4096
    assert state.scores is not None and len(state.scores) == MAX_SCORES == 1024
    # The changelog record stays far below Kafka's 1 MiB message limit.
    assert len(orjson.dumps(state.to_wire())) < 128 * 1024


def test_the_lead_keeps_its_earliest_scores_and_smallest_id_digests(flooded):
    state = flooded[0].leads["L1"]
    assert state.score_at(T0 + 1023 * SECOND) == 1023 % 101
    assert list(state.seen) == sorted(state.seen)


def test_redelivering_all_100_000_events_changes_nothing_and_remembered_ids_are_duplicates(
    flooded,
):
    ledger, _, _ = flooded
    before = ledger_series(ledger, "2026-01-02T12:00:00Z")
    state = ledger.leads["L1"].copy()
    processed = duplicates = 0
    for batch in in_batches(flood()):
        result = ledger.apply(batch)
        processed += sum(result.processed.values())
        duplicates += sum(result.duplicates.values())
    # Ids beyond the bound were forgotten: folded again, harmlessly, counted as processed.
    assert (duplicates, processed) == (MAX_REMEMBERED_IDS, EVENTS + 2 - MAX_REMEMBERED_IDS)
    assert ledger.leads["L1"] == state
    assert ledger_series(ledger, "2026-01-02T12:00:00Z") == before


def test_the_bounded_state_is_the_same_whatever_the_order(flooded):
    reversed_ledger, _, _ = folded(flood()[::-1])
    assert reversed_ledger.leads["L1"] == flooded[0].leads["L1"]
    assert ledger_series(reversed_ledger, "2026-01-02T12:00:00Z") == ledger_series(
        flooded[0], "2026-01-02T12:00:00Z"
    )


def test_a_restored_bounded_state_equals_the_live_one(flooded):
    state = flooded[0].leads["L1"]
    assert LeadState.from_wire(orjson.loads(orjson.dumps(state.to_wire()))) == state


def test_past_1024_scores_an_mql_takes_the_latest_kept_score_the_documented_limit():
    # 2,000 scores: the first 1,024 are 10 (cold), the rest 90 (hot). An MQL after the
    # 1,500th is hot in truth; the bounded state kept only the first 1,024 scores.
    events = [Event("created", EventType.LEAD_CREATED, "L1", T0, source="webinar")]
    events += [
        Event(f"s-{i}", EventType.LEAD_SCORED, "L1", T0 + i * SECOND, score=10 if i < 1024 else 90)
        for i in range(2000)
    ]
    events.append(Event("mql", EventType.LEAD_MQL, "L1", T0 + 1500 * SECOND))
    ledger, _, _ = folded(events)
    series = ledger_series(ledger, "2026-01-02T12:00:00Z")
    assert value(series, "leadflow_tier_mqls", tier="cold", period="day", source="webinar") == 1
    assert value(series, "leadflow_tier_mqls", tier="hot", period="day", source="webinar") == 0


def test_a_state_written_before_the_bound_is_bounded_when_restored():
    legacy = LeadState().to_wire()
    legacy[2] = list(range(10_000, 0, -1))  # unsorted, more digests than the bound
    legacy[9] = [part for j in range(2000) for part in (T0 + j, j % 101)]  # 2,000 pairs
    state = LeadState.from_wire(legacy)
    assert list(state.seen) == list(range(1, MAX_REMEMBERED_IDS + 1))
    assert state.scores is not None and len(state.scores) == MAX_SCORES
    assert state.score_at(T0 + 5) == 5
