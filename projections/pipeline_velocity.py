"""Pipeline stage reached and time per pipeline sub-stage, for opportunities that close.

A pure function of one lead's state, like every contribution, so it is the same in
the workers and in `replay`, whatever order or duplicates the events came in:

* The *close* is the lead's earliest entry into `won` or `lost` (the same instant:
  `won`, the contract's tie order); its stage is the *outcome* and its local day
  decides the period. Only leads that entered `opportunity` at or before the close
  count.
* The pipeline sub-stages considered are those whose earliest
  `opportunity.stage_changed` is at or before the close; later ones are ignored.
* *Stage reached*: the furthest of them in the configured order, `none` if none.
* *Dwell*: the considered entries in time order (same instant: configured order);
  each sub-stage lasts until the next entry, the last one until the close.
* Dwell is also counted in cumulative buckets (`le`, seconds), so Prometheus can
  take quantiles of the summed buckets with `histogram_quantile`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from projections import catalog
from projections.lead import LOST, NEVER, OPPORTUNITY, WON, LeadState

Key = tuple[str, str, int, tuple[str, ...]]
NO_PIPELINE_STAGE = "none"
_DAY_US = 86_400_000_000
# Upper bounds of the dwell buckets, in days: a day to a quarter, then the rest.
BUCKET_DAYS: tuple[int, ...] = (1, 3, 7, 14, 30, 60, 90)
INF = "+Inf"
_BUCKETS: tuple[tuple[int, str], ...] = tuple(
    (days * _DAY_US, str(days * 86_400)) for days in BUCKET_DAYS
)
_MICROS = 1_000_000

_CLOSES = catalog.PIPELINE_CLOSES.name
_EXITS = catalog.PIPELINE_STAGE_EXITS.name
_DWELL = catalog.PIPELINE_STAGE_DWELL.name
_BUCKET = catalog.PIPELINE_STAGE_DWELL_BUCKET.name
_OUTCOMES = {WON: "won", LOST: "lost"}


class PipelineVelocity:
    """What a closed opportunity adds: stage reached, and dwell per sub-stage."""

    def __init__(self, pipeline_stages: Sequence[str]) -> None:
        self._order = {stage: position for position, stage in enumerate(pipeline_stages)}

    def add(
        self,
        lead: LeadState,
        source: str,
        day_of: Callable[[int], int],
        add: Callable[[Key], None],
        weigh: Callable[[tuple[Key, int]], None],
    ) -> None:
        times = lead.times
        won, lost = times[WON], times[LOST]
        close = min(won, lost)
        if close == NEVER or times[OPPORTUNITY] > close:
            return
        outcome = _OUTCOMES[WON if won <= lost else LOST]
        day = day_of(close)
        order = self._order
        entries = sorted(
            (ts, order.get(stage, len(order)), stage)
            for stage, ts in lead.pipeline_entries
            if ts <= close
        )
        reached = max(entries, key=lambda entry: entry[1])[2] if entries else NO_PIPELINE_STAGE
        add((_CLOSES, source, day, (outcome, reached)))
        for position, (ts, _, stage) in enumerate(entries):
            left = entries[position + 1][0] if position + 1 < len(entries) else close
            dwell = left - ts
            labels = (outcome, stage)
            add((_EXITS, source, day, labels))
            weigh(((_DWELL, source, day, labels), dwell))
            for bound, le in _BUCKETS:
                if dwell <= bound:
                    add((_BUCKET, source, day, (outcome, stage, le)))
            add((_BUCKET, source, day, (outcome, stage, INF)))
