"""End-to-end latency at a steady produce rate, seen two ways.

* The worker's own `leadflow_ingest_latency_seconds` histogram (Kafka message timestamp,
  i.e. produce time, to folded), p50/p99 interpolated inside buckets as PromQL's
  `histogram_quantile` does.
* A direct probe: once a second a `lead.created` for a fresh lead id is sent, and
  `/status?lead=ID` is polled until `lead_known`; the probe's latency is send to first
  sighting, so it also covers the producer's linger and the HTTP view of state.

The paced producer, the probes and their polling share one asyncio loop in the harness
process; the worker is a separate process, as in production.
"""

from __future__ import annotations

import asyncio
import math
import os
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import orjson

from bench.harness import (
    BenchError,
    Context,
    CpuWindow,
    WorkerProcess,
    bucket_bounds,
    create_topics,
    histogram_buckets,
    histogram_quantile,
    lead_key,
    log,
    percentile,
    read_lines,
    running,
    track,
)
from bench.inputs import generated
from bench.report import Outcome, Row, load_note

TICK_S = 0.005  # pacing granularity: 25 messages per tick at 5,000/s
PROBE_EVERY_S = 1.0
PROBE_POLL_S = 0.01  # resolution of the probe latency (adds ~5 ms on average)
PROBE_TIMEOUT_S = 120.0  # a probe not seen by then counts as infinitely late
HISTOGRAM = "leadflow_ingest_latency_seconds"


def run(ctx: Context) -> Outcome:
    outcome = Outcome("latency")
    rate, seconds = ctx.sizes.latency_rate, ctx.sizes.latency_seconds
    needed = int(rate * seconds)  # the pacer sends fewer: it stops before the last tick
    source = generated(ctx, needed)
    names = ctx.names("latency")
    create_topics(ctx, names)
    worker = WorkerProcess(ctx, names, "worker-latency")
    with running(worker):
        worker.start()
        worker.wait_ready()
        log(f"latency: producing {rate:,.0f} events/s for {seconds:.0f}s with a probe every 1 s")
        paced = asyncio.run(
            _paced_run(
                ctx.bootstrap,
                names.topic,
                worker,
                read_lines(source.path),
                rate,
                seconds,
                ctx.broker_pid,
            )
        )
        # Everything sent must be folded before the histogram is read, or the slowest
        # events (the ones still queued) would be missing from it.
        track([worker], paced["sent"] + paced["probes_sent"], timeout=120.0)
        text = worker.get("/metrics", timeout=30.0)
        if text is None:
            raise BenchError("worker did not answer /metrics")
    buckets = histogram_buckets(text.decode(), HISTOGRAM)
    if not buckets:
        raise BenchError(f"{HISTOGRAM} not found in the worker's /metrics")
    hist_p50 = histogram_quantile(0.5, buckets)
    hist_p99 = histogram_quantile(0.99, buckets)
    probes: list[float] = paced["probe_latencies"]
    # Lost probes are the slowest ones: leaving them out would flatter the percentiles.
    with_lost = probes + [math.inf] * paced["probes_lost"]
    probe_p50 = percentile(with_lost, 0.5)
    probe_p99 = percentile(with_lost, 0.99)
    outcome.details = {
        "topic": names.topic,
        "target_rate": rate,
        "seconds": seconds,
        **{k: v for k, v in paced.items() if k != "probe_latencies"},
        "probe_latencies_s": [round(v, 4) for v in probes],
        "histogram_buckets": buckets,
        "histogram_count": buckets[-1][1],
        "histogram_p50_s": hist_p50,
        "histogram_p99_s": hist_p99,
        "probe_p50_s": probe_p50,
        "probe_p99_s": probe_p99,
    }
    achieved = paced["achieved_rate"]
    what = f"at {achieved:,.0f}/s for {seconds:.0f} s"

    def ms(value: float | None) -> float | None:
        return None if value is None else value * 1000

    outcome.rows += [
        Row.info(
            "latency_hist_p50",
            f"Latency p50, worker histogram, {what}",
            ms(hist_p50),
            "ms",
            note=_bucket_note(0.5, buckets),
        ),
        Row.checked(
            "latency_hist_p99",
            f"Latency p99, worker histogram, {what}",
            ms(hist_p99),
            "ms",
            "< 1000",
            lambda v: v < 1000,
            note=_bucket_note(0.99, buckets),
        ),
        Row.info(
            "latency_probe_p50",
            f"Latency p50, probe send → /status lead_known ({len(probes)} probes)",
            ms(probe_p50),
            "ms",
        ),
        Row.checked(
            "latency_probe_p99",
            "Latency p99, probe send → /status lead_known",
            ms(probe_p99),
            "ms",
            "< 1000",
            lambda v: v < 1000,
        ),
    ]
    timeline = paced["timeline_s_sent_done"]
    behind = [sent - done for t, sent, done in timeline if t <= paced["produce_seconds"]]
    outcome.rows.append(
        Row.info(
            "latency_backlog",
            "Backlog when producing stopped (sent - folded)",
            float(behind[-1]) if behind else None,
            "events",
            note=load_note(paced),
        )
    )
    if paced["probes_lost"]:
        for row in outcome.rows:
            if row.key == "latency_probe_p99":
                row.note = (
                    f"{paced['probes_lost']} probes not seen within {PROBE_TIMEOUT_S:.0f} s, "
                    "counted as infinite"
                )
    return outcome


