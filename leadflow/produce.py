"""`leadflow produce FILE`: send a JSON-lines file of events to the events topic."""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import orjson

KEY_MODES = ("lead", "none", "random")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "produce",
        help="send a JSON-lines file of events to the events topic (key = lead_id)",
    )
    parser.add_argument("file", type=Path, help="JSON-lines events ('-' for stdin)")
    parser.add_argument(
        "--key",
        choices=KEY_MODES,
        default="lead",
        help="message key: the lead_id (default), none, or random (to test re-keying)",
    )
    parser.add_argument("--topic", help="override LEADFLOW_TOPIC")
    parser.set_defaults(func=run)


def message_key(line: bytes, mode: str, rng: random.Random) -> bytes | None:
    if mode == "none":
        return None
    if mode == "random":
        return rng.randbytes(8).hex().encode()
    try:
        lead = orjson.loads(line).get("lead_id")
    except (orjson.JSONDecodeError, AttributeError):
        return None  # bad line: sent as is, the worker dead-letters it
    return lead.encode() if isinstance(lead, str) else None


def lines(stream: BinaryIO) -> Iterator[bytes]:
    for line in stream:
        stripped = line.rstrip(b"\r\n")
        if stripped.strip():
            yield stripped


def run(args: argparse.Namespace) -> int:
    from kafka import KafkaProducer
    from kafka.errors import KafkaError

    from leadflow.settings import Settings
    from streams.security import kafka_python_config

    settings = Settings()
    topic = args.topic or settings.topic
    try:
        producer = KafkaProducer(
            acks="all",
            linger_ms=20,
            batch_size=512 * 1024,
            max_request_size=4 * 1024 * 1024,
            **kafka_python_config(settings),
        )
    except KafkaError:
        print(
            f"leadflow produce: cannot reach Kafka at {settings.kafka_bootstrap} "
            "(set LEADFLOW_KAFKA_BOOTSTRAP, or start one: leadflow broker start)",
            file=sys.stderr,
        )
        return 2
    rng = random.Random()
    sent = 0
    started = time.monotonic()
    stream = sys.stdin.buffer if str(args.file) == "-" else args.file.open("rb")
    try:
        for line in lines(stream):
            producer.send(topic, key=message_key(line, args.key, rng), value=line)
            sent += 1
            if sent % 100_000 == 0:
                print(f"produce: {sent:,} sent", file=sys.stderr, flush=True)
        producer.flush()
    except KafkaError as error:
        print(f"leadflow produce: failed after {sent:,} events: {error}", file=sys.stderr)
        return 1
    finally:
        producer.close()
        if stream is not sys.stdin.buffer:
            stream.close()
    elapsed = time.monotonic() - started
    print(f"sent {sent} events to {topic} in {elapsed:.1f}s")
    return 0
