"""The workers' environment settings (LEADFLOW_*): where Kafka is, topics, credentials, tuning.

Frozen: read once from the environment at start, then passed around. Other edges keep
their own beside their code (the gateway's in `gateway.settings`, Grafana's in
`leadflow.dashboards`, the runbook links' in `leadflow.rules`); the command line
turns a validation error into one line per variable (`leadflow.settings`).
"""

from __future__ import annotations

import re
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Self

from pydantic import AfterValidator, Field, FilePath, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from events.vocabulary import Duration
from streams.paths import user_data_dir

ENV_PREFIX = "LEADFLOW_"

_KAFKA_NAME = re.compile(r"[A-Za-z0-9._-]{1,249}")


def _kafka_name(name: str) -> str:
    # Kafka's own rule for topic names; the app id names the by-lead topic too.
    if not _KAFKA_NAME.fullmatch(name):
        raise ValueError("use 1-249 letters, digits, '.', '_' or '-'")
    return name


KafkaName = Annotated[str, AfterValidator(_kafka_name)]


class SecurityProtocol(StrEnum):
    PLAINTEXT = "PLAINTEXT"
    SSL = "SSL"
    SASL_PLAINTEXT = "SASL_PLAINTEXT"
    SASL_SSL = "SASL_SSL"


class SaslMechanism(StrEnum):
    PLAIN = "PLAIN"
    SCRAM_SHA_256 = "SCRAM-SHA-256"
    SCRAM_SHA_512 = "SCRAM-SHA-512"


class StoreKind(StrEnum):
    MEMORY = "memory"
    ROCKSDB = "rocksdb"


class KafkaSettings(BaseSettings):
    """Where Kafka is, how to log in, and the topics: what every Kafka client shares."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=True)

    kafka_bootstrap: str = "localhost:9092"
    topic: KafkaName = "lead-events"
    dlq_topic: KafkaName = "lead-events.dlq"
    partitions: Annotated[int, Field(ge=1, le=1024)] = 6
    app_id: KafkaName = "leadflow"

    security_protocol: SecurityProtocol = SecurityProtocol.PLAINTEXT
    sasl_mechanism: SaslMechanism | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_cafile: FilePath | None = None
    ssl_certfile: FilePath | None = None
    ssl_keyfile: FilePath | None = None

    @model_validator(mode="after")
    def _sasl_complete(self) -> Self:
        sasl = (SecurityProtocol.SASL_PLAINTEXT, SecurityProtocol.SASL_SSL)
        if self.security_protocol in sasl and (
            self.sasl_mechanism is None or not self.sasl_username
        ):
            raise ValueError(
                f"LEADFLOW_SECURITY_PROTOCOL={self.security_protocol} needs "
                "LEADFLOW_SASL_MECHANISM, LEADFLOW_SASL_USERNAME and LEADFLOW_SASL_PASSWORD"
            )
        return self


class WorkerSettings(KafkaSettings):
    """A worker's deployment: its Kafka, funnel config file, ports, state store and tuning.

    The funnel itself lives in the YAML config file.
    """

    config: Path | None = None

    metrics_host: str = "127.0.0.1"
    metrics_port: Annotated[int, Field(ge=0, le=65535)] = 9108

    store: StoreKind = StoreKind.MEMORY
    # Per user, not per working directory: a worker started anywhere finds its state.
    data_dir: Path = Field(default_factory=user_data_dir)
    batch_size: Annotated[int, Field(ge=1, le=100_000)] = 2000
    batch_timeout: Duration = Field(default="100ms")
    # Kafka messages (not events) each agent may hold ahead of processing: Faust's
    # default. A backfill of bulk messages fills it with up to 500x as many events.
    stream_buffer: Annotated[int, Field(ge=1, le=100_000)] = 4096
    session_timeout: Duration = Field(default="10s")
    # How often staged output is committed in one transaction per partition.
    commit_interval: Duration = Field(default="250ms")
    # Messages waiting and no progress for this long: the worker asks for a fresh
    # assignment, and exits (for its supervisor to restart) after three times as long.
    stall_timeout: Duration = Field(default="60s")
    uvloop: bool = True
