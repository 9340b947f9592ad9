"""Seeded generator of realistic synthetic lead-lifecycle events.

The events follow section 1 of the contract (`/work/shared/CONTRACT.md`). Three layers:

* planning: each lead's whole life (created -> scored -> mql -> contacted -> sql or
  rejected -> opportunity -> stage changes -> won or lost) is drawn at once, as offsets
  from its creation, by per-source probabilities and lognormal delays;
* ordering: `generate_events` merges the plans of leads created in time order through a
  heap, so output is sorted by `occurred_at` with memory bounded by the leads still "in
  flight", not by the total; `live_events` plays plans against the wall clock instead;
* chaos and bad lines: transformations of an already generated stream (shuffle window,
  duplicates, late first touch) and of its serialised lines (invalid lines), so the set
  of distinct valid events never depends on them.

Everything random comes from `random.Random` instances seeded from the spec, never from
module state, so a seed (plus `end` and `days`) fully determines the output.
"""

from __future__ import annotations

import argparse
import bisect
import contextlib
import heapq
import itertools
import math
import random
import sys
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta, timezone
from types import MappingProxyType
from typing import Any, BinaryIO

import orjson

from events.vocabulary import (
    DEFAULT_LOSS_REASONS,
    DEFAULT_PIPELINE_STAGES,
    DEFAULT_REJECTION_REASONS,
)
from leadflow.errors import UserError
from leadflow.instants import aware_instant

Event = dict[str, Any]

# The contract's default lists (events.vocabulary). A deployment that replaces them in
# its config will see the extra values normalised to `other`, which is worth exercising.
REJECTION_REASONS: tuple[str, ...] = DEFAULT_REJECTION_REASONS
LOSS_REASONS: tuple[str, ...] = DEFAULT_LOSS_REASONS
PIPELINE_STAGES: tuple[str, ...] = DEFAULT_PIPELINE_STAGES

# Reasons outside the default lists: consumers must fold them into `other`.
UNKNOWN_REJECTION_REASONS: tuple[str, ...] = ("spam", "duplicate_lead", "student", "job_seeker")
UNKNOWN_LOSS_REASONS: tuple[str, ...] = ("went_dark", "champion_left", "security_review")

_HOUR_MS = 3_600_000
_DAY_MS = 24 * _HOUR_MS
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MASK40 = (1 << 40) - 1


# --------------------------------------------------------------------------- profiles


@dataclass(frozen=True, slots=True)
class Delay:
    """A lognormal delay: half of the draws fall below `median_hours`."""

    median_hours: float
    sigma: float

    def sample_ms(self, rng: random.Random, scale: float) -> int:
        hours = self.median_hours * scale * math.exp(rng.gauss(0.0, self.sigma))
        # At least 1 ms, so that a lead's steps keep a strict time order.
        return max(1, int(hours * _HOUR_MS))


@dataclass(frozen=True, slots=True)
class Delays:
    """Time between funnel steps. Medians add up to ~30 days from lead to won."""

    first_score: Delay = Delay(0.15, 1.0)
    rescore: Delay = Delay(36.0, 1.0)
    score_to_mql: Delay = Delay(8.0, 1.0)
    response: Delay = Delay(4.0, 1.2)  # mql -> contacted: the speed-to-lead metric
    contacted_to_sql: Delay = Delay(40.0, 0.8)
    contacted_to_rejected: Delay = Delay(72.0, 0.9)
    unqualified_rejection: Delay = Delay(120.0, 0.9)
    direct_sql: Delay = Delay(24.0, 0.8)
    sql_to_opportunity: Delay = Delay(120.0, 0.7)
    sql_to_rejected: Delay = Delay(168.0, 0.8)
    stage_step: Delay = Delay(144.0, 0.6)
    # Winning deals move faster than losing ones (seeds: velocity predicts outcome).
    to_won: Delay = Delay(240.0, 0.6)
    to_lost: Delay = Delay(336.0, 0.7)


DEFAULT_DELAYS = Delays()

# Weights aligned with REJECTION_REASONS. Leads rejected before any sales contact are
# mostly junk (bad data, wrong fit); after contact, budget and timing dominate.
CONTACTED_REJECTION_WEIGHTS: tuple[float, ...] = (0.25, 0.22, 0.18, 0.07, 0.06, 0.19, 0.03)
UNQUALIFIED_REJECTION_WEIGHTS: tuple[float, ...] = (0.40, 0.05, 0.05, 0.08, 0.30, 0.09, 0.03)
LOSS_WEIGHTS: tuple[float, ...] = (0.26, 0.24, 0.26, 0.12, 0.09, 0.03)


