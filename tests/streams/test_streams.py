"""Workers on a real Kafka broker: summed over workers they equal `leadflow replay`."""

from __future__ import annotations

import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from devtools.generate import GeneratorSpec, generate_events, write_events
from projections import catalog
from streams import deadletter
from tests.builders import event
from tests.streaming import Deployment, converge, counter, eventually, summed, topic_records

pytestmark = pytest.mark.kafka


def write_generated(path: Path, events: int, seed: int, chaos: bool = True) -> Path:
    with path.open("wb") as out:
        write_events(generate_events(GeneratorSpec(seed=seed, events=events, chaos=chaos)), out)
    return path


@pytest.mark.parametrize("batch", [500, 1], ids=["bulk-messages", "single-event-messages"])
def test_one_worker_equals_replay_on_chaotic_input(
    deployment: Deployment, tmp_path: Path, batch: int
) -> None:
    events = write_generated(tmp_path / "events.jsonl", events=12_000, seed=11)
    worker = deployment.worker("solo").start()
    deployment.produce(events, batch=batch)
    assert converge([worker], events) == {}
    assert counter([worker], "leadflow_events_duplicate_total") > 0


@pytest.mark.parametrize("batch", [100, 1], ids=["bulk-messages", "single-event-messages"])
def test_three_workers_survive_a_sigkill_mid_stream(
    deployment: Deployment, tmp_path: Path, batch: int
) -> None:
    events = write_generated(tmp_path / "events.jsonl", events=30_000, seed=12)
    workers = [deployment.worker(name).start() for name in ("a", "b", "c")]
    producing = threading.Thread(target=deployment.produce, args=(events,), kwargs={"batch": batch})
    producing.start()
    eventually(lambda: counter(workers[1:2], "leadflow_events_processed_total") > 500, timeout=60)
    workers[1].kill()
    producing.join()
    workers[1].start()
    assert converge(workers, events, timeout=180) == {}


@pytest.mark.parametrize(
    ("key", "batch"),
    [("none", 1), ("random", 1), ("random", 200)],
    ids=["null-keys", "random-keys", "bulk-messages-on-random-partitions"],
)
def test_events_off_their_lead_partition_are_re_keyed_by_lead(
    deployment: Deployment, tmp_path: Path, key: str, batch: int
) -> None:
    events = write_generated(tmp_path / "events.jsonl", events=6_000, seed=13)
    workers = [deployment.worker(name).start() for name in ("a", "b")]
    deployment.produce(events, key=key, batch=batch)
    assert converge(workers, events) == {}
    assert counter(workers, "leadflow_events_forwarded_total") > 0


def dead_letters(deployment: Deployment) -> list[tuple[bytes, dict[str, bytes]]]:
    """Everything in the deployment's dead-letter topic: (value, headers)."""
    return [
        (message.value, dict(message.headers))
        for message in topic_records(deployment.bootstrap, deployment.dlq_topic)
    ]


BAD_LINES = [
    (b"\xff\xfe not utf-8", "not-utf8"),
    (b"{not json", "not-json"),
    (b'"just a string"', "not-object"),
    (b'{"type":"lead.mql","lead_id":"L1","occurred_at":"2026-01-05T10:00:00Z"}', "missing-field"),
    (
        b'{"event_id":"x1","type":"lead.scored","lead_id":"L1",'
        b'"occurred_at":"2026-01-05T10:00:00Z","score":50.0}',
        "bad-type",
    ),
    (
        b'{"event_id":"x2","type":"lead.teleported","lead_id":"L1",'
        b'"occurred_at":"2026-01-05T10:00:00Z"}',
        "unknown-type",
    ),
    (
        b'{"event_id":"x3","type":"lead.scored","lead_id":"L1",'
        b'"occurred_at":"2026-01-05T10:00:00Z","score":101}',
        "out-of-range",
    ),
    (
        b'{"event_id":"x4","type":"lead.mql","lead_id":"L1","occurred_at":"2026-01-05T10:00:00"}',
        "naive-timestamp",
    ),
    (
        b'{"event_id":"x5","type":"lead.mql","lead_id":"L1","occurred_at":"2999-01-05T10:00:00Z"}',
        "future-timestamp",
    ),
    (
        b'{"event_id":"x6","type":"opportunity.stage_changed","lead_id":"L1",'
        b'"occurred_at":"2026-01-05T10:00:00Z","stage":"teleport"}',
        "unknown-stage",
    ),
    (
        b'{"event_id":"x7","type":"lead.mql","lead_id":"L1",'
        b'"occurred_at":"2026-01-05T10:00:00Z","schema_version":9}',
        "unsupported-version",
    ),
]


def test_each_bad_line_is_dead_lettered_with_its_reason_and_good_events_all_count(
    deployment: Deployment, tmp_path: Path
) -> None:
    good = write_generated(tmp_path / "good.jsonl", events=3_000, seed=14, chaos=False)
    mixed = tmp_path / "mixed.jsonl"
    good_lines = good.read_bytes().splitlines()
    with mixed.open("wb") as out:
        for index, line in enumerate(good_lines):
            out.write(line + b"\n")
            if index < len(BAD_LINES):
                out.write(BAD_LINES[index][0] + b"\n")
    worker = deployment.worker("solo").start()
    deployment.produce(mixed)
    assert converge([worker], good) == {}

    letters = {
        value: {key: raw.decode() for key, raw in headers.items()}
        for value, headers in dead_letters(deployment)
    }
    assert {value: headers[deadletter.REASON] for value, headers in letters.items()} == {
        line: reason for line, reason in BAD_LINES
    }
    for headers in letters.values():
        assert headers[deadletter.SOURCE_TOPIC] == deployment.topic
        assert int(headers[deadletter.SOURCE_OFFSET]) >= 0
    assert counter([worker], "leadflow_events_dead_lettered_total") == len(BAD_LINES)
    assert counter([worker], "leadflow_events_dead_lettered_total", reason="not-json") == 1


