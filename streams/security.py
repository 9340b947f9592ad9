"""Kafka connection security from the settings, for Faust and for kafka-python."""

from __future__ import annotations

from typing import Any

import faust

from streams.kafka_clients import aiokafka_security, require_sasl, ssl_context
from streams.settings import KafkaSettings, SecurityProtocol

__all__ = ["faust_credentials", "kafka_python_config", "ssl_context"]


def faust_credentials(settings: KafkaSettings) -> faust.types.auth.CredentialsT | None:
    protocol = settings.security_protocol
    context = ssl_context(settings)
    if protocol is SecurityProtocol.PLAINTEXT:
        return None
    if protocol is SecurityProtocol.SSL:
        return faust.SSLCredentials(context)
    require_sasl(settings)
    return faust.SASLCredentials(
        username=settings.sasl_username,
        password=settings.sasl_password.get_secret_value() if settings.sasl_password else None,
        mechanism=str(settings.sasl_mechanism),
        ssl_context=context,
    )


def kafka_python_config(settings: KafkaSettings) -> dict[str, Any]:
    """Connection keyword arguments for kafka-python's admin client and producer."""
    return {
        "bootstrap_servers": settings.kafka_bootstrap.split(","),
        # Fail fast with a clear message instead of kafka-python's 30 s default.
        "bootstrap_timeout_ms": 10_000,
        # kafka-python names its security arguments as aiokafka does.
        **aiokafka_security(settings),
    }