@dataclass(frozen=True, slots=True)
class SourceProfile:
    """How leads of one source behave. Probabilities are conditional on the step before.

    With the defaults, a qualified (sql) lead is won with probability
    `p_opportunity * p_won` (about 0.2, i.e. a qualified-to-won ratio near 5).
    """

    name: str
    weight: float  # share of new leads
    p_mql: float  # lead -> mql
    p_sql: float  # mql -> sql
    p_opportunity: float  # sql -> opportunity
    p_won: float  # opportunity -> won
    p_lost: float  # opportunity -> lost; the rest stays open
    p_direct_sql: float = 0.02  # lead -> sql without mql (sales-sourced); stages not implied
    p_reject_unqualified: float = 0.2  # leads never qualified that get an explicit rejection
    p_reject_mql: float = 0.6  # mql not accepted: rejected, else left in nurture (open)
    p_reject_sql: float = 0.5  # sql without opportunity: rejected, else left open
    p_skip_contacted: float = 0.05  # sales forgot to log the first touch
    speed: float = 1.0  # multiplies every delay; > 1 is a slower channel
    amount_median: float = 12_000.0
    campaigns: tuple[str, ...] = ()
    delays: Delays = DEFAULT_DELAYS
    rejection_weights: tuple[float, ...] = CONTACTED_REJECTION_WEIGHTS
    unqualified_rejection_weights: tuple[float, ...] = UNQUALIFIED_REJECTION_WEIGHTS
    loss_weights: tuple[float, ...] = LOSS_WEIGHTS

    def __post_init__(self) -> None:
        for name in (
            "p_mql",
            "p_sql",
            "p_opportunity",
            "p_won",
            "p_lost",
            "p_direct_sql",
            "p_reject_unqualified",
            "p_reject_mql",
            "p_reject_sql",
            "p_skip_contacted",
        ):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{self.name}: {name}={value} is not a probability")
        if self.p_won + self.p_lost > 1.0:
            raise ValueError(f"{self.name}: p_won + p_lost exceeds 1")
        if self.p_mql + self.p_direct_sql > 1.0:
            raise ValueError(f"{self.name}: p_mql + p_direct_sql exceeds 1")
        if self.weight <= 0 or self.speed <= 0 or self.amount_median < 0:
            raise ValueError(f"{self.name}: weight and speed must be > 0, amount >= 0")
        rejection_lists = (self.rejection_weights, self.unqualified_rejection_weights)
        if any(len(w) != len(REJECTION_REASONS) for w in rejection_lists):
            raise ValueError(f"{self.name}: one rejection weight per rejection reason")
        if len(self.loss_weights) != len(LOSS_REASONS):
            raise ValueError(f"{self.name}: one loss weight per loss reason")


# Domain figures (seeds/): lead->mql 20-40 %, mql->sql 20-40 % (higher for high-intent
# channels such as referrals, lower for events), qualified-leads-to-won ratio target 5.
DEFAULT_SOURCES: tuple[SourceProfile, ...] = (
    SourceProfile(
        "webinar",
        0.20,
        p_mql=0.35,
        p_sql=0.26,
        p_opportunity=0.55,
        p_won=0.37,
        p_lost=0.57,
        campaigns=("webinar-pipeline-101", "webinar-roi-masterclass", "webinar-product-tour"),
    ),
    SourceProfile(
        "paid_search",
        0.25,
        p_mql=0.26,
        p_sql=0.28,
        p_opportunity=0.55,
        p_won=0.36,
        p_lost=0.58,
        speed=0.9,
        amount_median=9_000.0,
        campaigns=("gads-brand", "gads-competitor", "bing-generic"),
    ),
    SourceProfile(
        "organic",
        0.25,
        p_mql=0.30,
        p_sql=0.32,
        p_opportunity=0.56,
        p_won=0.36,
        p_lost=0.58,
        campaigns=("seo-blog", "seo-pricing-page", "direct"),
    ),
    SourceProfile(
        "referral",
        0.10,
        p_mql=0.40,
        p_sql=0.45,
        p_opportunity=0.62,
        p_won=0.33,
        p_lost=0.60,
        p_direct_sql=0.08,
        speed=0.8,
        amount_median=16_000.0,
        campaigns=("customer-referral", "advocate-program"),
    ),
    SourceProfile(
        "events",
        0.12,
        p_mql=0.30,
        p_sql=0.22,
        p_opportunity=0.50,
        p_won=0.40,
        p_lost=0.54,
        speed=1.2,
        campaigns=("saas-summit", "regional-roadshow", "trade-fair"),
    ),
    SourceProfile(
        "partner",
        0.08,
        p_mql=0.34,
        p_sql=0.40,
        p_opportunity=0.60,
        p_won=0.34,
        p_lost=0.60,
        p_direct_sql=0.08,
        amount_median=20_000.0,
        campaigns=("reseller-emea", "integration-marketplace"),
    ),
)


def _ratio_skew_sources() -> tuple[SourceProfile, ...]:
    """Default sources, but paid search rarely closes: its sql/won ratio sits near 23."""
    return tuple(
        replace(p, p_won=0.08, p_lost=0.87) if p.name == "paid_search" else p
        for p in DEFAULT_SOURCES
    )


# Scenario presets, selected with `--profile`. Add a scenario by adding an entry.
PROFILES: Mapping[str, tuple[SourceProfile, ...]] = MappingProxyType(
    {
        "default": DEFAULT_SOURCES,
        "ratio-skew": _ratio_skew_sources(),
    }
)


@dataclass(frozen=True, slots=True)
class Segment:
    name: str
    weight: float
    amount_factor: float
    speed: float  # bigger accounts buy more slowly


SEGMENTS: tuple[Segment, ...] = (
    Segment("smb", 0.55, 0.5, 0.8),
    Segment("mid_market", 0.30, 1.5, 1.0),
    Segment("enterprise", 0.15, 5.0, 1.6),
)

# (tzinfo, write "Z" instead of "+00:00", weight). Upstream systems stamp local time
# with an offset; consumers must bucket by the instant, not by the local wall time.
_OFFSETS: tuple[tuple[timezone, bool, float], ...] = (
    (UTC, True, 0.50),
    (UTC, False, 0.30),
    (timezone(timedelta(hours=1)), False, 0.08),
    (timezone(timedelta(hours=-5)), False, 0.07),
    (timezone(timedelta(hours=5, minutes=30)), False, 0.05),
)


