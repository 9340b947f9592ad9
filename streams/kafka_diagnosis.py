"""Why a Kafka connection fails, in words an operator can act on.

Kafka clients retry a failed bootstrap until a timeout and then report only that
they could not bootstrap; the cause (a refused login, an untrusted certificate)
goes to their logs, if anywhere. One direct connection attempt with the same
settings names it.
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass

from aiokafka.conn import create_conn
from aiokafka.errors import (
    KafkaConnectionError,
    KafkaError,
    SaslAuthenticationFailed,
    UnsupportedSaslMechanismError,
)

from streams.kafka_clients import aiokafka_security
from streams.settings import KafkaSettings, SecurityProtocol

_TLS = (SecurityProtocol.SSL, SecurityProtocol.SASL_SSL)


@dataclass(frozen=True)
class Diagnosis:
    """Why no bootstrap server could be used, and whether waiting could change that."""

    reason: str
    # A refused login, an untrusted certificate or the wrong protocol stays so until
    # the configuration changes; a refused or timed-out connection may be a restart.
    misconfigured: bool

    def __str__(self) -> str:
        return self.reason


async def diagnose(settings: KafkaSettings, timeout: float = 10.0) -> Diagnosis | None:
    """None if a bootstrap server accepts a connection with the settings; else why none does."""
    servers = [server.strip() for server in settings.kafka_bootstrap.split(",")]
    reasons = []
    misconfigured = True
    for server in servers:
        host, _, port = server.rpartition(":")
        try:
            connection = await asyncio.wait_for(
                create_conn(
                    host,
                    int(port),
                    request_timeout_ms=int(timeout * 1000),
                    **aiokafka_security(settings),
                ),
                timeout,
            )
        except Exception as error:  # every failure is explained, none is fatal here
            reason = explain(error, settings, timeout)
            reasons.append(reason if len(servers) == 1 else f"{server}: {reason}")
            misconfigured = misconfigured and _is_configuration(error, settings)
            continue
        connection.close()
        return None
    return Diagnosis("; ".join(reasons), misconfigured)


def diagnose_now(settings: KafkaSettings, timeout: float = 10.0) -> Diagnosis | None:
    """`diagnose` for synchronous callers (the command-line tools)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(diagnose(settings, timeout))
    return None  # inside a running loop the caller must await diagnose() itself


def _is_configuration(error: BaseException, settings: KafkaSettings) -> bool:
    if isinstance(error, SaslAuthenticationFailed | UnsupportedSaslMechanismError | ssl.SSLError):
        return True
    # A listener that drops a handshake it does not speak, either way round.
    if isinstance(error, KafkaConnectionError):
        return True
    return isinstance(error, ConnectionResetError) and settings.security_protocol in _TLS


def explain(error: BaseException, settings: KafkaSettings, timeout: float) -> str:
    protocol = settings.security_protocol
    if isinstance(error, SaslAuthenticationFailed):
        return (
            f"SASL {settings.sasl_mechanism} login as {settings.sasl_username!r} refused "
            f"({_broker_message(error)}); check LEADFLOW_SASL_USERNAME and LEADFLOW_SASL_PASSWORD"
        )
    if isinstance(error, UnsupportedSaslMechanismError):
        return (
            f"the listener does not offer SASL mechanism {settings.sasl_mechanism} "
            f"({_broker_message(error)}); check LEADFLOW_SASL_MECHANISM"
        )
    if isinstance(error, ssl.SSLCertVerificationError):
        return (
            f"the broker's TLS certificate is not trusted ({error.verify_message}); "
            "check LEADFLOW_SSL_CAFILE"
        )
    if isinstance(error, ssl.SSLError):
        return (
            f"TLS handshake failed ({error.reason or error}); is this a TLS listener? "
            f"(LEADFLOW_SECURITY_PROTOCOL={protocol})"
        )
    if isinstance(error, ConnectionRefusedError):
        return "connection refused: nothing is listening there"
    if isinstance(error, ConnectionResetError) and protocol in _TLS:
        return (
            "the broker dropped the TLS handshake; is this a TLS listener? "
            f"(LEADFLOW_SECURITY_PROTOCOL={protocol})"
        )
    if isinstance(error, TimeoutError):
        return f"no answer within {timeout:g}s"
    if isinstance(error, KafkaConnectionError):
        return (
            "the broker closed the connection; does this listener need another "
            f"security protocol than LEADFLOW_SECURITY_PROTOCOL={protocol}?"
        )
    if isinstance(error, OSError):
        return f"cannot connect: {error.strerror or type(error).__name__}"
    return f"{type(error).__name__}: {error}"


def _broker_message(error: KafkaError) -> str:
    # aiokafka prefixes the broker's text with "[Error 58] SaslAuthenticationFailed: ".
    return str(error).split(": ", 1)[-1]
