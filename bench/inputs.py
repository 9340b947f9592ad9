"""Input files: the project's generator cut to an exact size, and a lead.created-only feed.

Files are written once per run into the work dir and shared by the measurements that
need the same input, so "the same generated input" is literally the same bytes.
"""

from __future__ import annotations

import itertools
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from bench.harness import Context, log

# The sources of the default funnel profiles, so created-only state looks like real state.
_SOURCES = ("paid_search", "organic", "events", "referral", "outbound", "partner", "social")
_SEGMENTS = ("smb", "mid_market", "enterprise")


@dataclass(frozen=True)
class InputFile:
    path: Path
    events: int
    leads: int


def generated(ctx: Context, events: int) -> InputFile:
    """Exactly `events` lines of `leadflow generate` output (seeded, in time order, no chaos)."""
    key = f"generated:{events}"
    if key in ctx.shared:
        cached: InputFile = ctx.shared[key]
        return cached
    from devtools.generate import GeneratorSpec, generate_events, write_events

    path = ctx.work_dir / f"generated-{events}.jsonl"
    started = time.monotonic()
    leads: set[str] = set()

    def remember() -> Iterator[dict[str, Any]]:
        # The generator aims at about `events`; the few percent over are cut so every
        # measurement's count is exactly the requested one.
        spec = GeneratorSpec(seed=ctx.seed, events=events)
        for event in itertools.islice(generate_events(spec), events):
            leads.add(str(event["lead_id"]))
            yield event

    with path.open("wb") as out:
        stats = write_events(remember(), out)
    if stats.events != events:
        raise RuntimeError(f"generator gave {stats.events} events, wanted {events}")
    log(f"generated {events:,} events ({len(leads):,} leads) in {time.monotonic() - started:.1f}s")
    result = ctx.shared[key] = InputFile(path, events, len(leads))
    return result


def created_only(ctx: Context, leads: int, days: float = 100.0) -> InputFile:
    """`leads` lead.created events, one per distinct lead, occurred_at within the last `days`.

    The project's generator would need ~5x the events (whole lifecycles) for the same number
    of leads; filling state for a restart measurement only needs each lead to exist.
    """
    key = f"created:{leads}"
    if key in ctx.shared:
        cached: InputFile = ctx.shared[key]
        return cached
    path = ctx.work_dir / f"created-{leads}.jsonl"
    started = time.monotonic()
    write_created(path, leads, days=days, seed=ctx.seed)
    log(f"wrote {leads:,} lead.created events in {time.monotonic() - started:.1f}s")
    result = ctx.shared[key] = InputFile(path, leads, leads)
    return result


def write_created(
    path: Path, leads: int, *, days: float = 100.0, seed: int = 7, now: datetime | None = None
) -> None:
    rng = random.Random(seed)
    # A minute of margin: the worker dead-letters events ahead of its clock, never behind.
    end = (now or datetime.now(UTC)) - timedelta(minutes=1)
    span_ms = int(days * 86_400_000)
    end_ms = int(end.timestamp() * 1000)
    run = rng.getrandbits(32)
    dumps = orjson.dumps
    with path.open("wb", buffering=1 << 20) as out:
        for i in range(leads):
            at = datetime.fromtimestamp((end_ms - rng.randrange(span_ms)) / 1000, UTC)
            event = {
                # Counter-based ids: distinct by construction, no birthday collisions.
                "event_id": f"{run:08x}-0000-4000-8000-{i:012x}",
                "type": "lead.created",
                "lead_id": f"C{run:08x}{i:08x}",
                "occurred_at": at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                "source": _SOURCES[i % len(_SOURCES)],
                "segment": _SEGMENTS[i % len(_SEGMENTS)],
            }
            out.write(dumps(event, option=orjson.OPT_APPEND_NEWLINE))
