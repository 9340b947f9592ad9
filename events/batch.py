"""Bulk messages: one Kafka message (or replay line) carrying a JSON array of events.

A compatible extension of the contract: a value whose first non-blank byte is `[`
is a batch, and each element is decoded (and, if bad, dead-lettered) on its own,
with its original bytes. Anything else is a single event, as before.
"""

from __future__ import annotations

import msgspec

_ELEMENTS = msgspec.json.Decoder(list[msgspec.Raw])
_BLANK = b" \t\r\n"


def split_batch(raw: bytes) -> list[bytes] | None:
    """The elements' bytes if `raw` is a JSON array, else None (a single event).

    An array that is not valid JSON is None too: the whole message is then decoded
    as one event and rejected as not-json, bytes intact.
    """
    if not raw.lstrip(_BLANK).startswith(b"["):
        return None
    try:
        return [bytes(element) for element in _ELEMENTS.decode(raw)]
    except msgspec.DecodeError:
        return None


def join_batch(elements: list[bytes]) -> bytes:
    """A batch message from JSON-object lines, each kept byte for byte."""
    return b"[" + b",".join(elements) + b"]"
