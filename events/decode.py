"""Raw message bytes to a typed, normalised event, or a precise reason why not.

The fast path is one msgspec decode; only a failure pays for the slower pydantic
diagnosis that names the reason, so good input stays cheap.

Hostile input is bounded before it is parsed: an event larger than
`max_event_bytes` is `too-large`, a document nested deeper than `MAX_DEPTH` is
`not-json`, and `occurred_at` must fall in `SUPPORTED_OCCURRED_AT` so that no
later date arithmetic (local days, periods) can overflow. Nothing here raises on
any input bytes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from itertools import accumulate
from typing import Any, NamedTuple

import msgspec
import orjson
from pydantic import ValidationError

from events.batch import MAX_BATCH_ELEMENTS
from events.fastpath import DECODER, STRUCTS
from events.models import WIRE_EVENT
from events.types import EventType
from events.vocabulary import Vocabulary

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)

MAX_DEPTH = 64
"""The deepest nesting of arrays and objects an event may have (the event object is 1).

Below every parser's own limit (pydantic's JSON parser stops near 250 levels,
msgspec at Python's recursion limit, orjson at 1024), so all of them agree.
"""

SUPPORTED_OCCURRED_AT = (
    datetime(1970, 1, 1, tzinfo=UTC),
    datetime(2200, 1, 1, tzinfo=UTC),
)
"""[earliest, latest) instant accepted: local days, ISO weeks, months and quarters of
every time zone stay exact and far from the limits of Python's dates in this range."""


_FAST_KINDS = {struct: EventType(struct.__struct_config__.tag) for struct in STRUCTS.values()}


class RejectReason(StrEnum):
    """Machine-readable dead-letter reasons (the `reason` header of the DLQ)."""

    NOT_UTF8 = "not-utf8"
    NOT_JSON = "not-json"
    NOT_OBJECT = "not-object"
    MISSING_FIELD = "missing-field"
    BAD_TYPE = "bad-type"
    UNKNOWN_TYPE = "unknown-type"
    OUT_OF_RANGE = "out-of-range"
    BAD_TIMESTAMP = "bad-timestamp"
    NAIVE_TIMESTAMP = "naive-timestamp"
    FUTURE_TIMESTAMP = "future-timestamp"
    UNKNOWN_STAGE = "unknown-stage"
    UNSUPPORTED_VERSION = "unsupported-version"
    TOO_LARGE = "too-large"


@dataclass(frozen=True, slots=True)
class Rejection:
    reason: RejectReason
    detail: str

    def __str__(self) -> str:
        return f"{self.reason}: {self.detail}"


class Event(NamedTuple):
    """A valid event, normalised: UTC microseconds, canonical reasons and stages.

    A named tuple because one is built per message: it is several times cheaper to
    construct than a frozen dataclass, and just as immutable.
    """

    event_id: str
    type: EventType
    lead_id: str
    ts: int  # occurred_at, microseconds since the Unix epoch
    source: str | None = None
    campaign: str | None = None
    segment: str | None = None
    score: int | None = None
    reason: str | None = None
    stage: str | None = None
    amount_cents: int | None = None


def to_micros(moment: datetime) -> int:
    # Integer arithmetic keeps microsecond exactness that float timestamps lose.
    return (moment - _EPOCH) // _MICROSECOND


def from_micros(ts: int) -> datetime:
    return _EPOCH + timedelta(microseconds=ts)


def now_micros() -> int:
    return to_micros(datetime.now(UTC))


_MIN_TS = (SUPPORTED_OCCURRED_AT[0] - _EPOCH) // _MICROSECOND
_MAX_TS = (SUPPORTED_OCCURRED_AT[1] - _EPOCH) // _MICROSECOND


