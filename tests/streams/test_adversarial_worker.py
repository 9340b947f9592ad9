"""Hostile input against a real worker on a real broker: dead-lettered, counted, never fatal."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from devtools.generate import GeneratorSpec, generate_events, write_events
from events.batch import split_batch
from streams import deadletter, processing
from tests.streaming import Deployment, converge, counter, eventually, topic_records

pytestmark = pytest.mark.kafka

GARBAGE = 20_000


def good_lines(path: Path, events: int, seed: int) -> list[bytes]:
    with path.open("wb") as out:
        write_events(generate_events(GeneratorSpec(seed=seed, events=events, chaos=False)), out)
    return path.read_bytes().splitlines()


def mql(**fields: object) -> bytes:
    document = {
        "event_id": "adv",
        "type": "lead.mql",
        "lead_id": "adv-lead",
        "occurred_at": "2026-01-05T10:00:00Z",
        **fields,
    }
    return json.dumps(document).encode()


def whole(line: bytes, reason: str) -> tuple[bytes, list[tuple[bytes, str, int | None]]]:
    return line, [(line, reason, None)]


def won(event_id: str, amount: bytes) -> bytes:
    return mql(event_id=event_id, type="deal.won")[:-1] + b', "amount": ' + amount + b"}"


# (line as produced, the dead letters it becomes: [(value, reason, batch index)])
ADVERSARIAL: list[tuple[bytes, list[tuple[bytes, str, int | None]]]] = [
    whole(b"x" * 900_000, "too-large"),
    whole(mql(event_id="1-mb-ish-string", note="n" * 900_000), "too-large"),
    whole(mql(event_id="deep")[:-1] + b', "x": ' + b"[" * 1000 + b"]" * 1000 + b"}", "not-json"),
    whole(won("nan", b"NaN"), "not-json"),
    whole(won("infinity", b"Infinity"), "not-json"),
    whole(won("1e400", b"1e400"), "not-json"),
    whole(mql(event_id="1e307", type="deal.won", amount=1e307), "out-of-range"),
    whole(mql(event_id="y1", occurred_at="0001-01-01T00:00:00Z"), "out-of-range"),
    whole(mql(event_id="y9999", occurred_at="9999-12-31T23:59:59Z"), "future-timestamp"),
    whole(mql(event_id="\ud800"), "not-json"),  # json.dumps writes the \\ud800 escape
    whole(mql(event_id="e" * 129), "out-of-range"),
    whole(b"[" + b",".join([b"1"] * 10_001) + b"]", "not-object"),
    (b"[[1],[2]]", [(b"[1]", "not-object", 0), (b"[2]", "not-object", 1)]),
]


def garbage(index: int) -> tuple[bytes, str]:
    """The index-th message of a garbage burst, and the reason it must be dead-lettered with."""
    kind = index % 5
    if kind == 0:
        return b"\xff\xfe garbage %d" % index, "not-utf8"
    if kind == 1:
        return b"garbage %d" % index, "not-json"
    if kind == 2:
        return b'"garbage %d"' % index, "not-object"
    if kind == 3:
        return b'{"event_id":"g%d"}' % index, "missing-field"
    return (
        b'{"event_id":"g%d","type":"lead.mql","lead_id":"garbage",'
        b'"occurred_at":"0001-01-01T00:00:00Z"}' % index,
        "out-of-range",
    )


def dead_letters(deployment: Deployment) -> list[tuple[bytes, dict[str, str]]]:
    """Everything in the dead-letter topic, committed records only."""
    records = topic_records(
        deployment.bootstrap,
        deployment.dlq_topic,
        isolation_level="read_committed",
        fetch_max_bytes=8 * 1024 * 1024,
        max_partition_fetch_bytes=8 * 1024 * 1024,
    )
    return [
        (message.value, {key: raw.decode() for key, raw in message.headers}) for message in records
    ]


def produce_file(
    deployment: Deployment, path: Path, batch: int = 500
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "leadflow.cli", "produce", str(path), "--batch", str(batch)],
        env=deployment.env(),
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_each_adversarial_message_is_dead_lettered_with_its_reason_and_good_events_all_count(
    deployment: Deployment, tmp_path: Path
) -> None:
    good = good_lines(tmp_path / "good.jsonl", events=2_000, seed=21)
    mixed = tmp_path / "mixed.jsonl"
    with mixed.open("wb") as out:
        for index, line in enumerate(good):
            out.write(line + b"\n")
            if index < len(ADVERSARIAL):
                out.write(ADVERSARIAL[index][0] + b"\n")
    worker = deployment.worker("solo").start()
    done = produce_file(deployment, mixed, batch=1)  # one message each: no batch indexes
    assert done.returncode == 0, done.stderr
    assert converge([worker], tmp_path / "good.jsonl") == {}

    expected = Counter(letter for _, letters in ADVERSARIAL for letter in letters)
    eventually(lambda: len(dead_letters(deployment)) >= expected.total(), timeout=60)
    letters = dead_letters(deployment)
    found = Counter(
        (value, headers[deadletter.REASON], _index(headers)) for value, headers in letters
    )
    assert found == expected
    assert counter([worker], "leadflow_events_dead_lettered_total") == expected.total()
    assert counter([worker], "leadflow_events_dead_lettered_total", reason="too-large") == 2


def test_a_burst_of_20_000_garbage_messages_is_dead_lettered_and_good_events_still_count(
    deployment: Deployment, tmp_path: Path
) -> None:
    good = good_lines(tmp_path / "good.jsonl", events=4_000, seed=22)
    burst = [garbage(index) for index in range(GARBAGE)]
    mixed = tmp_path / "mixed.jsonl"
    with mixed.open("wb") as out:
        for index, (line, _) in enumerate(burst):
            out.write(line + b"\n")
            if index % 5 == 0 and index // 5 < len(good):
                out.write(good[index // 5] + b"\n")
        for line in good[GARBAGE // 5 :]:
            out.write(line + b"\n")
    worker = deployment.worker("solo").start()
    done = produce_file(deployment, mixed)
    assert done.returncode == 0, done.stderr
    assert converge([worker], tmp_path / "good.jsonl", timeout=240) == {}
    eventually(
        lambda: counter([worker], "leadflow_events_dead_lettered_total") == GARBAGE, timeout=120
    )

    letters = dead_letters(deployment)
    assert {value: headers[deadletter.REASON] for value, headers in letters} == dict(burst)
    assert len(letters) == GARBAGE
    assert counter([worker], "leadflow_events_dead_lettered_total", reason="not-utf8") == 4_000

    # Still folding after the burst: more good events arrive and count.
    more = good_lines(tmp_path / "more.jsonl", events=500, seed=23)
    everything = tmp_path / "everything.jsonl"
    everything.write_bytes(b"\n".join(good + more) + b"\n")
    deployment.produce(tmp_path / "more.jsonl")
    assert converge([worker], everything) == {}


def test_produce_reports_a_line_above_the_broker_limit_on_one_line_and_sends_the_rest(
    deployment: Deployment, tmp_path: Path
) -> None:
    good = good_lines(tmp_path / "good.jsonl", events=300, seed=24)
    oversized = mql(event_id="oversized", note="n" * 2_000_000)
    near_limit = b"x" * 1_040_000  # fits alone: sent, and must not fail its neighbours
    lines = tmp_path / "with-oversized.jsonl"
    lines.write_bytes(b"\n".join([*good[:100], oversized, near_limit, *good[100:]]) + b"\n")

    done = produce_file(deployment, lines)

    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert done.stderr.splitlines() == [
        f"leadflow produce: line 101: not sent: a message of {len(oversized):,} bytes is "
        "larger than the topic accepts (MessageSizeTooLargeError)",
        "leadflow produce: 1 events not sent (see above)",
    ]
    assert done.stdout.startswith(f"sent {len(good) + 1} events to {deployment.topic}")
    assert sorted(_events_in(deployment)) == sorted([*good, near_limit])


def test_a_message_just_under_the_broker_limit_is_dead_lettered_as_too_large(
    deployment: Deployment, tmp_path: Path
) -> None:
    near_limit = b"x" * 1_040_000
    path = tmp_path / "near-limit.jsonl"
    good = good_lines(tmp_path / "good.jsonl", events=200, seed=25)
    path.write_bytes(b"\n".join([near_limit, *good]) + b"\n")
    worker = deployment.worker("solo").start()
    assert produce_file(deployment, path).returncode == 0
    eventually(lambda: len(dead_letters(deployment)) == 1, timeout=45)
    [(value, headers)] = dead_letters(deployment)
    assert headers[deadletter.REASON] == "too-large"
    # Kept in part, so a dead letter can never be refused by the broker.
    assert value == near_limit[: processing.MAX_DEAD_LETTER_BYTES]
    assert headers[processing.TRUNCATED] == str(len(near_limit))
    assert converge([worker], tmp_path / "good.jsonl", timeout=30) == {}


def _index(headers: dict[str, str]) -> int | None:
    index = headers.get(deadletter.BATCH_INDEX)
    return None if index is None else int(index)


def _events_in(deployment: Deployment) -> list[bytes]:
    events: list[bytes] = []
    for message in topic_records(deployment.bootstrap, deployment.topic):
        parts = split_batch(message.value)
        events.extend([message.value] if parts is None else parts)
    return events