# --------------------------------------------------------------------------- specs


def floor_minute_now() -> datetime:
    """The real wall clock, rounded down to the minute (never in the future)."""
    return datetime.now(UTC).replace(second=0, microsecond=0)


@dataclass(frozen=True, slots=True)
class ChaosOptions:
    duplicate_rate: float = 0.05  # share of events re-emitted later with the same event_id
    max_duplicate_lag: int = 5_000  # events between an original and its duplicate, at most
    shuffle_window: int = 20_000  # arrival order is shuffled within this many events
    late_created_rate: float = 0.2  # share of lead.created held back behind a later event
    max_late_hold: int = 50_000  # events a held lead.created waits for its lead, at most


DEFAULT_CHAOS = ChaosOptions()
# A 20,000-event window would stall a slow live feed for minutes; keep the disorder local.
LIVE_CHAOS = ChaosOptions(shuffle_window=32, max_late_hold=1_000)


@dataclass(frozen=True, slots=True)
class GeneratorSpec:
    """What to generate. Give `leads` or an approximate total of `events` (default 10,000)."""

    seed: int = 1
    leads: int | None = None
    events: int | None = None
    days: float = 120.0
    end: datetime = field(default_factory=floor_minute_now)
    profiles: tuple[SourceProfile, ...] = DEFAULT_SOURCES
    chaos: bool = False
    chaos_options: ChaosOptions = DEFAULT_CHAOS

    def __post_init__(self) -> None:
        if self.leads is not None and self.events is not None:
            raise ValueError("give either leads or events, not both")
        if (self.leads is not None and self.leads < 0) or (
            self.events is not None and self.events < 0
        ):
            raise ValueError("leads and events must be >= 0")
        if self.days <= 0:
            raise ValueError("days must be > 0")
        if self.end.tzinfo is None or self.end.utcoffset() is None:
            raise ValueError("end must be timezone-aware")
        _check_profiles(self.profiles)


@dataclass(frozen=True, slots=True)
class LiveSpec:
    """A live feed: leads are created now and progress `speedup` times faster than real.

    With `continues`, the feed also finishes that history's open leads: each step the
    history left after its `end` happens `speedup` times sooner, counted from the feed's
    start. Without it, a fresh feed only creates leads, and their deals close about
    `30 days / speedup` later: until then qualified leads pile up with no wins.
    """

    seed: int = 1
    rate: float = 50.0  # events per second, approximate once the funnel is warm
    speedup: float = 3600.0  # funnel seconds per real second: 3600 = one hour per second
    profiles: tuple[SourceProfile, ...] = DEFAULT_SOURCES
    limit: int | None = None  # stop after this many events; None runs forever
    continues: GeneratorSpec | None = None  # the history whose open leads the feed finishes

    def __post_init__(self) -> None:
        if self.rate <= 0 or self.speedup <= 0:
            raise ValueError("rate and speedup must be > 0")
        _check_profiles(self.profiles)

    @classmethod
    def after(cls, history: GeneratorSpec, rate: float, seed: int = 1) -> LiveSpec:
        """A feed of `rate` events/s that goes on where `history` ends, at its pace.

        The speedup makes the feed create leads as densely (per funnel hour) as the
        history did, so the history's deals closing in the feed and the feed's own new
        leads add up to the same steady funnel: every ratio keeps the level the
        history set, instead of drifting while the feed's first deals are still open.
        """
        history_leads_per_second = lead_count(history) / (history.days * _DAY_MS / 1000)
        if history_leads_per_second <= 0:
            raise ValueError("the history has no leads to continue")
        live_leads_per_second = rate / mean_events_per_lead(history.profiles, seed)
        return cls(
            seed=seed,
            rate=rate,
            speedup=live_leads_per_second / history_leads_per_second,
            profiles=history.profiles,
            continues=history,
        )


def _check_profiles(profiles: tuple[SourceProfile, ...]) -> None:
    names = [p.name for p in profiles]
    if not names:
        raise ValueError("at least one source profile is needed")
    if len(set(names)) != len(names):
        raise ValueError(f"duplicate source names in {names}")
    if any(not 1 <= len(n) <= 64 for n in names):
        raise ValueError("source names must be 1-64 characters (contract)")


# --------------------------------------------------------------------------- planning

# One step of a lead's plan: (offset from creation in ms, type, event_id, extra fields).
Step = tuple[int, str, str, dict[str, Any] | None]


class _Lead:
    """A lead's plan plus what every one of its events shares."""

    __slots__ = ("lead_id", "steps", "t0", "tz", "use_z", "with_schema_version")

    def __init__(
        self,
        lead_id: str,
        t0: int,
        steps: list[Step],
        tz: timezone,
        use_z: bool,
        with_schema_version: bool,
    ) -> None:
        self.lead_id = lead_id
        self.t0 = t0
        self.steps = steps
        self.tz = tz
        self.use_z = use_z
        self.with_schema_version = with_schema_version


class _Picker:
    """Weighted choice by bisection on cumulative weights (cheaper than random.choices)."""

    __slots__ = ("_cum", "_items", "_total")

    def __init__(self, items: tuple[Any, ...], weights: Iterable[float]) -> None:
        self._items = items
        self._cum = list(itertools.accumulate(weights))
        self._total = self._cum[-1]

    def __call__(self, rng: random.Random) -> Any:
        return self._items[bisect.bisect_right(self._cum, rng.random() * self._total)]


