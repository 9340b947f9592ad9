"""`python -m bench.adversarial`: worker memory and time under hostile input; prints its rows.

One local Kafka, one worker. The worker's peak RSS (VmHWM) is read when idle, after
a burst of garbage messages (every one dead-lettered), and after one lead with
100,000 events (bulk messages of 500). The rows say how far each raised the peak
above the idle worker's: what a worker needs is bounded by the bounds in events/
and projections/lead.py, not by what producers send.

    python -m bench.adversarial                       # 20,000 garbage, 100,000 events
    python -m bench.adversarial --garbage 2000 --lead-events 20000
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
T0 = "2026-01-01T00:00:00Z"


def garbage_line(index: int) -> bytes:
    kind = index % 5
    if kind == 0:
        return b"\xff\xfe garbage %d" % index
    if kind == 1:
        return b"garbage %d" % index
    if kind == 2:
        return b'"garbage %d"' % index
    if kind == 3:
        return b'{"event_id":"g%d"}' % index
    return (
        b'{"event_id":"g%d","type":"lead.mql","lead_id":"garbage",'
        b'"occurred_at":"0001-01-01T00:00:00Z"}' % index
    )


def lead_lines(events: int) -> list[bytes]:
    """One lead: created, `events` lead.scored a second apart, then an MQL."""
    base = 1_767_225_600  # 2026-01-01T00:00:00Z
    lines = [
        json.dumps(
            {"event_id": "c", "type": "lead.created", "lead_id": "big-lead", "occurred_at": T0,
             "source": "webinar"}
        ).encode()
    ]  # fmt: skip
    for i in range(events):
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(base + i))
        lines.append(
            json.dumps(
                {"event_id": f"s-{i}", "type": "lead.scored", "lead_id": "big-lead",
                 "occurred_at": stamp, "score": i % 101}
            ).encode()
        )  # fmt: skip
    lines.append(
        json.dumps(
            {"event_id": "m", "type": "lead.mql", "lead_id": "big-lead",
             "occurred_at": "2026-01-01T00:08:20Z"}
        ).encode()
    )  # fmt: skip
    return lines


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def proc_kib(pid: int) -> dict[str, int]:
    fields: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, rest = line.partition(":")
        if name in ("VmHWM", "VmRSS"):
            fields[name] = int(rest.split()[0])
    return fields


def status(port: int) -> dict[str, Any] | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/status", timeout=5) as response:
            return json.loads(response.read())
    except OSError:
        return None


def wait(check: Callable[[], bool], timeout: float, what: str, worker: subprocess.Popen) -> float:
    started = time.monotonic()
    while not check():
        if worker.poll() is not None:
            raise SystemExit(f"the worker exited while waiting for {what}")
        if time.monotonic() - started > timeout:
            raise SystemExit(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.5)
    return time.monotonic() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.adversarial", description=__doc__)
    parser.add_argument("--garbage", type=int, default=20_000)
    parser.add_argument("--lead-events", type=int, default=100_000)
    args = parser.parse_args(argv)
    from devtools.broker import LocalKafka

    work = Path(tempfile.mkdtemp(prefix="leadflow-adversarial-"))
    name = f"adv{uuid.uuid4().hex[:8]}"
    with LocalKafka(data_dir=work / "kafka") as broker:
        port = free_port()
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "LEADFLOW_KAFKA_BOOTSTRAP": broker.bootstrap,
            "LEADFLOW_APP_ID": name,
            "LEADFLOW_TOPIC": f"{name}-events",
            "LEADFLOW_DLQ_TOPIC": f"{name}-dlq",
            "LEADFLOW_METRICS_PORT": str(port),
            "LEADFLOW_DATA_DIR": str(work / "worker"),
        }
        log = (work / "worker.log").open("wb")
        worker = subprocess.Popen(
            [sys.executable, "-m", "leadflow.cli", "worker"], env=env, stdout=log, stderr=log
        )
        try:
            wait(lambda: bool((status(port) or {}).get("ready")), 120, "ready", worker)
            time.sleep(5)
            idle = proc_kib(worker.pid)

            def produce(lines: list[bytes], label: str) -> None:
                path = work / f"{label}.jsonl"
                path.write_bytes(b"\n".join(lines) + b"\n")
                subprocess.run(
                    [sys.executable, "-m", "leadflow.cli", "produce", str(path)],
                    env=env,
                    check=True,
                    capture_output=True,
                )

            produce([garbage_line(i) for i in range(args.garbage)], "garbage")
            garbage_s = wait(
                lambda: (status(port) or {}).get("dead_lettered", 0) >= args.garbage,
                3600,
                "the garbage burst dead-lettered",
                worker,
            )
            after_garbage = proc_kib(worker.pid)

            total = args.lead_events + 2
            produce(lead_lines(args.lead_events), "lead")
            lead_s = wait(
                lambda: (status(port) or {}).get("processed", 0) >= total,
                3600,
                "the big lead folded",
                worker,
            )
            after_lead = proc_kib(worker.pid)
        finally:
            worker.terminate()
            worker.wait(timeout=60)
            log.close()

    idle_mib = idle["VmHWM"] / 1024
    rows = [
        ("Idle worker peak RSS", f"{idle_mib:,.0f}", "MiB", ""),
        (
            f"Worker peak RSS after {args.garbage:,} garbage messages, all dead-lettered",
            f"{after_garbage['VmHWM'] / 1024:,.0f}",
            "MiB",
            f"+{(after_garbage['VmHWM'] - idle['VmHWM']) / 1024:,.1f} MiB over idle; "
            f"{args.garbage / garbage_s:,.0f} dead letters/s ({garbage_s:,.0f} s)",
        ),
        (
            f"Worker peak RSS after one lead with {args.lead_events:,} events (bulk)",
            f"{after_lead['VmHWM'] / 1024:,.0f}",
            "MiB",
            f"+{(after_lead['VmHWM'] - idle['VmHWM']) / 1024:,.1f} MiB over idle; "
            f"RSS now {after_lead['VmRSS'] / 1024:,.0f} MiB; "
            f"{total / lead_s:,.0f} events/s ({lead_s:,.0f} s)",
        ),
    ]
    print("| measurement | value | unit | note |")
    print("|---|---:|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
