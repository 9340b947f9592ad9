"""A request body to events, each checked by the workers' own contract code.

A body is one event (a JSON object) or a JSON array of them, the same forms a
Kafka message may take. Each element keeps its original bytes: those bytes go to
Kafka, so the workers decode exactly what was checked here.
"""

from __future__ import annotations

from dataclasses import dataclass

from events import Event, Rejection, Vocabulary, decode
from events.batch import split_batch


@dataclass(frozen=True, slots=True)
class Checked:
    index: int
    raw: bytes
    outcome: Event | Rejection

    @property
    def event(self) -> Event | None:
        return self.outcome if isinstance(self.outcome, Event) else None


def split_body(body: bytes) -> list[bytes]:
    """The elements of a JSON array, else the whole body as one event.

    A body that starts like an array but is not valid JSON is one event too, which
    the contract then rejects as not-json, as a worker would.
    """
    elements = split_batch(body)
    return [body] if elements is None else elements


def check(items: list[bytes], vocabulary: Vocabulary, now_us: int) -> list[Checked]:
    return [Checked(index, raw, decode(raw, vocabulary, now_us)) for index, raw in enumerate(items)]