class _LeadIds:
    """Lead ids "L" + 10 hex chars: a seeded bijection of a counter, so never a collision.

    Random 40-bit draws would collide (birthday bound) at a few hundred thousand leads.
    """

    __slots__ = ("_add", "_mul")

    def __init__(self, rng: random.Random) -> None:
        self._mul = rng.getrandbits(40) | 1  # odd: multiplication mod 2**40 is invertible
        self._add = rng.getrandbits(40)

    def __call__(self, n: int) -> str:
        x = (n * self._mul + self._add) & _MASK40
        x ^= x >> 19  # xor-shifts and odd multipliers are invertible too: still a bijection
        x = (x * 0x9E3779B97F) & _MASK40
        x ^= x >> 21
        return f"L{x:010x}"


def _event_id(rng: random.Random) -> str:
    """A version-4-shaped UUID from the seeded RNG (uuid4() would break determinism)."""
    x = rng.getrandbits(128)
    x = (x & ~(0xF << 76)) | (0x4 << 76)
    x = (x & ~(0x3 << 62)) | (0x2 << 62)
    h = f"{x:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _odd_spelling(rng: random.Random, reason: str) -> str:
    """Same reason as upstream systems really send it: other case, stray whitespace."""
    variant = rng.randrange(4)
    if variant == 0:
        return f" {reason.title()} "
    if variant == 1:
        return reason.upper()
    if variant == 2:
        return f"{reason}\t"
    return f"  {reason.capitalize()}"


def _reason(
    rng: random.Random,
    reasons: tuple[str, ...],
    weights: tuple[float, ...],
    unknown: tuple[str, ...],
) -> str:
    r = rng.random()
    if r < 0.01:
        return rng.choice(unknown)
    reason = rng.choices(reasons, weights)[0]
    return _odd_spelling(rng, reason) if r < 0.05 else reason


class _Planner:
    """Draws lead plans. One instance per stream; all randomness comes from its rng."""

    def __init__(
        self, rng: random.Random, profiles: tuple[SourceProfile, ...], compress: float
    ) -> None:
        self._rng = rng
        self._compress = compress  # 1 for history, 1/speedup for the live feed
        self._source = _Picker(profiles, (p.weight for p in profiles))
        self._segment = _Picker(SEGMENTS, (s.weight for s in SEGMENTS))
        self._offset = _Picker(_OFFSETS, (o[2] for o in _OFFSETS))

    def plan(self, lead_id: str, t0: int) -> _Lead:
        rng = self._rng
        profile: SourceProfile = self._source(rng)
        segment: Segment = self._segment(rng)
        tz, use_z, _ = self._offset(rng)
        builder = _LeadBuilder(
            rng, profile, segment, profile.speed * segment.speed * self._compress
        )
        builder.run()
        steps = sorted(builder.steps, key=lambda s: s[0])  # stable: lead.created stays first
        return _Lead(lead_id, t0, steps, tz, use_z, rng.random() < 0.15)


