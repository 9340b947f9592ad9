"""What a worker owes Kafka for each unit of ownership, until one transaction delivers it.

A *unit* is what one transactional producer commits for: a lead partition (its
events, its by-lead partition, its changelog partition) or, when the events topic
has another partition count, one events partition (forwards and dead letters only).
Batches only stage output here: the leads whose state changed, the records to
forward or dead-letter, the input offsets consumed. The committer turns everything
staged since the last commit into one Kafka transaction, so state, forwards, dead
letters and offsets become visible together or not at all. No I/O here.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from faust.types import TP


@dataclass(frozen=True, slots=True)
class OutRecord:
    topic: str
    partition: int
    key: bytes | None
    value: bytes
    headers: tuple[tuple[str, bytes], ...] = ()


@dataclass
class Pending:
    """Output staged since the last commit of one unit."""

    dirty: set[str] = field(default_factory=set)  # leads whose state must be written
    records: list[OutRecord] = field(default_factory=list)  # forwards and dead letters
    offsets: dict[TP, int] = field(default_factory=dict)  # next offset per input partition
    processed: Counter[str] = field(default_factory=Counter)
    duplicates: Counter[str] = field(default_factory=Counter)
    dead_lettered: Counter[str] = field(default_factory=Counter)
    forwarded: int = 0

    @property
    def empty(self) -> bool:
        return not (self.dirty or self.records or self.offsets)

    @property
    def size(self) -> int:
        return len(self.dirty) + len(self.records)

    def absorb(self, older: Pending) -> None:
        """Take back a snapshot whose transaction failed; this one is newer."""
        self.dirty |= older.dirty
        self.records[:0] = older.records
        for tp, offset in older.offsets.items():
            self.offsets[tp] = max(offset, self.offsets.get(tp, offset))
        self.processed.update(older.processed)
        self.duplicates.update(older.duplicates)
        self.dead_lettered.update(older.dead_lettered)
        self.forwarded += older.forwarded


@dataclass(frozen=True, order=True, slots=True)
class Unit:
    """`lead` units own state; `ingest` units exist only for a non-copartitioned topic."""

    kind: str
    partition: int

    @property
    def transactional_suffix(self) -> str:
        return f"{self.kind}-{self.partition}"


def lead_unit(partition: int) -> Unit:
    return Unit("lead", partition)


def ingest_unit(partition: int) -> Unit:
    return Unit("ingest", partition)


@dataclass
class Outbox:
    """Pending output per owned unit; a unit not in here is not (or no longer) ours."""

    units: dict[Unit, Pending] = field(default_factory=dict)

    def open(self, unit: Unit) -> None:
        self.units[unit] = Pending()

    def close(self, unit: Unit) -> Pending | None:
        return self.units.pop(unit, None)

    def get(self, unit: Unit) -> Pending | None:
        return self.units.get(unit)

    def take(self, unit: Unit) -> Pending:
        """Everything staged for `unit`, leaving it a fresh, empty Pending."""
        pending = self.units[unit]
        self.units[unit] = Pending()
        return pending

    def give_back(self, unit: Unit, snapshot: Pending) -> None:
        current = self.units.get(unit)
        if current is not None:
            current.absorb(snapshot)

    @property
    def largest(self) -> int:
        return max((pending.size for pending in self.units.values()), default=0)
