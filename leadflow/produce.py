"""`leadflow produce FILE`: send a JSON-lines file of events to the events topic.

By default events travel in bulk messages: JSON arrays of up to `--batch` events,
all of one lead partition, sent to that partition, so a worker pays its
per-message cost once per batch. `--batch 1` sends one event per message, keyed
by lead id (the contract's default form).
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from events.batch import join_batch

KEY_MODES = ("lead", "none", "random")
DEFAULT_BATCH = 500


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "produce",
        help="send a JSON-lines file of events to the events topic (key = lead_id)",
    )
    parser.add_argument("file", type=Path, help="JSON-lines events ('-' for stdin)")
    parser.add_argument(
        "--batch",
        type=int,
        default=DEFAULT_BATCH,
        help=f"events per bulk message, grouped by lead partition (default {DEFAULT_BATCH}; "
        "1 = one event per message)",
    )
    parser.add_argument(
        "--key",
        choices=KEY_MODES,
        default="lead",
        help="single messages: keyed by lead_id (default), by nothing, or at random; bulk "
        "messages: sent to their lead partition (lead) or to a random one (none, random)",
    )
    parser.add_argument("--topic", help="override LEADFLOW_TOPIC")
    parser.set_defaults(func=run)


def lead_of(line: bytes) -> str | None:
    """The lead id of a line that is a JSON object with a string lead_id, else None."""
    try:
        document = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(document, dict):
        return None
    lead = document.get("lead_id")
    return lead if isinstance(lead, str) else None


def lines(stream: BinaryIO) -> Iterator[bytes]:
    for line in stream:
        stripped = line.rstrip(b"\r\n")
        if stripped.strip():
            yield stripped


class Sender:
    """Turns lines into messages: single or bulk, keyed and partitioned per the mode."""

    def __init__(self, producer: Any, topic: str, partitions: int, batch: int, key: str) -> None:
        self.producer, self.topic, self.partitions = producer, topic, partitions
        self.batch, self.key = batch, key
        self.rng = random.Random()
        self.pending: dict[int, list[bytes]] = defaultdict(list)
        self.events = self.messages = 0

    def send(self, line: bytes) -> None:
        from streams.partitioning import lead_partition

        lead = lead_of(line)
        self.events += 1
        if self.batch <= 1 or lead is None:
            # Bad lines go alone, so the worker dead-letters them byte for byte.
            self._send(line, key=self._key(lead), partition=None)
            return
        partition = (
            lead_partition(lead, self.partitions)
            if self.key == "lead"
            else self.rng.randrange(self.partitions)
        )
        pending = self.pending[partition]
        pending.append(line)
        if len(pending) >= self.batch:
            self._flush(partition)

    def close(self) -> None:
        for partition in list(self.pending):
            self._flush(partition)
        self.producer.flush()

    def _flush(self, partition: int) -> None:
        pending = self.pending.pop(partition, [])
        if pending:
            self._send(join_batch(pending), key=None, partition=partition)

    def _send(self, value: bytes, key: bytes | None, partition: int | None) -> None:
        self.producer.send(self.topic, key=key, value=value, partition=partition)
        self.messages += 1

    def _key(self, lead: str | None) -> bytes | None:
        if self.key == "none" or lead is None:
            return None
        if self.key == "random":
            return self.rng.randbytes(8).hex().encode()
        return lead.encode()


def run(args: argparse.Namespace) -> int:
    from kafka import KafkaProducer
    from kafka.errors import KafkaError

    from leadflow.settings import Settings
    from streams.security import kafka_python_config
    from streams.topics import ensure_topics

    settings = Settings()
    topic = args.topic or settings.topic
    try:
        partitions = ensure_topics(settings.model_copy(update={"topic": topic}))[topic]
        producer = KafkaProducer(
            acks="all",
            linger_ms=20,
            batch_size=1024 * 1024,
            max_request_size=8 * 1024 * 1024,
            **kafka_python_config(settings),
        )
    except KafkaError as error:
        print(
            f"leadflow produce: cannot reach Kafka at {settings.kafka_bootstrap}: {error} "
            "(set LEADFLOW_KAFKA_BOOTSTRAP, or start one: leadflow broker start)",
            file=sys.stderr,
        )
        return 2
    sender = Sender(producer, topic, partitions, args.batch, args.key)
    started = time.monotonic()
    stream = sys.stdin.buffer if str(args.file) == "-" else args.file.open("rb")
    try:
        for line in lines(stream):
            sender.send(line)
            if sender.events % 100_000 == 0:
                print(f"produce: {sender.events:,} sent", file=sys.stderr, flush=True)
        sender.close()
    except KafkaError as error:
        print(f"leadflow produce: failed after {sender.events:,} events: {error}", file=sys.stderr)
        return 1
    finally:
        producer.close()
        if stream is not sys.stdin.buffer:
            stream.close()
    elapsed = time.monotonic() - started
    print(f"sent {sender.events} events to {topic} in {sender.messages} messages in {elapsed:.1f}s")
    return 0
