"""One lead's state: the join of all its events, independent of their order.

Every field is a minimum or maximum under a total order (earliest entry per stage,
ties broken by the smaller event id, latest pipeline stage...), so applying the
same set of events in any order, any number of times, gives the same state.

Per-lead memory is bounded, whatever a producer sends: a lead remembers at most
MAX_REMEMBERED_IDS event-id digests (the smallest ones) and MAX_SCORES distinct
(time, score) pairs (the earliest ones). Both are still joins (the k smallest of a
set), so the state stays independent of order. Below the bounds nothing changes;
above them an event whose id was forgotten is folded again when redelivered,
which changes nothing (every field is idempotent) but counts it as processed
rather than duplicate, and a score later than the 1,024th is not kept.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left, bisect_right
from enum import Enum
from sys import intern
from typing import Any

import xxhash

from events import Event, EventType, Stage

NEVER = 2**62  # an entry time later than any real one: "not entered"
MAX_REMEMBERED_IDS = 4096  # 32 KiB of digests; a real lead has tens of events
MAX_SCORES = 1024  # (time, score) pairs; a real lead is scored tens of times
_SCORE_BITS = 7  # a score (0-100) fits in 7 bits: a pair packs into one int64
_SCORE_MASK = (1 << _SCORE_BITS) - 1

# Slots of LeadState.times; the first seven follow the contract's tie order.
LEAD, MQL, SQL, OPPORTUNITY, REJECTED, WON, LOST, CONTACTED = range(8)
SLOT_STAGES: tuple[Stage, ...] = (
    Stage.LEAD,
    Stage.MQL,
    Stage.SQL,
    Stage.OPPORTUNITY,
    Stage.REJECTED,
    Stage.WON,
    Stage.LOST,
)
STAGE_SLOT: dict[Stage, int] = {stage: slot for slot, stage in enumerate(SLOT_STAGES)}
_SLOT_OF_TYPE: dict[EventType, int] = {
    EventType.LEAD_CREATED: LEAD,
    EventType.LEAD_MQL: MQL,
    EventType.LEAD_SQL: SQL,
    EventType.OPPORTUNITY_CREATED: OPPORTUNITY,
    EventType.LEAD_REJECTED: REJECTED,
    EventType.DEAL_WON: WON,
    EventType.DEAL_LOST: LOST,
    EventType.LEAD_CONTACTED: CONTACTED,
}


class Outcome(Enum):
    DUPLICATE = "duplicate"  # event id seen before: nothing changes
    RECORDED = "recorded"  # id remembered, but no metric can change
    CHANGED = "changed"  # the lead's contribution to the metrics may change


# Event ids are remembered as stable 64-bit digests: Python's hash() is salted per
# process, and state outlives processes through the changelog. Collisions among one
# lead's few ids are vanishingly unlikely (about 1e-18 per lead).
_xxh3_64 = xxhash.xxh3_64_intdigest
_NO_TIMES = array("q", (NEVER,) * 8)
_SCORED = EventType.LEAD_SCORED
_STAGE_CHANGED = EventType.OPPORTUNITY_STAGE_CHANGED
_CREATED = EventType.LEAD_CREATED
_DUPLICATE, _RECORDED, _CHANGED = Outcome.DUPLICATE, Outcome.RECORDED, Outcome.CHANGED


class LeadState:
    """Compact on purpose: a worker holds one of these per lead it owns."""

    __slots__ = (
        "campaign",
        "loss",
        "opportunity_amount",
        "pipeline",
        "rejection",
        "scores",
        "seen",
        "segment",
        "source",
        "source_event",
        "times",
        "won_amount",
    )

    def __init__(self) -> None:
        self.times = _NO_TIMES[:]
        self.seen = array("Q")
        self.source: str | None = None
        self.source_event: str | None = None
        self.campaign: str | None = None  # on the same lead.created as the source
        self.segment: str | None = None  # likewise
        # (event_id, value) of the event that decided the entry: its tie-break key.
        self.rejection: tuple[str, str] | None = None
        self.loss: tuple[str, str] | None = None
        self.opportunity_amount: tuple[str, int | None] | None = None
        self.won_amount: tuple[str, int | None] | None = None
        # Sorted packed (ts << 7 | score): order = (ts, score) order, one int each.
        self.scores: array[int] | None = None
        # One flat tuple, None until the first stage change (most leads never have one):
        # (latest ts, latest stage, then stage, earliest ts for each sub-stage entered,
        # sorted by stage). Flat and shared by copies: a few bytes per opportunity.
        self.pipeline: tuple[Any, ...] | None = None

    def apply(self, event: Event) -> Outcome:
        digest = _xxh3_64(event.event_id.encode())
        seen = self.seen
        at = bisect_left(seen, digest)
        if at < len(seen) and seen[at] == digest:
            return _DUPLICATE
        if at < MAX_REMEMBERED_IDS:  # keep the smallest digests: a join, like the rest
            seen.insert(at, digest)
            if len(seen) > MAX_REMEMBERED_IDS:
                seen.pop()
        kind = event.type
        slot = _SLOT_OF_TYPE.get(kind)
        if slot is None:
            if kind is _SCORED:
                return _CHANGED if self._add_score(event.ts, event.score) else _RECORDED
            return self._change_stage(event.ts, intern(event.stage or ""))
        changed = self._enter(slot, event)
        if kind is _CREATED and self._add_score(event.ts, event.score):
            changed = True
        return _CHANGED if changed else _RECORDED

    def _enter(self, slot: int, event: Event) -> bool:
        current = self.times[slot]
        if event.ts > current:
            return False
        if event.ts == current and not self._wins_tie(slot, event.event_id):
            return False
        self.times[slot] = event.ts
        # Sources and reasons repeat across millions of leads: one shared copy each.
        if slot == LEAD:
            self.source = None if event.source is None else intern(event.source)
            self.source_event = event.event_id
            self.campaign = None if event.campaign is None else intern(event.campaign)
            self.segment = None if event.segment is None else intern(event.segment)
        elif slot == REJECTED:
            self.rejection = (event.event_id, intern(event.reason or "other"))
        elif slot == LOST:
            self.loss = (event.event_id, intern(event.reason or "other"))
        elif slot == OPPORTUNITY:
            self.opportunity_amount = (event.event_id, event.amount_cents)
        elif slot == WON:
            self.won_amount = (event.event_id, event.amount_cents)
        return True

    def _change_stage(self, ts: int, stage: str) -> Outcome:
        """opportunity.stage_changed: the latest (ts, stage), and each stage's earliest entry."""
        current = self.pipeline
        if current is None:
            self.pipeline = (ts, stage, stage, ts)
            return _CHANGED
        latest = current[:2]
        later = (ts, stage) > latest
        entries = dict(zip(current[2::2], current[3::2], strict=True))
        earlier = ts < entries.get(stage, NEVER)
        if not later and not earlier:
            return _RECORDED
        if earlier:
            entries[stage] = ts
        head = (ts, stage) if later else latest
        self.pipeline = (*head, *(item for pair in sorted(entries.items()) for item in pair))
        return _CHANGED

    @property
    def pipeline_latest(self) -> tuple[int, str] | None:
        """The latest stage change (ts, stage), which names an open opportunity's stage."""
        return None if self.pipeline is None else (self.pipeline[0], self.pipeline[1])

    @property
    def pipeline_entries(self) -> tuple[tuple[str, int], ...]:
        """(stage, earliest entry ts) for every pipeline sub-stage entered, by stage."""
        flat = self.pipeline
        return () if flat is None else tuple(zip(flat[2::2], flat[3::2], strict=True))

    def _wins_tie(self, slot: int, event_id: str) -> bool:
        # Same instant: the smaller event id decides the payload (source, reason, amount).
        holder = {
            LEAD: self.source_event,
            REJECTED: self.rejection[0] if self.rejection else None,
            LOST: self.loss[0] if self.loss else None,
            OPPORTUNITY: self.opportunity_amount[0] if self.opportunity_amount else None,
            WON: self.won_amount[0] if self.won_amount else None,
        }.get(slot)
        return holder is not None and event_id < holder

    def _add_score(self, ts: int, score: int | None) -> bool:
        """Remember (ts, score); False if it was known already or is beyond the bound."""
        if score is None:
            return False
        if self.scores is None:
            self.scores = array("q")
        scores = self.scores
        key = ts << _SCORE_BITS | score
        at = bisect_left(scores, key)
        if (at < len(scores) and scores[at] == key) or at >= MAX_SCORES:
            return False
        scores.insert(at, key)
        if len(scores) > MAX_SCORES:
            scores.pop()
        return True

    def score_at(self, ts: int) -> int | None:
        """The score in force at `ts`: the latest one at or before it (ties: the highest)."""
        if not self.scores:
            return None
        at = bisect_right(self.scores, ts << _SCORE_BITS | _SCORE_MASK)
        return None if at == 0 else self.scores[at - 1] & _SCORE_MASK

    def copy(self) -> LeadState:
        # Spelled out (no loop over __slots__): a copy is taken per lead per batch.
        # Arrays are the only mutable fields; tuples and strings are shared safely.
        twin = LeadState.__new__(LeadState)
        twin.times = self.times[:]
        twin.seen = self.seen[:]
        twin.source = self.source
        twin.source_event = self.source_event
        twin.campaign = self.campaign
        twin.segment = self.segment
        twin.rejection = self.rejection
        twin.loss = self.loss
        twin.opportunity_amount = self.opportunity_amount
        twin.won_amount = self.won_amount
        twin.scores = None if self.scores is None else self.scores[:]
        twin.pipeline = self.pipeline
        return twin

    def latest_ts(self) -> int | None:
        """The latest occurred_at the state remembers (entries, scores, pipeline stage)."""
        stamps = [ts for ts in self.times if ts != NEVER]
        if self.scores:
            stamps.append(self.scores[-1] >> _SCORE_BITS)
        if self.pipeline is not None:
            stamps.append(self.pipeline[0])
        return max(stamps) if stamps else None

    def entered(self, slot: int) -> bool:
        return self.times[slot] != NEVER

    # Serialisation for changelogs: a compact JSON-able list, stable across versions.
    def to_wire(self) -> list[Any]:
        return [
            1,
            list(self.times),
            list(self.seen),
            self.source,
            self.source_event,
            self.rejection,
            self.loss,
            self.opportunity_amount,
            self.won_amount,
            None if self.scores is None else _score_pairs(self.scores),
            None if self.pipeline is None else [self.pipeline[0], self.pipeline[1]],
            self.campaign,
            [list(entry) for entry in self.pipeline_entries],
            self.segment,
        ]

    @classmethod
    def from_wire(cls, wire: list[Any]) -> LeadState:
        if not wire or wire[0] != 1:
            raise ValueError(f"unknown lead-state format {wire[:1]!r}")
        state = cls.__new__(cls)  # every slot is set below: skip __init__'s defaults
        state.times = array("q", wire[1])
        # Sorted and bounded here too: states written before the bound existed.
        state.seen = array("Q", sorted(wire[2])[:MAX_REMEMBERED_IDS])
        state.source = None if wire[3] is None else intern(wire[3])
        state.source_event = wire[4]
        state.rejection = None if wire[5] is None else (wire[5][0], intern(wire[5][1]))
        state.loss = None if wire[6] is None else (wire[6][0], intern(wire[6][1]))
        state.opportunity_amount = _pair(wire[7])
        state.won_amount = _pair(wire[8])
        state.scores = None if wire[9] is None else _packed_scores(wire[9])
        # Absent from states written before campaigns were kept.
        campaign = wire[11] if len(wire) > 11 else None
        state.campaign = None if campaign is None else intern(campaign)
        # Absent from states written before segments were kept.
        segment = wire[13] if len(wire) > 13 else None
        state.segment = None if segment is None else intern(segment)
        latest = wire[10]
        if latest is None:
            state.pipeline = None
        else:
            # States written before entries per sub-stage were kept have no wire[12]:
            # the latest stage is all that is known (its entry may have been earlier;
            # a later-folded earlier event corrects it).
            stored = wire[12] if len(wire) > 12 else [[latest[1], latest[0]]]
            entries = sorted((intern(stage), ts) for stage, ts in stored)
            flat = (item for pair in entries for item in pair)
            state.pipeline = (latest[0], intern(latest[1]), *flat)
        return state

    def __eq__(self, other: object) -> bool:
        return isinstance(other, LeadState) and self._comparable() == other._comparable()

    def _comparable(self) -> tuple[Any, ...]:
        scores = None if self.scores is None else list(self.scores)
        return (
            list(self.times),
            sorted(self.seen),
            self.source,
            self.source_event,
            self.rejection,
            self.loss,
            self.opportunity_amount,
            self.won_amount,
            scores,
            self.pipeline,
            self.campaign,
            self.segment,
        )

    __hash__ = None  # type: ignore[assignment]


def _pair(value: Any) -> Any:
    return None if value is None else (value[0], value[1])


def _score_pairs(scores: array[int]) -> list[int]:
    """The wire form of scores: flat (ts, score) pairs, as before packing."""
    flat: list[int] = []
    for key in scores:
        flat.extend((key >> _SCORE_BITS, key & _SCORE_MASK))
    return flat


def _packed_scores(flat: list[int]) -> array[int]:
    keys = sorted({flat[i] << _SCORE_BITS | flat[i + 1] for i in range(0, len(flat), 2)})
    return array("q", keys[:MAX_SCORES])