class _LeadBuilder:
    """One lead's life, step by step. Each method covers one funnel phase."""

    __slots__ = ("_d", "_p", "_rng", "_scale", "_segment", "steps")

    def __init__(
        self, rng: random.Random, profile: SourceProfile, segment: Segment, scale: float
    ) -> None:
        self._rng = rng
        self._p = profile
        self._d = profile.delays
        self._segment = segment
        self._scale = scale
        self.steps: list[Step] = []

    def _add(self, offset: int, etype: str, extra: dict[str, Any] | None = None) -> None:
        self.steps.append((offset, etype, _event_id(self._rng), extra))

    def _after(self, offset: int, delay: Delay) -> int:
        return offset + delay.sample_ms(self._rng, self._scale)

    def run(self) -> None:
        rng, p = self._rng, self._p
        route = rng.random()
        direct = route < p.p_direct_sql
        mql = not direct and route < p.p_direct_sql + p.p_mql
        last_score = self._created_and_scores(qualifies=mql or direct)
        if direct:
            self._direct_sql()
        elif mql:
            self._mql(last_score)
        elif rng.random() < p.p_reject_unqualified:
            reason = _reason(
                rng, REJECTION_REASONS, p.unqualified_rejection_weights, UNKNOWN_REJECTION_REASONS
            )
            self._add(
                self._after(last_score, self._d.unqualified_rejection),
                "lead.rejected",
                {"reason": reason},
            )

    def _created_and_scores(self, qualifies: bool) -> int:
        rng, p = self._rng, self._p
        created: dict[str, Any] = {"source": p.name}
        if p.campaigns and rng.random() < 0.95:  # campaign is optional in the contract
            created["campaign"] = rng.choice(p.campaigns)
        created["segment"] = self._segment.name
        if rng.random() < 0.3:  # a form-fill score, optional on lead.created
            created["score"] = rng.randint(0, 40)
        self._add(0, "lead.created", created)
        count = rng.choices((1, 2, 3), (0.5, 0.3, 0.2))[0]
        if qualifies:  # scores climb until the lead crosses the MQL threshold
            scores = sorted(rng.randint(30, 95) for _ in range(count))
            scores[-1] = max(scores[-1], rng.randint(60, 98))
        else:
            scores = [rng.randint(0, 59) for _ in range(count)]
        offset = self._after(0, self._d.first_score)
        for i, score in enumerate(scores):
            if i:
                offset = self._after(offset, self._d.rescore)
            self._add(offset, "lead.scored", {"score": score})
        return offset

    def _contacted(self, offset: int) -> int:
        """First sales touch; sometimes not logged, which the response-time metric must bear."""
        at = self._after(offset, self._d.response)
        if self._rng.random() >= self._p.p_skip_contacted:
            self._add(at, "lead.contacted")
        return at

    def _mql(self, last_score: int) -> None:
        rng, p, d = self._rng, self._p, self._d
        at = self._after(last_score, d.score_to_mql)
        self._add(at, "lead.mql")
        if rng.random() < p.p_sql:
            contacted = self._contacted(at)
            self._sql(self._after(contacted, d.contacted_to_sql))
        elif rng.random() < p.p_reject_mql:
            contacted = self._contacted(at)
            reason = _reason(rng, REJECTION_REASONS, p.rejection_weights, UNKNOWN_REJECTION_REASONS)
            self._add(
                self._after(contacted, d.contacted_to_rejected), "lead.rejected", {"reason": reason}
            )
        elif rng.random() < 0.5:  # nurtured: touched once, then left open
            self._contacted(at)

    def _direct_sql(self) -> None:
        """Sales-sourced lead accepted without ever being marketing qualified."""
        contacted = self._contacted(0)
        self._sql(self._after(contacted, self._d.direct_sql))

    def _sql(self, at: int) -> None:
        rng, p = self._rng, self._p
        self._add(at, "lead.sql")
        if rng.random() < p.p_opportunity:
            self._opportunity(self._after(at, self._d.sql_to_opportunity))
        elif rng.random() < p.p_reject_sql:
            reason = _reason(rng, REJECTION_REASONS, p.rejection_weights, UNKNOWN_REJECTION_REASONS)
            self._add(self._after(at, self._d.sql_to_rejected), "lead.rejected", {"reason": reason})

    def _amount(self) -> float | int:
        rng = self._rng
        amount = self._p.amount_median * self._segment.amount_factor * math.exp(rng.gauss(0, 0.5))
        if rng.random() < 0.1:  # some CRMs send whole numbers: a JSON integer is a number too
            return int(round(amount, -2))
        return round(amount, 2)

    def _opportunity(self, at: int) -> None:
        rng, p, d = self._rng, self._p, self._d
        amount = self._amount()
        self._add(at, "opportunity.created", {"amount": amount} if rng.random() < 0.95 else None)
        outcome = rng.random()
        won, lost = outcome < p.p_won, p.p_won <= outcome < p.p_won + p.p_lost
        count = rng.randint(1, 3)
        # Won deals end late in the pipeline; lost and open ones start at the beginning.
        first = len(PIPELINE_STAGES) - count if won else 0
        for stage in PIPELINE_STAGES[first : first + count]:
            at = self._after(at, d.stage_step)
            self._add(at, "opportunity.stage_changed", {"stage": stage})
        if won:
            final = round(amount * rng.uniform(0.85, 1.0), 2)  # discount at signature
            self._add(
                self._after(at, d.to_won),
                "deal.won",
                {"amount": final} if rng.random() < 0.95 else None,
            )
        elif lost:
            reason = _reason(rng, LOSS_REASONS, p.loss_weights, UNKNOWN_LOSS_REASONS)
            self._add(self._after(at, d.to_lost), "deal.lost", {"reason": reason})


# --------------------------------------------------------------------------- events


def _format_ts(ms: int, tz: timezone, use_z: bool) -> str:
    # Integer arithmetic on timedelta: float seconds could round a millisecond away.
    dt = _EPOCH + timedelta(milliseconds=ms)
    if tz is not UTC:
        dt = dt.astimezone(tz)
    text = dt.isoformat(timespec="milliseconds")
    return text[:-6] + "Z" if use_z else text


def _materialize(lead: _Lead, index: int) -> Event:
    offset, etype, event_id, extra = lead.steps[index]
    event: Event = {
        "event_id": event_id,
        "type": etype,
        "lead_id": lead.lead_id,
        "occurred_at": _format_ts(lead.t0 + offset, lead.tz, lead.use_z),
    }
    if extra:
        event.update(extra)
    if lead.with_schema_version:  # optional field; some upstream systems always send it
        event["schema_version"] = 1
    return event


