"""Environment settings (LEADFLOW_*): where Kafka is, topic names, ports, credentials."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from events.vocabulary import Duration


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


class Settings(BaseSettings):
    """Everything deployment-specific; the funnel itself lives in the YAML config file."""

    model_config = SettingsConfigDict(env_prefix="LEADFLOW_", extra="ignore")

    kafka_bootstrap: str = "localhost:9092"
    topic: str = "lead-events"
    dlq_topic: str = "lead-events.dlq"
    partitions: Annotated[int, Field(ge=1, le=1024)] = 6
    app_id: str = "leadflow"
    config: Path | None = None

    metrics_host: str = "127.0.0.1"
    metrics_port: Annotated[int, Field(ge=0, le=65535)] = 9108
    web_port: Annotated[int, Field(ge=0, le=65535)] = 6066

    store: StoreKind = StoreKind.MEMORY
    data_dir: Path = Path("var/leadflow")
    batch_size: Annotated[int, Field(ge=1, le=100_000)] = 2000
    batch_timeout: Duration = Field(default="100ms")
    # Kafka messages (not events) each agent may hold ahead of processing: Faust's
    # default. A backfill of bulk messages fills it with up to 500x as many events.
    stream_buffer: Annotated[int, Field(ge=1, le=100_000)] = 4096
    session_timeout: Duration = Field(default="10s")
    # How often staged output is committed in one transaction per partition.
    commit_interval: Duration = Field(default="100ms")
    # Messages waiting and no progress for this long: the worker asks for a fresh
    # assignment, and exits (for its supervisor to restart) after three times as long.
    stall_timeout: Duration = Field(default="60s")
    uvloop: bool = True

    security_protocol: SecurityProtocol = SecurityProtocol.PLAINTEXT
    sasl_mechanism: SaslMechanism | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_cafile: Path | None = None
    ssl_certfile: Path | None = None
    ssl_keyfile: Path | None = None

    grafana_url: str = "http://localhost:3000"
    grafana_token: SecretStr | None = None
    grafana_folder: str = "Leadflow"