def test_a_bad_event_inside_a_bulk_message_is_dead_lettered_alone_with_its_index(
    deployment: Deployment, tmp_path: Path
) -> None:
    good = write_generated(tmp_path / "good.jsonl", events=400, seed=16, chaos=False)
    elements = good.read_bytes().splitlines()
    bad_element = b'{"event_id":"x9","type":"lead.mql","lead_id":"L1","occurred_at":"soon"}'
    batch = tmp_path / "batch.jsonl"
    batch.write_bytes(b"[" + b",".join([*elements[:5], bad_element, *elements[5:]]) + b"]\n")
    worker = deployment.worker("solo").start()
    deployment.produce(batch, batch=1)  # the file's one line is already a bulk message
    assert converge([worker], good) == {}
    letters = dead_letters(deployment)
    assert len(letters) == 1
    value, headers = letters[0]
    assert value == bad_element
    assert headers[deadletter.REASON] == b"bad-timestamp"
    assert headers[deadletter.BATCH_INDEX] == b"5"


@pytest.mark.parametrize("store", ["memory", "rocksdb"])
def test_a_restarted_worker_restores_state_and_still_ignores_duplicates(
    deployment: Deployment, tmp_path: Path, store: str
) -> None:
    deployment.extra_env["LEADFLOW_STORE"] = store
    events = write_generated(tmp_path / "events.jsonl", events=8_000, seed=15, chaos=False)
    worker = deployment.worker("solo").start()
    sent = deployment.produce(events)
    assert converge([worker], events) == {}
    before = summed([worker])
    worker.stop()

    worker.start()
    assert summed([worker]) == before
    assert counter([worker], "leadflow_leads_tracked") > 0
    deployment.produce(events)  # every event again, after the restart
    eventually(lambda: counter([worker], "leadflow_events_duplicate_total") == sent, timeout=90)
    assert counter([worker], "leadflow_events_processed_total") == 0
    assert summed([worker]) == before


def test_produce_reports_an_unreachable_broker_clearly(tmp_path: Path) -> None:
    events = tmp_path / "one.jsonl"
    events.write_bytes(orjson.dumps({"event_id": "e"}) + b"\n")
    done = subprocess.run(
        [sys.executable, "-m", "leadflow.cli", "produce", str(events)],
        env={**Deployment("127.0.0.1:1", tmp_path).env()},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "cannot reach Kafka at 127.0.0.1:1" in done.stderr


def test_workers_equal_replay_in_past_periods_when_a_late_lead_created_moves_a_lead(
    deployment: Deployment, tmp_path: Path
) -> None:
    # Chaotic history (shuffled, duplicated, late lead.created) plus one lead whose MQL
    # and SQL fall 70 and 65 days back (a past month: not current, not previous) and
    # whose lead.created arrives only after the workers have counted it as unknown.
    now = datetime.now(UTC)
    at = {days: (now - timedelta(days=days)).isoformat() for days in (75, 70, 65)}
    month = (now - timedelta(days=70)).date().replace(day=1).isoformat()
    early = write_generated(tmp_path / "early.jsonl", events=6_000, seed=21)
    with early.open("ab") as out:
        out.write(event("lead.mql", "late-lead", at[70]) + b"\n")
        out.write(event("lead.sql", "late-lead", at[65]) + b"\n")
    late = tmp_path / "late.jsonl"
    late.write_bytes(
        event(
            "lead.created",
            "late-lead",
            at[75],
            event_id="late-lead-created",
            source="late_arrivals",
            campaign="late-campaign",
            segment="enterprise",
        )
        + b"\n"
    )
    everything = tmp_path / "everything.jsonl"
    everything.write_bytes(early.read_bytes() + late.read_bytes())
    past_month = {"period": "month", "window": "past", "period_start": month}

    workers = [deployment.worker(name).start() for name in ("a", "b")]
    deployment.produce(early)
    assert converge(workers, early) == {}
    before = summed(workers)
    assert _entries(before, "unknown", "mql", past_month) >= 1

    deployment.produce(late)
    assert converge(workers, everything) == {}
    after = summed(workers)
    assert (
        _entries(after, "unknown", "mql", past_month)
        == _entries(before, "unknown", "mql", past_month) - 1
    )
    assert _entries(after, "late_arrivals", "mql", past_month) == 1
    assert _entries(after, "late_arrivals", "sql", past_month) == 1
    # Its campaign and segment move with it.
    for family, label, value in (
        (catalog.CAMPAIGN_STAGE_ENTRIES, "campaign", "late-campaign"),
        (catalog.SEGMENT_STAGE_ENTRIES, "segment", "enterprise"),
    ):
        moved = {**past_month, label: value}
        assert _entries(before, "late_arrivals", "mql", moved, family.name) == 0
        assert _entries(after, "late_arrivals", "mql", moved, family.name) == 1
    # The comparison with replay covered the past periods of every family, pipeline
    # velocity by outcome included.
    past = {name for name, labels in after if ("window", "past") in labels}
    assert {catalog.STAGE_ENTRIES.name, catalog.PIPELINE_STAGE_DWELL_BUCKET.name} <= past
    assert {catalog.CAMPAIGN_STAGE_ENTRIES.name, catalog.SEGMENT_STAGE_ENTRIES.name} <= past


def _entries(
    series: dict,
    source: str,
    stage: str,
    period: dict[str, str],
    family: str = catalog.STAGE_ENTRIES.name,
) -> float:
    wanted = {("source", source), ("stage", stage), *period.items()}
    return sum(
        value for (name, labels), value in series.items() if name == family and wanted <= labels
    )