def _to_ms(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(milliseconds=1)


def _estimate_events_per_lead(spec: GeneratorSpec, samples: int = 3_000) -> float:
    """Mean events a lead emits before `end`, from a pilot run on a separate rng.

    A pilot accounts for leads cut off by `end` (the newest leads have emitted only their
    first steps), which a closed-form expectation would miss.
    """
    rng = random.Random(f"{spec.seed}:pilot")
    planner = _Planner(rng, spec.profiles, 1.0)
    span = int(spec.days * _DAY_MS)
    total = 0
    for _ in range(samples):
        remaining = span - int(rng.random() * span)  # time from creation to end
        lead = planner.plan("L", 0)
        total += sum(1 for step in lead.steps if step[0] <= remaining)
    return total / samples


def lead_count(spec: GeneratorSpec) -> int:
    """Leads to create: `spec.leads`, or as many as make about `spec.events` events."""
    if spec.leads is not None:
        return spec.leads
    target = 10_000 if spec.events is None else spec.events
    return max(1, round(target / _estimate_events_per_lead(spec))) if target else 0


def _planned_leads(spec: GeneratorSpec) -> Iterator[_Lead]:
    """Every lead of `spec` with its whole plan, steps after `end` included, in creation order."""
    rng = random.Random(spec.seed)
    ids = _LeadIds(rng)
    planner = _Planner(rng, spec.profiles, 1.0)
    end = _to_ms(spec.end)
    span = int(spec.days * _DAY_MS)
    start = end - span
    n = lead_count(spec)
    for i in range(n):
        # Stratified creation times: exactly n leads, spread over the span, in time order.
        t0 = start + int((i + rng.random()) * span / n)
        yield planner.plan(ids(i), t0)


def _sorted_events(spec: GeneratorSpec) -> Iterator[Event]:
    end = _to_ms(spec.end)
    # (time, tie-breaker, lead, step index): one entry per lead in flight, so memory
    # follows the leads not yet finished, not the size of the output.
    heap: list[tuple[int, int, _Lead, int]] = []
    seq = itertools.count()
    for lead in _planned_leads(spec):
        t0 = lead.t0
        # Steps after `end` have not happened yet: the lead stays open.
        lead.steps = [s for s in lead.steps if t0 + s[0] <= end]
        while heap and heap[0][0] <= t0:
            yield _pop_and_advance(heap, seq)
        heapq.heappush(heap, (t0, next(seq), lead, 0))
    while heap:
        yield _pop_and_advance(heap, seq)


def _pop_and_advance(heap: list[tuple[int, int, _Lead, int]], seq: Iterator[int]) -> Event:
    _, _, lead, index = heap[0]
    event = _materialize(lead, index)
    if index + 1 < len(lead.steps):
        heapq.heapreplace(heap, (lead.t0 + lead.steps[index + 1][0], next(seq), lead, index + 1))
    else:
        heapq.heappop(heap)
    return event


def generate_events(spec: GeneratorSpec) -> Iterator[Event]:
    """Stream the events of `spec`: sorted by occurred_at, or in chaos order.

    With `spec.chaos`, the distinct events are exactly those of the same spec without
    chaos; only arrival order and duplicates differ.
    """
    events = _sorted_events(spec)
    if spec.chaos:
        events = apply_chaos(events, spec.seed, spec.chaos_options)
    return events


# --------------------------------------------------------------------------- chaos


def apply_chaos(
    events: Iterable[Event], seed: int, options: ChaosOptions = DEFAULT_CHAOS
) -> Iterator[Event]:
    """Shuffle, delay first touches and duplicate, each with its own seeded rng.

    The late first touch runs after the shuffle so the shuffle cannot undo it.
    """
    stream: Iterable[Event] = events
    if options.shuffle_window > 1:
        stream = _shuffle_window(stream, random.Random(f"{seed}:shuffle"), options.shuffle_window)
    if options.late_created_rate > 0:
        stream = _late_first_touch(
            stream, random.Random(f"{seed}:late"), options.late_created_rate, options.max_late_hold
        )
    if options.duplicate_rate > 0:
        stream = _duplicates(
            stream, random.Random(f"{seed}:dup"), options.duplicate_rate, options.max_duplicate_lag
        )
    return iter(stream)


def _shuffle_window(events: Iterable[Event], rng: random.Random, window: int) -> Iterator[Event]:
    """Emit a random member of a bounded buffer per arrival: a full shuffle if all fit."""
    buffer: list[Event] = []
    for event in events:
        if len(buffer) < window:
            buffer.append(event)
            continue
        i = rng.randrange(window)
        yield buffer[i]
        buffer[i] = event
    rng.shuffle(buffer)
    yield from buffer


def _late_first_touch(
    events: Iterable[Event], rng: random.Random, rate: float, max_hold: int
) -> Iterator[Event]:
    """Hold some lead.created back until another event of the same lead has gone out."""
    held: dict[str, tuple[int, Event]] = {}
    expiry: deque[tuple[int, str]] = deque()
    for position, event in enumerate(events):
        lead_id = event["lead_id"]
        if event["type"] == "lead.created" and lead_id not in held and rng.random() < rate:
            held[lead_id] = (position, event)
            expiry.append((position, lead_id))
            continue
        yield event
        late = held.pop(lead_id, None)
        if late is not None:
            yield late[1]
        # A lead with no further events would hold its lead.created forever: bound it.
        while expiry and expiry[0][0] <= position - max_hold:
            since, stale = expiry.popleft()
            entry = held.get(stale)
            if entry is not None and entry[0] == since:
                del held[stale]
                yield entry[1]
    for _, event in held.values():
        yield event


def _duplicates(
    events: Iterable[Event], rng: random.Random, rate: float, max_lag: int
) -> Iterator[Event]:
    """Re-emit some events later, as at-least-once delivery does."""
    pending: list[tuple[int, int, Event]] = []
    seq = itertools.count()
    for position, event in enumerate(events):
        yield event
        if rng.random() < rate:
            heapq.heappush(pending, (position + rng.randint(1, max_lag), next(seq), dict(event)))
        while pending and pending[0][0] <= position:
            yield heapq.heappop(pending)[2]
    while pending:
        yield heapq.heappop(pending)[2]


# --------------------------------------------------------------------------- live feed


def mean_events_per_lead(
    profiles: tuple[SourceProfile, ...], seed: int = 1, samples: int = 3_000
) -> float:
    """Mean events in a lead's complete life (nothing cut off), from a pilot run."""
    planner = _Planner(random.Random(f"{seed}:pilot-live"), profiles, 1.0)
    return sum(len(planner.plan("L", 0).steps) for _ in range(samples)) / samples


def _clock_ms(seconds: float) -> int:
    """Whole milliseconds not after `seconds`: x * 1000 may round up across a boundary."""
    ms = int(seconds * 1000)
    return ms - 1 if ms / 1000 > seconds else ms


def open_leads(history: GeneratorSpec, origin_ms: int, speedup: float) -> Iterator[_Lead]:
    """The leads `history` left open, their remaining steps moved onto a faster clock.

    A step `d` after the history's end happens at `origin_ms + d / speedup`; steps keep
    their order (at least 1 ms apart, as in every plan). Ids, source and time zone stay:
    these are the same leads, which the history created.
    """
    end = _to_ms(history.end)
    for lead in _planned_leads(history):
        remaining = [step for step in lead.steps if lead.t0 + step[0] > end]
        if not remaining:
            continue
        steps: list[Step] = []
        previous = -1
        for offset, etype, event_id, extra in remaining:
            moved = max(previous + 1, int((lead.t0 + offset - end) / speedup))
            steps.append((moved, etype, event_id, extra))
            previous = moved
        yield _Lead(lead.lead_id, origin_ms, steps, lead.tz, lead.use_z, lead.with_schema_version)


def live_events(
    spec: LiveSpec,
    *,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[Event]:
    """A real-time feed: new leads now, later steps when their compressed time arrives.

    An event is only emitted once the clock has passed its occurred_at, so no event is
    ever in the future. `clock`/`sleep` are injectable for tests.
    """
    rng = random.Random(f"{spec.seed}:live")
    ids = _LeadIds(rng)
    planner = _Planner(rng, spec.profiles, 1.0 / spec.speedup)
    # Lead arrivals are a Poisson process sized so that the warm funnel yields `rate`.
    leads_per_second = spec.rate / mean_events_per_lead(spec.profiles, spec.seed)
    seq = itertools.count()
    # Whole milliseconds throughout: every wait is >= 1 ms, so a coarse or fake clock
    # always moves forward instead of spinning on float rounding.
    next_lead = _clock_ms(clock())
    heap: list[tuple[int, int, _Lead, int]] = []
    if spec.continues is not None:
        heap = [
            (lead.t0 + lead.steps[0][0], next(seq), lead, 0)
            for lead in open_leads(spec.continues, next_lead, spec.speedup)
        ]
        heapq.heapify(heap)
    emitted = 0
    created = 0
    while spec.limit is None or emitted < spec.limit:
        now = _clock_ms(clock())
        due = heap[0][0] if heap else None
        if due is not None and due <= now and due <= next_lead:
            yield _pop_and_advance(heap, seq)
            emitted += 1
        elif next_lead <= now:
            lead = planner.plan(ids(created), next_lead)
            created += 1
            heapq.heappush(heap, (lead.t0, next(seq), lead, 0))
            next_lead += max(1, int(rng.expovariate(leads_per_second) * 1000))
        else:
            sleep((min(next_lead, due if due is not None else next_lead) - now) / 1000)


# --------------------------------------------------------------------------- lines


def _mutated(event: Event, **changes: Any) -> bytes:
    bad = dict(event)
    bad.update(changes)
    return orjson.dumps(bad)


# Fields a type cannot do without (contract section 1); optional ones such as a score on
# lead.created are left alone, since dropping them leaves a valid event.
_REQUIRED_BY_TYPE: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "lead.created": ("source",),
        "lead.scored": ("score",),
        "lead.rejected": ("reason",),
        "deal.lost": ("reason",),
        "opportunity.stage_changed": ("stage",),
    }
)


