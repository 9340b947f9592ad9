"""Kafka connection security for the clients that are not Faust (aiokafka, diagnosis).

Faust-free on purpose: the gateway and the command-line tools use it without
importing the stream processor.
"""

from __future__ import annotations

import ssl
from typing import Any

from streams.settings import KafkaSettings, SecurityProtocol

_SASL = (SecurityProtocol.SASL_PLAINTEXT, SecurityProtocol.SASL_SSL)


class KafkaSecurityError(ValueError):
    """A TLS file that exists but holds no usable certificate; the message names its variable.

    The command line reports it as one line, like any other bad setting.
    """


def ssl_context(settings: KafkaSettings) -> ssl.SSLContext | None:
    """The TLS context of an SSL or SASL_SSL connection; None for plaintext ones."""
    if settings.security_protocol not in (SecurityProtocol.SSL, SecurityProtocol.SASL_SSL):
        return None
    try:
        context = ssl.create_default_context(
            cafile=str(settings.ssl_cafile) if settings.ssl_cafile else None
        )
    except ssl.SSLError as error:
        raise KafkaSecurityError(
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
            raise KafkaSecurityError(
                f"LEADFLOW_SSL_CERTFILE={str(settings.ssl_certfile)!r} and LEADFLOW_SSL_KEYFILE: "
                f"not a client certificate and its key ({error.reason or error})"
            ) from error
    return context


def require_sasl(settings: KafkaSettings) -> None:
    if settings.sasl_mechanism is None or not settings.sasl_username:
        raise ValueError(
            f"LEADFLOW_SECURITY_PROTOCOL={settings.security_protocol} needs "
            "LEADFLOW_SASL_MECHANISM, LEADFLOW_SASL_USERNAME and LEADFLOW_SASL_PASSWORD"
        )


def aiokafka_security(settings: KafkaSettings) -> dict[str, Any]:
    """Security keyword arguments shared by aiokafka's clients and `create_conn`."""
    config: dict[str, Any] = {"security_protocol": str(settings.security_protocol)}
    context = ssl_context(settings)
    if context is not None:
        config["ssl_context"] = context
    if settings.security_protocol in _SASL:
        require_sasl(settings)
        config["sasl_mechanism"] = str(settings.sasl_mechanism)
        config["sasl_plain_username"] = settings.sasl_username
        config["sasl_plain_password"] = (
            settings.sasl_password.get_secret_value() if settings.sasl_password else None
        )
    return config