def decode(raw: bytes, vocabulary: Vocabulary, now_us: int) -> Event | Rejection:
    """Decode one message; `now_us` is the wall clock used for the future-skew check."""
    if len(raw) > vocabulary.max_event_bytes:
        return _too_large(raw, vocabulary)
    try:
        wire = DECODER.decode(raw)
    except (msgspec.DecodeError, RecursionError):
        return _reference(raw, vocabulary, now_us)
    if _deep(raw):  # msgspec skips unknown fields at any depth; the reference names it
        return _reference(raw, vocabulary, now_us)
    return _accept(wire, _FAST_KINDS[type(wire)], vocabulary, now_us)


def decode_reference(raw: bytes, vocabulary: Vocabulary, now_us: int) -> Event | Rejection:
    """The pydantic-only path: the contract's reference, which the fast path must match.

    It names the reason for a rejection, and has the last word if the fast path
    ever refuses something the contract allows.
    """
    if len(raw) > vocabulary.max_event_bytes:
        return _too_large(raw, vocabulary)
    return _reference(raw, vocabulary, now_us)


def _reference(raw: bytes, vocabulary: Vocabulary, now_us: int) -> Event | Rejection:
    if _deep(raw):
        return _diagnose(raw, None, vocabulary)
    try:
        wire = WIRE_EVENT.validate_json(raw)
    except ValidationError as error:
        return _diagnose(raw, error, vocabulary)
    return _accept(wire, EventType(wire.type), vocabulary, now_us)


def _too_large(raw: bytes, vocabulary: Vocabulary) -> Rejection:
    detail = (
        f"{len(raw):,} bytes; an event may have at most {vocabulary.max_event_bytes:,} "
        "(max_event_bytes)"
    )
    if raw.lstrip(b" \t\r\n").startswith(b"["):
        detail += f"; a bulk message is split into its events only up to {MAX_BATCH_ELEMENTS:,}"
    return Rejection(RejectReason.TOO_LARGE, detail)


_STRING = re.compile(rb'"(?:[^"\\]|\\.)*+"', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_STEP = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}


def nesting_depth(raw: bytes) -> int:
    """How deeply arrays and objects nest in `raw` (brackets inside strings ignored).

    Linear in the size, and only run when the message has more than MAX_DEPTH
    brackets at all, which no real event has.
    """
    brackets = _STRING.sub(b"", raw).translate(None, _NOT_BRACKETS)
    return max(accumulate(map(_STEP.__getitem__, brackets)), default=0)


def _deep(raw: bytes) -> bool:
    return raw.count(b"[") + raw.count(b"{") > MAX_DEPTH and nesting_depth(raw) > MAX_DEPTH


def _accept(wire: Any, kind: EventType, vocabulary: Vocabulary, now_us: int) -> Event | Rejection:
    if wire.schema_version not in vocabulary.supported_schema_versions:
        return _unsupported(wire.schema_version, vocabulary)
    ts = to_micros(wire.occurred_at)
    if ts > now_us + vocabulary.max_future_skew_us:
        ahead = timedelta(microseconds=ts - now_us)
        return Rejection(
            RejectReason.FUTURE_TIMESTAMP,
            f"occurred_at {wire.occurred_at.isoformat()} is {ahead} ahead of the clock "
            f"(max_future_skew {vocabulary.max_future_skew})",
        )
    if not _MIN_TS <= ts < _MAX_TS:
        earliest, latest = SUPPORTED_OCCURRED_AT
        return Rejection(
            RejectReason.OUT_OF_RANGE,
            f"field 'occurred_at': {wire.occurred_at.isoformat()} is outside the supported "
            f"range {earliest:%Y-%m-%dT%H:%M:%SZ} (inclusive) to "
            f"{latest:%Y-%m-%dT%H:%M:%SZ} (exclusive)",
        )
    reason = stage = cents = None
    if kind is EventType.LEAD_REJECTED:
        reason = vocabulary.rejection_reason(wire.reason)
    elif kind is EventType.DEAL_LOST:
        reason = vocabulary.loss_reason(wire.reason)
    elif kind is EventType.OPPORTUNITY_STAGE_CHANGED:
        stage = vocabulary.pipeline_stage(wire.stage)
        if stage is None:
            return Rejection(
                RejectReason.UNKNOWN_STAGE,
                f"stage {wire.stage!r} is not a configured pipeline stage "
                f"({', '.join(vocabulary.pipeline_stages)})",
            )
    elif kind is EventType.OPPORTUNITY_CREATED or kind is EventType.DEAL_WON:
        amount = wire.amount
        cents = None if amount is None else round(amount * 100)
    if kind is EventType.LEAD_CREATED:
        return Event(
            wire.event_id,
            kind,
            wire.lead_id,
            ts,
            wire.source,
            wire.campaign,
            wire.segment,
            wire.score,
        )
    score = wire.score if kind is EventType.LEAD_SCORED else None
    return Event(
        wire.event_id, kind, wire.lead_id, ts, None, None, None, score, reason, stage, cents
    )