def _without(event: Event, rng: random.Random) -> bytes:
    required = (
        "event_id",
        "type",
        "lead_id",
        "occurred_at",
        *_REQUIRED_BY_TYPE.get(event["type"], ()),
    )
    bad = dict(event)
    del bad[rng.choice(required)]
    return orjson.dumps(bad)


# Each maker turns the valid event about to be written into an invalid line that keeps
# its event_id where it can: the contract says an invalid event claims no id, so the
# valid one right after it must still count.
_BAD_LINE_MAKERS: tuple[tuple[str, Callable[[Event, random.Random], bytes]], ...] = (
    ("not_json", lambda e, r: orjson.dumps(e)[: r.randint(1, 40)]),
    ("not_utf8", lambda e, r: b'{"event_id": "\xff\xfe", "type": "lead.created"}'),
    ("not_object", lambda e, r: orjson.dumps([e])),
    ("missing_field", _without),
    ("unknown_type", lambda e, r: _mutated(e, type="lead.teleported")),
    ("naive_timestamp", lambda e, r: _mutated(e, occurred_at="2026-03-04T10:15:00")),
    ("float_score", lambda e, r: _mutated(e, type="lead.scored", score=50.0)),
    ("bool_score", lambda e, r: _mutated(e, type="lead.scored", score=True)),
    ("score_out_of_range", lambda e, r: _mutated(e, type="lead.scored", score=101)),
    ("unknown_stage", lambda e, r: _mutated(e, type="opportunity.stage_changed", stage="closing")),
    # Far ahead, so the line stays invalid whenever the file is replayed.
    ("future_timestamp", lambda e, r: _mutated(e, occurred_at="2100-01-01T00:00:00Z")),
    ("negative_amount", lambda e, r: _mutated(e, type="opportunity.created", amount=-100)),
    ("unsupported_schema_version", lambda e, r: _mutated(e, schema_version=99)),
    ("empty_lead_id", lambda e, r: _mutated(e, lead_id="")),
    ("long_event_id", lambda e, r: _mutated(e, event_id="x" * 129)),
)
BAD_LINE_KINDS: tuple[str, ...] = tuple(name for name, _ in _BAD_LINE_MAKERS)


