"""`leadflow produce FILE`: send a JSON-lines file of events to the events topic.

By default events travel in bulk messages: JSON arrays of up to `--batch` events,
all of one lead partition, sent to that partition, so a worker pays its
per-message cost once per batch. `--batch 1` sends one event per message, keyed
by lead id (the contract's default form).

A line the broker cannot take (larger than the topic's `max.message.bytes`) is
refused before it is sent and reported on stderr with its line number, one line
each; the other lines are still sent and the exit status is then 1. Refusing it
in the client matters: handed to the broker, an oversized record fails the other
records batched with it on its partition too. Lines over BULK_LINE_BYTES travel
alone and a bulk message stops growing at MAX_BULK_BYTES.
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

from events.batch import MAX_BATCH_ELEMENTS, join_batch
from leadflow.errors import UserError
from streams.settings import KafkaSettings

KEY_MODES = ("lead", "none", "random")
DEFAULT_BATCH = 500
BULK_LINE_BYTES = 64 * 1024  # a bigger line is sent alone (and is too-large for a worker)
MAX_BULK_BYTES = 512 * 1024  # half of Kafka's default message limit
KAFKA_DEFAULT_MESSAGE_LIMIT = 1_048_588  # message.max.bytes of a stock broker


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "produce",
        help="send a JSON-lines file of events to the events topic (key = lead_id)",
    )
    parser.add_argument("file", type=Path, help="JSON-lines events ('-' for stdin)")
    parser.add_argument(
        "--batch",
        type=_batch_size,
        default=DEFAULT_BATCH,
        help=f"events per bulk message, grouped by lead partition (default {DEFAULT_BATCH}; "
        f"1 = one event per message; at most {MAX_BATCH_ELEMENTS:,})",
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


def _batch_size(text: str) -> int:
    size = int(text)
    if not 1 <= size <= MAX_BATCH_ELEMENTS:
        raise argparse.ArgumentTypeError(
            f"must be 1 to {MAX_BATCH_ELEMENTS:,} (workers split bulk messages up to that)"
        )
    return size


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


def lines(stream: BinaryIO) -> Iterator[tuple[int, bytes]]:
    """(line number, line) of every non-blank line."""
    for number, line in enumerate(stream, 1):
        stripped = line.rstrip(b"\r\n")
        if stripped.strip():
            yield number, stripped


class Sender:
    """Turns lines into messages: single or bulk, keyed and partitioned per the mode."""

    def __init__(self, producer: Any, topic: str, partitions: int, batch: int, key: str) -> None:
        self.producer, self.topic, self.partitions = producer, topic, partitions
        self.batch, self.key = batch, key
        self.rng = random.Random()
        self.pending: dict[int, list[tuple[int, bytes]]] = defaultdict(list)
        self.pending_bytes: dict[int, int] = defaultdict(int)
        self.events = self.messages = 0
        # (first line, last line, error) of messages the client or broker refused;
        # appended from kafka-python's I/O thread too (list.append is atomic).
        self.failures: list[tuple[int, int, str]] = []
        self.refused = 0  # of those, the ones already counted in `messages`

    def send(self, line: bytes, number: int = 0) -> None:
        from streams.partitioning import lead_partition

        lead = lead_of(line)
        self.events += 1
        if self.batch <= 1 or lead is None or len(line) > BULK_LINE_BYTES:
            # Bad and big lines go alone, so the worker dead-letters them byte for byte.
            self._send(line, key=self._key(lead), partition=None, lines=(number, number))
            return
        partition = (
            lead_partition(lead, self.partitions)
            if self.key == "lead"
            else self.rng.randrange(self.partitions)
        )
        if self.pending_bytes[partition] + len(line) + 1 > MAX_BULK_BYTES:
            self._flush(partition)
        pending = self.pending[partition]
        pending.append((number, line))
        self.pending_bytes[partition] += len(line) + 1
        if len(pending) >= self.batch:
            self._flush(partition)

    def close(self) -> None:
        for partition in list(self.pending):
            self._flush(partition)
        self.producer.flush()

    def _flush(self, partition: int) -> None:
        pending = self.pending.pop(partition, [])
        self.pending_bytes.pop(partition, None)
        if pending:
            value = join_batch([line for _, line in pending])
            self._send(value, key=None, partition=partition, lines=(pending[0][0], pending[-1][0]))

    def _send(
        self, value: bytes, key: bytes | None, partition: int | None, lines: tuple[int, int]
    ) -> None:
        from kafka.errors import KafkaError

        first, last = lines
        try:
            future = self.producer.send(self.topic, key=key, value=value, partition=partition)
        except KafkaError as error:  # refused before sending, e.g. over max_request_size
            self.failures.append((first, last, _one_line(error, len(value))))
            return
        future.add_errback(self._refused, first, last, len(value))
        self.messages += 1

    def _refused(self, first: int, last: int, size: int, error: BaseException) -> None:
        self.failures.append((first, last, _one_line(error, size)))
        self.refused += 1

    def report_failures(self) -> int:
        """Print one stderr line per message not sent; return how many events they held."""
        lost = 0
        for first, last, error in sorted(self.failures):
            where = f"line {first}" if first == last else f"lines {first}-{last}"
            print(f"leadflow produce: {where}: not sent: {error}", file=sys.stderr)
            lost += last - first + 1
        return lost

    def _key(self, lead: str | None) -> bytes | None:
        if self.key == "none" or lead is None:
            return None
        if self.key == "random":
            return self.rng.randbytes(8).hex().encode()
        return lead.encode()


def connect(settings: KafkaSettings, topic: str) -> tuple[Any, int]:
    """A producer for `topic` (created if missing) and its partition count; KafkaError if
    the cluster cannot be reached. `leadflow import --produce` sends through it too."""
    from kafka import KafkaProducer

    from streams.security import kafka_python_config
    from streams.topics import ensure_topics

    partitions = ensure_topics(settings.model_copy(update={"topic": topic}))[topic]
    limit = message_limit(settings, topic)
    producer = KafkaProducer(
        acks="all",
        linger_ms=20,
        # Batches never outgrow what the topic accepts; a record that does alone
        # is refused by send() itself (max_request_size), before it can fail others.
        batch_size=min(1024 * 1024, limit // 2),
        max_request_size=limit,
        **kafka_python_config(settings),
    )
    return producer, partitions


def run(args: argparse.Namespace) -> int:
    from kafka.errors import KafkaError

    from leadflow.errors import kafka_problem
    from leadflow.settings import load_settings

    settings = load_settings()
    topic = args.topic or settings.topic
    # Opened first: a typo in the file name should not wait for Kafka's timeout.
    stream = sys.stdin.buffer if str(args.file) == "-" else open_input(args.file)
    try:
        try:
            producer, partitions = connect(settings, topic)
        except KafkaError as error:
            raise kafka_problem(settings.kafka_bootstrap, error) from error
        sender = Sender(producer, topic, partitions, args.batch, args.key)
        started = time.monotonic()
        try:
            for number, line in lines(stream):
                sender.send(line, number)
                if sender.events % 100_000 == 0:
                    print(f"produce: {sender.events:,} sent", file=sys.stderr, flush=True)
            sender.close()
        except KafkaError as error:
            print(
                f"leadflow produce: failed after {sender.events:,} events: {error}",
                file=sys.stderr,
            )
            return 1
        finally:
            producer.close()
    finally:
        if stream is not sys.stdin.buffer:
            stream.close()
    elapsed = time.monotonic() - started
    lost = sender.report_failures()
    sent = sender.events - lost
    messages = sender.messages - sender.refused
    print(f"sent {sent} events to {topic} in {messages} messages in {elapsed:.1f}s")
    if lost:
        print(f"leadflow produce: {lost} events not sent (see above)", file=sys.stderr)
        return 1
    return 0


def message_limit(settings: Any, topic: str) -> int:
    """The topic's max.message.bytes (the broker's default unless the topic overrides it)."""
    from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient
    from kafka.errors import KafkaError

    from streams.security import kafka_python_config

    admin = KafkaAdminClient(client_id="leadflow-produce", **kafka_python_config(settings))
    try:
        wanted = ConfigResource(ConfigResourceType.TOPIC, topic, {"max.message.bytes": None})
        described = admin.describe_configs([wanted], config_filter="all")
        return int(described["topic"][topic]["max.message.bytes"]["value"])
    except (KafkaError, KeyError, TypeError, ValueError):
        return KAFKA_DEFAULT_MESSAGE_LIMIT
    finally:
        admin.close()


def _one_line(error: BaseException, size: int) -> str:
    from kafka.errors import MessageSizeTooLargeError

    name = type(error).__name__
    if isinstance(error, MessageSizeTooLargeError) or "TooLarge" in name:
        return f"a message of {size:,} bytes is larger than the topic accepts ({name})"
    text = " ".join(str(error).split())
    return f"{name}: {text}" if text else name


def open_input(path: Path) -> BinaryIO:
    try:
        return path.open("rb")
    except OSError as error:
        raise UserError(f"cannot read {path} ({error.strerror})") from error
