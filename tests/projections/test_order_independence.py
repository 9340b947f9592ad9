"""The metrics are a function of the *set* of events: order, duplicates and batching
never change them, and the incremental path agrees with the bulk one."""

from __future__ import annotations

from collections.abc import Sequence

import orjson
from builders import decoded, event, micros, replay
from hypothesis import given, settings
from hypothesis import strategies as st

from events import Event, EventType
from projections import Calendar, Family, Funnel, History, LeadState, Ledger, Outcome, export
from projections.contribution import Contributor

# Enough examples to find tie and re-delivery corner cases; the file runs in ~10 s.
PROPERTY = settings(max_examples=150, deadline=None)

LEADS = ("lead-a", "lead-b", "lead-c", "lead-d")
SOURCES = ("web", "ads", "events")
# None: the attribute is left out; "Spring Promo!" is counted as "other".
CAMPAIGNS = (None, "webinar-101", "gads-brand", "Spring Promo!")
SEGMENTS = (None, "smb", "enterprise")
REJECTION_REASONS = ("no_budget", " Wrong_Fit ", "bad_timing", "aliens")
LOSS_REASONS = ("price", "COMPETITOR", "timing", "went quiet")
PIPELINE_STAGES = ("discovery", "demo", "proposal", "negotiation")
AMOUNTS = (None, 0, 1500, 2499.99)
# Few instants, so same-instant ties are common; they straddle a month end, a
# quarter end and Berlin's spring-forward, and two of them are one instant
# written with different offsets.
INSTANTS = (
    "2026-01-31T22:30:00Z",
    "2026-01-31T23:30:00Z",
    "2026-02-01T00:00:00Z",
    "2026-02-01T01:00:00+01:00",
    "2026-02-03T09:15:00.250000Z",
    "2026-03-29T00:30:00Z",
    "2026-03-29T01:00:00Z",
    "2026-03-31T23:59:59Z",
    "2026-04-01T07:00:00-07:00",
)
AS_OF = (*INSTANTS, "2026-02-15T12:00:00Z", "2026-06-30T00:00:00Z")
FUNNELS = {zone: Funnel(timezone=zone) for zone in ("UTC", "Europe/Berlin", "America/Los_Angeles")}


@st.composite
def fields_of(draw: st.DrawFn, kind: EventType) -> dict:
    if kind is EventType.LEAD_CREATED:
        fields = {"source": draw(st.sampled_from(SOURCES))}
        if draw(st.booleans()):
            fields["score"] = draw(st.integers(0, 100))
        for attribute, values in (("campaign", CAMPAIGNS), ("segment", SEGMENTS)):
            value = draw(st.sampled_from(values))
            if value is not None:
                fields[attribute] = value
        return fields
    if kind is EventType.LEAD_SCORED:
        return {"score": draw(st.integers(0, 100))}
    if kind is EventType.LEAD_REJECTED:
        return {"reason": draw(st.sampled_from(REJECTION_REASONS))}
    if kind is EventType.DEAL_LOST:
        return {"reason": draw(st.sampled_from(LOSS_REASONS))}
    if kind is EventType.OPPORTUNITY_STAGE_CHANGED:
        return {"stage": draw(st.sampled_from(PIPELINE_STAGES))}
    if kind in (EventType.OPPORTUNITY_CREATED, EventType.DEAL_WON):
        amount = draw(st.sampled_from(AMOUNTS))
        return {} if amount is None else {"amount": amount}
    return {}


@st.composite
def event_lines(draw: st.DrawFn, leads: Sequence[str] = LEADS, max_size: int = 24) -> list[bytes]:
    """Distinct events (unique ids) about a few leads, as JSON lines; ids are ordered
    independently of content, so tie-breaks by smallest id go either way."""
    size = draw(st.integers(1, max_size))
    ids = draw(st.permutations(range(size)))
    lines = []
    for number in ids:
        kind = draw(st.sampled_from(list(EventType)))
        lines.append(
            event(
                str(kind),
                draw(st.sampled_from(leads)),
                draw(st.sampled_from(INSTANTS)),
                event_id=f"evt-{number:03d}",
                **draw(fields_of(kind)),
            )
        )
    return lines


def event_sets(leads: Sequence[str] = LEADS) -> st.SearchStrategy[list[Event]]:
    return event_lines(leads).map(lambda lines: [decoded(line) for line in lines])


funnels = st.sampled_from(sorted(FUNNELS)).map(FUNNELS.__getitem__)
as_of_instants = st.sampled_from(AS_OF).map(micros)


def bulk(events: Sequence[Event], funnel: Funnel) -> Ledger:
    """The replay path: fold everything, then compute contributions once."""
    ledger = Ledger(funnel)
    ledger.fold(events)
    ledger.rebuild()
    return ledger