def iter_lines(
    events: Iterable[Event], *, bad_lines: float = 0.0, seed: int = 1
) -> Iterator[bytes]:
    """JSON lines (bytes, newline-terminated) of `events`, with invalid lines mixed in.

    `bad_lines` is the expected fraction of all lines that are invalid: before each event
    a geometric number of bad lines (mean f/(1-f)) is written, which allows any f < 1.
    """
    if not 0.0 <= bad_lines < 1.0:
        raise ValueError("bad_lines must be in [0, 1)")
    rng = random.Random(f"{seed}:bad-lines")
    for event in events:
        while bad_lines and rng.random() < bad_lines:
            _, make = _BAD_LINE_MAKERS[rng.randrange(len(_BAD_LINE_MAKERS))]
            yield make(event, rng) + b"\n"
        yield orjson.dumps(event, option=orjson.OPT_APPEND_NEWLINE)


@dataclass(frozen=True, slots=True)
class WriteStats:
    events: int
    lines: int

    @property
    def bad_lines(self) -> int:
        return self.lines - self.events


def write_events(
    events: Iterable[Event],
    out: BinaryIO,
    *,
    bad_lines: float = 0.0,
    seed: int = 1,
    flush_each: bool = False,
) -> WriteStats:
    """Write `events` as JSON lines to a binary stream; `flush_each` for live feeds."""
    counted = 0

    def counting() -> Iterator[Event]:
        nonlocal counted
        for event in events:
            counted += 1
            yield event

    lines = 0
    for line in iter_lines(counting(), bad_lines=bad_lines, seed=seed):
        out.write(line)
        lines += 1
        if flush_each:
            out.flush()
    out.flush()
    return WriteStats(events=counted, lines=lines)


# --------------------------------------------------------------------------- CLI


def _fraction(text: str) -> float:
    value = float(text)
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError("must be in [0, 1)")
    return value


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must be >= 0")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be > 0")
    return value


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add the `generate` command to an argparse subparsers object."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "generate",
        help="write seeded synthetic lead events as JSON lines",
        description=(
            "Write realistic synthetic lead-lifecycle events (contract section 1) as JSON "
            "lines. The same seed, --end and --days give the same events."
        ),
    )
    parser.add_argument(
        "--events",
        type=_non_negative_int,
        default=10_000,
        help="approximate number of events (live mode: stop after N, "
        "0 = run until interrupted); default 10000",
    )
    parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    parser.add_argument(
        "--days",
        type=_positive_float,
        default=120.0,
        help="span of lead creation before --end, in days (default 120)",
    )
    parser.add_argument(
        "--end",
        type=aware_instant,
        default=None,
        help="latest event time, ISO 8601 with offset (default: now, rounded down to the "
        "minute; give it to get the same events on every run)",
    )
    parser.add_argument(
        "--chaos", action="store_true", help="shuffled arrival, ~5%% duplicates, late lead.created"
    )
    parser.add_argument(
        "--bad-lines",
        type=_fraction,
        default=0.0,
        metavar="FRACTION",
        help="fraction of extra invalid lines, for dead-letter tests",
    )
    parser.add_argument(
        "--profile",
        choices=sorted(PROFILES),
        default="default",
        help="scenario preset (default: default)",
    )
    parser.add_argument(
        "--rate",
        type=_positive_float,
        default=None,
        metavar="EVENTS_PER_SEC",
        help="live mode: a real-time feed of about this many events/s (ignores --days/--end)",
    )
    parser.add_argument(
        "--speedup",
        type=_positive_float,
        default=3600.0,
        help="live mode: funnel seconds per real second (default 3600)",
    )
    parser.add_argument("--out", default="-", help="output file (default: stdout)")
    parser.set_defaults(func=run)
    return parser


def _events_for(args: argparse.Namespace) -> Iterator[Event]:
    profiles = PROFILES[args.profile]
    if args.rate is not None:
        live = LiveSpec(
            seed=args.seed,
            rate=args.rate,
            speedup=args.speedup,
            profiles=profiles,
            limit=args.events or None,
        )
        events = live_events(live)
        return apply_chaos(events, args.seed, LIVE_CHAOS) if args.chaos else events
    end = args.end if args.end is not None else floor_minute_now()
    if end > datetime.now(UTC):
        raise ValueError(
            f"--end {end.isoformat()} is in the future; consumers dead-letter events "
            "more than 5 minutes ahead of the wall clock"
        )
    spec = GeneratorSpec(
        seed=args.seed,
        events=args.events,
        days=args.days,
        end=end,
        profiles=profiles,
        chaos=args.chaos,
    )
    return generate_events(spec)


def run(args: argparse.Namespace) -> int:
    """Handler of `leadflow generate`."""
    try:
        events = _events_for(args)
    except ValueError as exc:
        raise UserError(str(exc)) from exc
    live = args.rate is not None  # a live feed is read as it comes: flush every line
    target = "stdout" if args.out == "-" else args.out
    with contextlib.ExitStack() as stack:
        out = sys.stdout.buffer if args.out == "-" else stack.enter_context(_open_output(args.out))
        stats = write_events(events, out, bad_lines=args.bad_lines, seed=args.seed, flush_each=live)
    print(
        f"leadflow generate: {stats.events} events, {stats.bad_lines} bad lines -> {target}",
        file=sys.stderr,
    )
    return 0


def _open_output(path: str) -> BinaryIO:
    try:
        return open(path, "wb")
    except OSError as error:
        raise UserError(f"cannot write {path} ({error.strerror})") from error
