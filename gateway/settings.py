"""Gateway settings from the environment (LEADFLOW_GATEWAY_*), typed and frozen.

Kafka itself (bootstrap servers, topic, TLS and SASL) comes from the same
LEADFLOW_* settings the workers read, so one environment serves both.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Annotated, Self

from limits import parse_many
from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from events.vocabulary import Duration
from gateway.tokens import TokenHash, TokenName


class GatewaySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LEADFLOW_GATEWAY_", extra="ignore", frozen=True)

    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=0, le=65535)] = 8088

    # Bearer tokens as name -> "sha256:<hex>", e.g. LEADFLOW_GATEWAY_TOKENS='{"crm": "sha256:…"}',
    # and/or a file of "name sha256:<hex>" lines; `leadflow gateway token NAME` makes both.
    tokens: dict[TokenName, TokenHash] = Field(default_factory=dict)
    tokens_file: Path | None = None

    # TLS for the HTTP listener; without it, terminate TLS in front of the gateway.
    tls_certfile: Path | None = None
    tls_keyfile: Path | None = None

    max_body_bytes: Annotated[int, Field(ge=1024, le=64 * 1024 * 1024)] = 1024 * 1024
    max_events: Annotated[int, Field(ge=1, le=10_000)] = 500
    # Requests per token, in the `limits` notation: "50/second", "50/second;1000/minute".
    rate_limit: str = "50/second"

    # How long a request waits for Kafka to acknowledge its events before a 503.
    kafka_timeout: Duration = Field(default=timedelta(seconds=10))
    # Retry-After on a 503: a broker outage is rarely over in less.
    retry_after: Duration = Field(default=timedelta(seconds=5))

    @field_validator("rate_limit")
    @classmethod
    def _rate_limit_parses(cls, value: str) -> str:
        try:
            parse_many(value)
        except ValueError as error:
            raise ValueError(
                f"not a rate limit like '50/second' or '10/second;300/minute': {error}"
            ) from None
        return value

    @field_validator("kafka_timeout", "retry_after")
    @classmethod
    def _positive(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0):
            raise ValueError("must be positive")
        return value

    @model_validator(mode="after")
    def _tls_pair(self) -> Self:
        if (self.tls_certfile is None) != (self.tls_keyfile is None):
            raise ValueError("TLS needs both LEADFLOW_GATEWAY_TLS_CERTFILE and _TLS_KEYFILE")
        return self
