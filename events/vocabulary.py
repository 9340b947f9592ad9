"""The configurable word lists an event is checked against: reasons, pipeline stages, skew."""

from __future__ import annotations

import re
from datetime import timedelta
from functools import cached_property
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidatorFunctionWrapHandler,
    WrapValidator,
    field_validator,
)

OTHER = "other"

DEFAULT_REJECTION_REASONS = (
    "wrong_fit",
    "no_budget",
    "bad_timing",
    "existing_customer",
    "bad_contact_data",
    "no_response",
    OTHER,
)
DEFAULT_LOSS_REASONS = ("price", "competitor", "no_decision", "timing", "product_fit", OTHER)
DEFAULT_PIPELINE_STAGES = ("discovery", "demo", "proposal", "negotiation")
DEFAULT_MAX_EVENT_BYTES = 64 * 1024
"""A real event is a few hundred bytes; 64 KiB leaves room for large unknown fields and
stays far below Kafka's default 1 MiB message limit, so a too-large event can still be
dead-lettered whole, with its headers."""


# A bare number is seconds: environment variables arrive as strings, and "10" must
# mean what the number 10 means in a YAML file.
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w|)\s*$")
_UNIT_SECONDS = {"": 1, "ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
DURATION_HINT = "use seconds (10) or 90s, 15m, 24h, 7d, 2w, or ISO 8601 (P3D)"


def parse_duration(value: Any) -> Any:
    """Accept "10", "90s", "15m", "24h", "7d", "2w" besides what pydantic reads (ISO 8601)."""
    if isinstance(value, str) and (match := _DURATION.match(value)):
        return timedelta(seconds=float(match[1]) * _UNIT_SECONDS[match[2]])
    return value


def _readable_duration_error(value: Any, handler: ValidatorFunctionWrapHandler) -> timedelta:
    # pydantic's own message ("day" identifier in duration not correctly formatted)
    # describes its parser, not what to type.
    try:
        return handler(parse_duration(value))
    except ValidationError as error:
        if all(item["type"].startswith("time_delta") for item in error.errors()):
            raise ValueError(f"not a duration; {DURATION_HINT}") from error
        raise


Duration = Annotated[timedelta, WrapValidator(_readable_duration_error)]


def _canonical(value: str) -> str:
    return value.strip().lower()


class Vocabulary(BaseModel):
    """What a valid event may say; replaced wholesale by the config file's lists."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    rejection_reasons: tuple[str, ...] = DEFAULT_REJECTION_REASONS
    loss_reasons: tuple[str, ...] = DEFAULT_LOSS_REASONS
    pipeline_stages: tuple[str, ...] = DEFAULT_PIPELINE_STAGES
    max_future_skew: Duration = Field(default=timedelta(minutes=5), ge=timedelta(0))
    supported_schema_versions: tuple[int, ...] = (1,)
    max_event_bytes: int = Field(default=DEFAULT_MAX_EVENT_BYTES, gt=0)

    @field_validator("rejection_reasons", "loss_reasons")
    @classmethod
    def _reasons_include_other(cls, reasons: tuple[str, ...]) -> tuple[str, ...]:
        # Unknown reasons are folded into `other`, so it must always be a label.
        canonical = tuple(dict.fromkeys(_canonical(r) for r in reasons if r.strip()))
        return canonical if OTHER in canonical else (*canonical, OTHER)

    @field_validator("pipeline_stages")
    @classmethod
    def _stages_canonical(cls, stages: tuple[str, ...]) -> tuple[str, ...]:
        canonical = tuple(dict.fromkeys(_canonical(s) for s in stages if s.strip()))
        if not canonical:
            raise ValueError("at least one pipeline stage is needed")
        return canonical

    @cached_property
    def max_future_skew_us(self) -> int:
        return self.max_future_skew // timedelta(microseconds=1)

    def rejection_reason(self, raw: str) -> str:
        reason = _canonical(raw)
        return reason if reason in self.rejection_reasons else OTHER

    def loss_reason(self, raw: str) -> str:
        reason = _canonical(raw)
        return reason if reason in self.loss_reasons else OTHER

    def pipeline_stage(self, raw: str) -> str | None:
        stage = _canonical(raw)
        return stage if stage in self.pipeline_stages else None
