"""`leadflow gateway`: serve the HTTP gateway; `token` and `openapi` help set it up."""

from __future__ import annotations

import argparse
import json
import logging
import ssl
import sys


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "gateway",
        help="HTTP gateway: POST /v1/events with a bearer token, onto the events topic",
        description="Serve the gateway (LEADFLOW_GATEWAY_* settings), or help set it up.",
    )
    parser.add_argument("--loglevel", default="info", help="debug, info, warning, error")
    parser.set_defaults(func=serve)
    sub = parser.add_subparsers(dest="gateway_command", metavar="{token,openapi}")
    token = sub.add_parser(
        "token",
        help="make a new bearer token: the tokens-file line on stdout, the token on stderr",
    )
    token.add_argument("name", help="who uses it (letters, digits, . _ -); a Kafka header")
    token.set_defaults(func=make_token)
    openapi = sub.add_parser("openapi", help="print the gateway's OpenAPI document")
    openapi.set_defaults(func=print_openapi)


def make_token(args: argparse.Namespace) -> int:
    from pydantic import TypeAdapter, ValidationError

    from gateway.tokens import TokenName, hash_token, new_token

    try:
        TypeAdapter(TokenName).validate_python(args.name)
    except ValidationError:
        print(f"leadflow gateway token: {args.name!r} is not a valid name", file=sys.stderr)
        return 2
    token = new_token()
    print(f"{args.name} {hash_token(token)}")
    print(f"token for {args.name} (shown once, stored nowhere): {token}", file=sys.stderr)
    return 0


def print_openapi(args: argparse.Namespace) -> int:
    from gateway.openapi import openapi_document
    from gateway.settings import GatewaySettings

    settings = GatewaySettings()
    json.dump(openapi_document(settings.max_events, settings.max_body_bytes), sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


def serve(args: argparse.Namespace) -> int:
    # Heavy imports here: other commands must not pay for aiohttp and aiokafka.
    from aiohttp import web
    from pydantic import ValidationError

    from gateway.app import AccessLog, Gateway, GatewayStartError, create_app
    from gateway.metrics import GatewayMetrics
    from gateway.ratelimit import TokenRateLimit
    from gateway.settings import GatewaySettings
    from gateway.tokens import TokenError, load_tokens
    from leadflow.config import ConfigError, load_funnel
    from leadflow.event_loop import new_event_loop
    from streams.settings import WorkerSettings

    logging.basicConfig(
        level=args.loglevel.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if logging.getLogger().getEffectiveLevel() > logging.DEBUG:
        # During an outage aiokafka logs every reconnect attempt, ten a second; the
        # gateway's own warning per refused request (with its cause) says enough.
        logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    try:
        # The workers' own settings: the same Kafka, topic, funnel config and event loop.
        settings, kafka = GatewaySettings(), WorkerSettings()
        tokens = load_tokens(settings.tokens, settings.tokens_file)
        funnel = load_funnel(kafka.config)
    except (ValidationError, TokenError, ConfigError) as error:
        print(f"leadflow gateway: {error}", file=sys.stderr)
        return 2
    gateway = Gateway(
        settings=settings,
        kafka=kafka,
        tokens=tokens,
        vocabulary=funnel.vocabulary,
        limits=TokenRateLimit(settings.rate_limit),
        metrics=GatewayMetrics(tokens.names),
    )
    tls = None
    if settings.tls_certfile is not None and settings.tls_keyfile is not None:
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(settings.tls_certfile, settings.tls_keyfile)
    scheme = "https" if tls else "http"
    print(
        f"leadflow gateway: {scheme}://{settings.host}:{settings.port}/v1/events -> "
        f"{kafka.topic} at {kafka.kafka_bootstrap}; tokens: {', '.join(tokens.names)}",
        file=sys.stderr,
        flush=True,
    )
    try:
        web.run_app(
            create_app(gateway),
            host=settings.host,
            port=settings.port,
            ssl_context=tls,
            access_log_class=AccessLog,
            print=None,
            loop=new_event_loop(kafka.uvloop),
        )
    except GatewayStartError as error:
        print(f"leadflow gateway: {error}", file=sys.stderr)
        return 2
    return 0
