"""The aiohttp application: routes, authentication, limits, and the events endpoint."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from aiokafka.errors import KafkaError
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from events import Rejection, Vocabulary, now_micros
from gateway.intake import Checked, check, split_body
from gateway.metrics import GatewayMetrics
from gateway.openapi import openapi_document
from gateway.publisher import MAX_EVENT_BYTES, KafkaUnavailable, Publisher, create_producer
from gateway.ratelimit import TokenRateLimit
from gateway.responses import ErrorCode
from gateway.settings import GatewaySettings
from gateway.tokens import TokenStore
from streams.kafka_diagnosis import diagnose
from streams.settings import KafkaSettings

log = logging.getLogger("leadflow.gateway")
_TOKEN = "leadflow.token_name"  # request key: the access log names the token, never shows it
_READY_TIMEOUT = 2.0


@dataclass(frozen=True)
class Gateway:
    """Everything the handlers share; built once by the command."""

    settings: GatewaySettings
    kafka: KafkaSettings
    tokens: TokenStore
    vocabulary: Vocabulary
    limits: TokenRateLimit
    metrics: GatewayMetrics


GATEWAY = web.AppKey("gateway", Gateway)
PUBLISHER = web.AppKey("publisher", Publisher)
OPENAPI = web.AppKey("openapi", bytes)


class GatewayStartError(RuntimeError):
    """The gateway cannot serve: the message says why, without secrets."""


class Refusal(Exception):
    """A whole request refused: one status, one error code, nothing accepted."""

    def __init__(
        self, status: int, error: ErrorCode, detail: str, retry_after: int | None = None
    ) -> None:
        super().__init__(detail)
        self.status, self.error, self.detail, self.retry_after = status, error, detail, retry_after

    def response(self) -> web.Response:
        body: dict[str, Any] = {"error": str(self.error), "detail": self.detail}
        headers = {}
        if self.status == 401:
            headers["WWW-Authenticate"] = 'Bearer realm="leadflow"'
        if self.retry_after is not None:
            body["retry_after"] = self.retry_after
            headers["Retry-After"] = str(self.retry_after)
        return _json(self.status, body, headers)


def create_app(gateway: Gateway) -> web.Application:
    settings = gateway.settings
    app = web.Application(client_max_size=settings.max_body_bytes)
    app[GATEWAY] = gateway
    app[OPENAPI] = orjson.dumps(openapi_document(settings.max_events, settings.max_body_bytes))
    app.cleanup_ctx.append(_kafka)
    app.router.add_post("/v1/events", post_events)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/openapi.json", openapi)
    return app


async def _kafka(app: web.Application) -> AsyncIterator[None]:
    """Connect before serving, so a wrong password or certificate stops the start."""
    gateway = app[GATEWAY]
    kafka = gateway.kafka
    timeout = gateway.settings.kafka_timeout.total_seconds()
    producer = create_producer(kafka)
    publisher = Publisher(producer, kafka.topic, timeout)
    try:
        await asyncio.wait_for(producer.start(), timeout)
        missing = await publisher.reachable(timeout)
    except (KafkaError, OSError, TimeoutError) as error:
        await producer.stop()
        reason = str(await diagnose(kafka) or error) or type(error).__name__
        raise GatewayStartError(
            f"cannot reach Kafka at {kafka.kafka_bootstrap}: {reason}"
        ) from error
    if missing is not None:
        await producer.stop()
        raise GatewayStartError(f"{missing} at {kafka.kafka_bootstrap}; `leadflow topics` makes it")
    app[PUBLISHER] = publisher
    yield
    # Every handler has answered by now, so whatever is still queued belongs to requests
    # that got a 503: worth delivering, not worth waiting for past the Kafka timeout.
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(producer.stop(), timeout)


async def post_events(request: web.Request) -> web.Response:
    gateway = request.app[GATEWAY]
    started = time.perf_counter()
    status = 500
    try:
        response = await _events(request, gateway)
        status = response.status
        return response
    finally:
        gateway.metrics.requests.labels(str(status)).inc()
        gateway.metrics.latency.observe(time.perf_counter() - started)


async def _events(request: web.Request, gateway: Gateway) -> web.Response:
    settings = gateway.settings
    try:
        name = _authenticate(request, gateway.tokens)
        request[_TOKEN] = name
        wait = await gateway.limits.hit(name)
        if wait is not None:
            raise Refusal(
                429, ErrorCode.RATE_LIMITED, f"rate limit {settings.rate_limit} used up", wait
            )
        items = split_body(await _read(request, settings.max_body_bytes))
        _check_sizes(items, settings.max_events)
        checked = check(items, gateway.vocabulary, now_micros())
        accepted = [item for item in checked if item.event is not None]
        for item in checked:
            if isinstance(item.outcome, Rejection):
                gateway.metrics.rejected.labels(str(item.outcome.reason)).inc()
        if accepted:
            await _publish(request.app[PUBLISHER], accepted, name, settings)
            gateway.metrics.accepted.labels(name).inc(len(accepted))
    except Refusal as refusal:
        return refusal.response()
    status = 202 if len(accepted) == len(checked) else 400 if not accepted else 207
    return _json(status, _results(checked, len(accepted)))


def _authenticate(request: web.Request, tokens: TokenStore) -> str:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Refusal(401, ErrorCode.UNAUTHORIZED, "an Authorization: Bearer token is required")
    name = tokens.identify(token.strip())
    if name is None:
        raise Refusal(401, ErrorCode.UNAUTHORIZED, "the bearer token is not valid")
    return name


async def _read(request: web.Request, limit: int) -> bytes:
    too_large = Refusal(413, ErrorCode.BODY_TOO_LARGE, f"the body is larger than {limit} bytes")
    # Content-Length refuses honest clients before reading; the read limit catches the rest.
    if request.content_length is not None and request.content_length > limit:
        raise too_large
    try:
        return await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise too_large from None


def _check_sizes(items: list[bytes], max_events: int) -> None:
    if not items:
        raise Refusal(400, ErrorCode.NO_EVENTS, "the array holds no events")
    if len(items) > max_events:
        raise Refusal(
            413,
            ErrorCode.TOO_MANY_EVENTS,
            f"{len(items)} events in one request; the limit is {max_events}",
        )
    for index, raw in enumerate(items):
        if len(raw) > MAX_EVENT_BYTES:
            raise Refusal(
                413,
                ErrorCode.EVENT_TOO_LARGE,
                f"event {index} is {len(raw)} bytes; Kafka takes at most {MAX_EVENT_BYTES}",
            )


async def _publish(
    publisher: Publisher, accepted: list[Checked], name: str, settings: GatewaySettings
) -> None:
    try:
        await publisher.publish(accepted, name)
    except KafkaUnavailable as error:
        log.warning("503 for token %s (%d events): %s", name, len(accepted), error)
        retry = max(1, round(settings.retry_after.total_seconds()))
        raise Refusal(503, ErrorCode.KAFKA_UNAVAILABLE, str(error), retry) from error


def _results(checked: list[Checked], accepted: int) -> dict[str, Any]:
    results: list[dict[str, Any]] = []
    for item in checked:
        outcome = item.outcome
        if isinstance(outcome, Rejection):
            results.append(
                {
                    "index": item.index,
                    "status": "rejected",
                    "reason": str(outcome.reason),
                    "detail": outcome.detail,
                }
            )
        else:
            results.append(
                {
                    "index": item.index,
                    "status": "accepted",
                    "event_id": outcome.event_id,
                    "lead_id": outcome.lead_id,
                }
            )
    return {"accepted": accepted, "rejected": len(checked) - accepted, "results": results}


async def healthz(request: web.Request) -> web.Response:
    return _json(200, {"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    gateway = request.app[GATEWAY]
    problem = await request.app[PUBLISHER].reachable(_READY_TIMEOUT)
    if problem is None:
        return _json(200, {"ready": True, "kafka": "ok"})
    cause = await diagnose(gateway.kafka, _READY_TIMEOUT)
    return _json(
        503, {"ready": False, "kafka": problem if cause is None else f"{problem}: {cause}"}
    )


async def openapi(request: web.Request) -> web.Response:
    return web.Response(body=request.app[OPENAPI], content_type="application/json")


async def metrics(request: web.Request) -> web.Response:
    body = generate_latest(request.app[GATEWAY].metrics.registry)
    return web.Response(body=body, content_type=CONTENT_TYPE_LATEST.split(";")[0])


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        status=status, body=orjson.dumps(body), content_type="application/json", headers=headers
    )


class AccessLog(AbstractAccessLogger):
    """Method, path, status, time and token name; never headers, bodies or query strings,
    which is where tokens and personal data would be."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        self.logger.info(
            "%s %s %s %d %.1fms token=%s",
            request.remote,
            request.method,
            request.path,
            response.status,
            time * 1000,
            request.get(_TOKEN, "-"),
        )
