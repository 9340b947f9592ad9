"""Pure, order-independent folds from events to Leadflow's metrics. No I/O."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping

from projections.contribution import UNKNOWN_SOURCE, Key
from projections.derived import derived_families
from projections.funnel import Funnel, RatioBand, TargetOverrides, Targets
from projections.lead import LeadState, Outcome
from projections.ledger import BatchResult, Ledger
from projections.periods import AsOf, Calendar, PeriodKind, Window
from projections.snapshot import (
    Family,
    History,
    Sample,
    additive_families,
    configuration_families,
    point_in_time_families,
    roll_up,
)


def merge_totals(parts: Iterable[Mapping[Key, int]]) -> dict[Key, int]:
    merged: Counter[Key] = Counter()
    for part in parts:
        merged.update(part)
    return {key: value for key, value in merged.items() if value}


def export(
    totals: Mapping[Key, int],
    funnel: Funnel,
    calendar: Calendar,
    as_of_ts: int,
    history: History = History.LIVE,
    derived: bool = True,
) -> list[Family]:
    """Every exported family at the as-of instant, in a stable order.

    `derived=False` leaves out the ratios: a worker only sees its own leads, and the
    derived names belong to the recording rules that compute them from the sums.
    """
    as_of = AsOf.at(calendar, as_of_ts, funnel.history.of())
    rolled = roll_up(totals, calendar, as_of, history)
    families = [
        *additive_families(rolled, as_of),
        *instant_families(totals, funnel, calendar, as_of_ts),
        *(derived_families(rolled, funnel, calendar, as_of) if derived else ()),
    ]
    return sorted(families, key=lambda family: family.name)


def additive_export(
    totals: Mapping[Key, int], funnel: Funnel, calendar: Calendar, as_of_ts: int
) -> list[Family]:
    """The live additive families alone: they change only with the totals or the day."""
    as_of = AsOf.at(calendar, as_of_ts, funnel.history.of())
    return additive_families(roll_up(totals, calendar, as_of, History.LIVE), as_of)


def instant_families(
    totals: Mapping[Key, int], funnel: Funnel, calendar: Calendar, as_of_ts: int
) -> list[Family]:
    """Point-in-time and configuration families: they move with the as-of instant."""
    as_of = AsOf.at(calendar, as_of_ts, funnel.history.of())
    sources = {source for (_, source, _, _) in totals}
    return [
        *point_in_time_families(totals, funnel, calendar, as_of),
        *configuration_families(funnel, calendar, as_of, sources),
    ]


__all__ = [
    "UNKNOWN_SOURCE",
    "AsOf",
    "BatchResult",
    "Calendar",
    "Family",
    "Funnel",
    "History",
    "Key",
    "LeadState",
    "Ledger",
    "Outcome",
    "PeriodKind",
    "RatioBand",
    "Sample",
    "TargetOverrides",
    "Targets",
    "Window",
    "additive_export",
    "export",
    "instant_families",
    "merge_totals",
]