def _bucket_note(q: float, buckets: list[tuple[float, float]]) -> str:
    bounds = bucket_bounds(q, buckets)
    if bounds is None:
        return ""
    lower, upper = bounds
    return f"interpolated in the {lower:g} to {upper:g} s bucket"


def _probe_event() -> tuple[str, bytes]:
    lead = f"probe-{uuid.uuid4().hex[:16]}"
    now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    event = {
        "event_id": str(uuid.uuid4()),
        "type": "lead.created",
        "lead_id": lead,
        "occurred_at": now,
        "source": "organic",
    }
    return lead, orjson.dumps(event)


async def _paced_run(
    bootstrap: str,
    topic: str,
    worker: WorkerProcess,
    lines: Iterator[bytes],
    rate: float,
    seconds: float,
    broker_pid: int | None,
) -> dict[str, Any]:
    import aiohttp
    from aiokafka import AIOKafkaProducer

    # A production-like producer: acks=all as `leadflow produce`, a short linger.
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    await producer.start()
    session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5))
    probe_latencies: list[float] = []
    lost = 0
    pending: list[asyncio.Future[Any]] = []
    probe_tasks: list[asyncio.Task[None]] = []
    sent = 0
    late_ticks = 0
    timeline: list[tuple[float, int, int]] = []  # (seconds, sent, done by the worker)
    status_url = f"http://127.0.0.1:{worker.port}/status"

    async def done_count() -> int | None:
        try:
            async with session.get(status_url) as response:
                body = await response.json(content_type=None)
            return int(body.get("processed", 0) + body.get("duplicates", 0))
        except (aiohttp.ClientError, TimeoutError, ValueError):
            return None

    async def monitor() -> None:
        # Lag over time: tells a worker that keeps up with a slow start from one that
        # falls further behind every second.
        while True:
            done = await done_count()
            if done is not None:
                timeline.append((round(time.perf_counter() - started, 2), sent, done))
            await asyncio.sleep(0.5)

    async def probe() -> None:
        nonlocal lost
        lead, value = _probe_event()
        url = f"http://127.0.0.1:{worker.port}/status?lead={lead}"
        sent_at = time.perf_counter()
        await producer.send(topic, value=value, key=lead.encode())
        while time.perf_counter() - sent_at < PROBE_TIMEOUT_S:
            try:
                async with session.get(url) as response:
                    body = await response.json(content_type=None)
                if body.get("lead_known"):
                    probe_latencies.append(time.perf_counter() - sent_at)
                    return
            except (aiohttp.ClientError, TimeoutError, ValueError):
                pass  # a busy worker may miss a poll; the next one counts
            await asyncio.sleep(PROBE_POLL_S)
        lost += 1

    started = time.perf_counter()
    watcher = asyncio.create_task(monitor())
    cpu = CpuWindow(
        {
            "worker": worker.pid,
            "harness": os.getpid(),
            **({"broker": broker_pid} if broker_pid else {}),
        }
    ).begin()
    try:
        next_probe = started
        end = started + seconds
        while True:
            now = time.perf_counter()
            if now >= end:
                break
            if now >= next_probe:
                probe_tasks.append(asyncio.create_task(probe()))
                next_probe += PROBE_EVERY_S
            # Catch up to the schedule (rate * elapsed) each tick, so a slow tick does
            # not lower the average rate; the burst is recorded as a late tick.
            due = int((now - started) * rate) - sent
            if due > 3 * rate * TICK_S:
                late_ticks += 1
            for _ in range(max(0, due)):
                line = next(lines, None)
                if line is None:
                    raise BenchError(f"input ran out after {sent} events")
                pending.append(await producer.send(topic, value=line, key=lead_key(line)))
                sent += 1
            if len(pending) > 20_000:
                await asyncio.gather(*pending)
                pending.clear()
            await asyncio.sleep(TICK_S)
        produce_seconds = time.perf_counter() - started
        cpu_cores = cpu.end()
        await asyncio.gather(*pending)
        delivered_seconds = time.perf_counter() - started
        # How long after the last send the worker had folded everything sent.
        caught_up: float | None = None
        while time.perf_counter() - started < produce_seconds + 120:
            done = await done_count()
            if done is not None and done >= sent + len(probe_tasks):
                caught_up = time.perf_counter() - started - produce_seconds
                break
            await asyncio.sleep(0.05)
        await asyncio.gather(*probe_tasks)
    finally:
        watcher.cancel()
        for task in probe_tasks:
            task.cancel()
        await session.close()
        await producer.stop()
    return {
        "sent": sent,
        "produce_seconds": produce_seconds,
        "achieved_rate": sent / produce_seconds,
        "late_ticks": late_ticks,
        "all_delivered_after_s": delivered_seconds,
        "worker_caught_up_s_after_last_send": caught_up,
        "cpu_cores_while_producing": cpu_cores,
        "timeline_s_sent_done": timeline,
        "probes_sent": len(probe_tasks),
        "probes_seen": len(probe_latencies),
        "probes_lost": lost,
        "probe_latencies": probe_latencies,
    }
