"""Kafka connection security from the settings, for Faust and for kafka-python."""

from __future__ import annotations

import ssl
from typing import Any

import faust

from leadflow.errors import UserError
from leadflow.settings import SecurityProtocol, Settings


def ssl_context(settings: Settings) -> ssl.SSLContext | None:
    if settings.security_protocol not in (SecurityProtocol.SSL, SecurityProtocol.SASL_SSL):
        return None
    try:
        context = ssl.create_default_context(
            cafile=str(settings.ssl_cafile) if settings.ssl_cafile else None
        )
    except ssl.SSLError as error:
        raise UserError(
            f"LEADFLOW_SSL_CAFILE={str(settings.ssl_cafile)!r}: no CA certificate in it "
            f"({error.reason or error})"
        ) from error
    if settings.ssl_certfile:
        try:
            context.load_cert_chain(
                str(settings.ssl_certfile),
                str(settings.ssl_keyfile) if settings.ssl_keyfile else None,
            )
        except ssl.SSLError as error:
            raise UserError(
                f"LEADFLOW_SSL_CERTFILE={str(settings.ssl_certfile)!r} and LEADFLOW_SSL_KEYFILE: "
                f"not a client certificate and its key ({error.reason or error})"
            ) from error
    return context


def faust_credentials(settings: Settings) -> faust.types.auth.CredentialsT | None:
    protocol = settings.security_protocol
    context = ssl_context(settings)
    if protocol is SecurityProtocol.PLAINTEXT:
        return None
    if protocol is SecurityProtocol.SSL:
        return faust.SSLCredentials(context)
    _require_sasl(settings)
    return faust.SASLCredentials(
        username=settings.sasl_username,
        password=settings.sasl_password.get_secret_value() if settings.sasl_password else None,
        mechanism=str(settings.sasl_mechanism),
        ssl_context=context,
    )


def kafka_python_config(settings: Settings) -> dict[str, Any]:
    """Connection keyword arguments for kafka-python's admin client and producer."""
    config: dict[str, Any] = {
        "bootstrap_servers": settings.kafka_bootstrap.split(","),
        "security_protocol": str(settings.security_protocol),
        # Fail fast with a clear message instead of kafka-python's 30 s default.
        "bootstrap_timeout_ms": 10_000,
    }
    context = ssl_context(settings)
    if context is not None:
        config["ssl_context"] = context
    if settings.security_protocol in (SecurityProtocol.SASL_PLAINTEXT, SecurityProtocol.SASL_SSL):
        _require_sasl(settings)
        config["sasl_mechanism"] = str(settings.sasl_mechanism)
        config["sasl_plain_username"] = settings.sasl_username
        config["sasl_plain_password"] = (
            settings.sasl_password.get_secret_value() if settings.sasl_password else None
        )
    return config


def _require_sasl(settings: Settings) -> None:
    if settings.sasl_mechanism is None or not settings.sasl_username:
        raise ValueError(
            f"LEADFLOW_SECURITY_PROTOCOL={settings.security_protocol} needs "
            "LEADFLOW_SASL_MECHANISM, LEADFLOW_SASL_USERNAME and LEADFLOW_SASL_PASSWORD"
        )