def _unsupported(version: object, vocabulary: Vocabulary) -> Rejection:
    supported = ", ".join(str(v) for v in vocabulary.supported_schema_versions)
    return Rejection(
        RejectReason.UNSUPPORTED_VERSION,
        f"schema_version {version!r} is not supported (supported: {supported})",
    )


# pydantic error types, most specific first; the first match names the rejection.
_ERROR_REASONS: tuple[tuple[frozenset[str], RejectReason], ...] = (
    (frozenset({"union_tag_invalid"}), RejectReason.UNKNOWN_TYPE),
    (frozenset({"union_tag_not_found", "missing"}), RejectReason.MISSING_FIELD),
    (frozenset({"timezone_aware"}), RejectReason.NAIVE_TIMESTAMP),
    (frozenset({"datetime_parsing", "datetime_from_date_parsing"}), RejectReason.BAD_TIMESTAMP),
    (
        frozenset(
            {
                "greater_than",
                "greater_than_equal",
                "less_than",
                "less_than_equal",
                "string_too_short",
                "string_too_long",
                "finite_number",
                "datetime_object_invalid",
            }
        ),
        RejectReason.OUT_OF_RANGE,
    ),
)


def _diagnose(raw: bytes, error: ValidationError | None, vocabulary: Vocabulary) -> Rejection:
    """Why `raw` is not a valid event; `error` is pydantic's, None if it was not asked."""
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as bad:
        return Rejection(RejectReason.NOT_UTF8, f"invalid UTF-8 at byte {bad.start}")
    if _deep(raw):
        return Rejection(
            RejectReason.NOT_JSON,
            f"arrays and objects nested {nesting_depth(raw)} levels deep; "
            f"at most {MAX_DEPTH} are allowed",
        )
    try:
        document = orjson.loads(raw)
    except orjson.JSONDecodeError as bad:
        return Rejection(RejectReason.NOT_JSON, str(bad))
    assert error is not None, "only too-deep documents skip pydantic"
    if isinstance(document, list) and len(document) > MAX_BATCH_ELEMENTS:
        return Rejection(
            RejectReason.NOT_OBJECT,
            f"a JSON array of {len(document):,} elements, not an object (a bulk message "
            f"is split into its events only up to {MAX_BATCH_ELEMENTS:,})",
        )
    if not isinstance(document, dict):
        return Rejection(
            RejectReason.NOT_OBJECT, f"a JSON {type(document).__name__}, not an object"
        )
    version = document.get("schema_version", 1)
    if type(version) is int and version not in vocabulary.supported_schema_versions:
        return _unsupported(version, vocabulary)
    details = error.errors(include_url=False, include_input=False)
    for kinds, reason in _ERROR_REASONS:
        for detail in details:
            if detail["type"] in kinds:
                return Rejection(reason, _describe(detail))
    return Rejection(RejectReason.BAD_TYPE, _describe(details[0]))


def _describe(detail: Any) -> str:
    # The first location element is the union tag; the field is what users need.
    loc = [str(part) for part in detail["loc"][1:]] or [str(p) for p in detail["loc"]]
    field = ".".join(loc) or "type"
    if detail["type"] == "union_tag_invalid":
        return str(detail["msg"])
    if detail["type"] == "union_tag_not_found":
        return "field 'type' is required"
    return f"field {field!r}: {detail['msg']}"