def incremental(events: Sequence[Event], funnel: Funnel, sizes: Sequence[int]) -> Ledger:
    """The worker path: batches of the given sizes (cycled), retracting and re-adding."""
    ledger = Ledger(funnel)
    position, batch = 0, 0
    while position < len(events):
        size = sizes[batch % len(sizes)]
        ledger.apply(events[position : position + size])
        position, batch = position + size, batch + 1
    return ledger


def exported(ledger: Ledger, as_of: int) -> list[Family]:
    return export(ledger.totals, ledger.funnel, ledger.calendar, as_of, History.ALL)


@PROPERTY
@given(event_sets(), funnels, as_of_instants, st.randoms(use_true_random=False))
def test_the_export_is_the_same_whatever_order_the_events_arrive_in(events, funnel, as_of, rng):
    shuffled = list(events)
    rng.shuffle(shuffled)
    assert exported(bulk(shuffled, funnel), as_of) == exported(bulk(events, funnel), as_of)


@PROPERTY
@given(event_sets(), funnels, as_of_instants, st.data())
def test_duplicated_events_change_nothing(events, funnel, as_of, data):
    copies = data.draw(st.lists(st.sampled_from(events), min_size=1, max_size=len(events) * 2))
    redelivered = data.draw(st.permutations([*events, *copies]))
    assert exported(bulk(redelivered, funnel), as_of) == exported(bulk(events, funnel), as_of)


@PROPERTY
@given(event_sets(), funnels, as_of_instants, st.lists(st.integers(1, 6), min_size=1, max_size=5))
def test_the_export_is_the_same_however_the_events_are_split_into_batches(
    events, funnel, as_of, sizes
):
    one_batch = incremental(events, funnel, [len(events)])
    assert exported(incremental(events, funnel, sizes), as_of) == exported(one_batch, as_of)


@PROPERTY
@given(
    event_sets(),
    funnels,
    as_of_instants,
    st.lists(st.integers(1, 6), min_size=1, max_size=5),
    st.data(),
)
def test_the_incremental_path_in_shuffled_duplicated_batches_equals_the_bulk_path(
    events, funnel, as_of, sizes, data
):
    copies = data.draw(st.lists(st.sampled_from(events), max_size=len(events)))
    arrivals = data.draw(st.permutations([*events, *copies]))
    worker = incremental(arrivals, funnel, sizes)
    replayed = bulk(events, funnel)
    assert worker.totals == replayed.totals
    assert all(total > 0 for total in worker.totals.values())  # retractions never overshoot
    assert exported(worker, as_of) == exported(replayed, as_of)


@PROPERTY
@given(event_lines(), st.data())
def test_replay_prints_the_same_series_whatever_the_order_and_duplicates_of_its_lines(lines, data):
    # Replay's as-of defaults to the latest occurred_at, so it must not depend on order either.
    redelivered = data.draw(st.permutations([*lines, *data.draw(st.lists(st.sampled_from(lines)))]))
    assert replay(redelivered, history=History.LIVE) == replay(lines, history=History.LIVE)


@PROPERTY
@given(event_sets(), funnels, st.lists(st.integers(1, 6), min_size=1, max_size=5))
def test_both_paths_know_the_latest_occurred_at_of_all_events(events, funnel, sizes):
    latest = max(e.ts for e in events)
    assert bulk(events, funnel).latest_event_ts == latest
    assert incremental(events, funnel, sizes).latest_event_ts == latest


@PROPERTY
@given(event_sets(leads=("lead-a",)), st.randoms(use_true_random=False))
def test_a_leads_state_is_the_same_whatever_order_its_events_arrive_in(events, rng):
    shuffled = list(events)
    rng.shuffle(shuffled)
    forwards, backwards = LeadState(), LeadState()
    for e in events:
        forwards.apply(e)
    for e in shuffled:
        backwards.apply(e)
    assert forwards == backwards


@PROPERTY
@given(event_sets(leads=("lead-a",)), funnels)
def test_a_lead_state_survives_the_wire_round_trip(events, funnel):
    state = LeadState()
    for e in events:
        state.apply(e)
    restored = LeadState.from_wire(orjson.loads(orjson.dumps(state.to_wire())))
    assert restored == state
    contributor = Contributor(funnel, Calendar(funnel.timezone))
    assert sorted(contributor.contributions(restored)) == sorted(contributor.contributions(state))
    # It still remembers every event it has seen.
    assert {restored.apply(e) for e in events} == {Outcome.DUPLICATE}


def test_an_empty_lead_state_survives_the_wire_round_trip():
    assert LeadState.from_wire(orjson.loads(orjson.dumps(LeadState().to_wire()))) == LeadState()


@PROPERTY
@given(event_sets(leads=("lead-a",)))
def test_a_copied_lead_state_is_equal_and_independent_of_its_original(events):
    state = LeadState()
    half = len(events) // 2
    for e in events[:half]:
        state.apply(e)
    twin = state.copy()
    assert twin == state
    for e in events[half:]:
        twin.apply(e)
    # The original still holds only the first half: nothing mutable is shared.
    original = LeadState()
    for e in events[:half]:
        original.apply(e)
    assert state == original
