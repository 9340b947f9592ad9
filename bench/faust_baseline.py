"""A bare Faust agent that only counts: what Faust itself costs, with the worker's settings.

The child process runs the real `leadflow worker` entry point with one thing swapped:
`streams.app._wire` (which adds the worker's topics, table and agents to the app) is
replaced by a single counting agent. So the app settings (batch size and timeout, session
timeout, processing guarantee, web server), the raw serializers and whatever event loop
the worker entry point sets up are the worker's own, read at run time, not copied here.
If `_wire` is ever renamed, a standalone app with today's settings is used instead and
the result says so.
"""

from __future__ import annotations

import sys
import time
from typing import Any

from bench.harness import (
    Context,
    WorkerProcess,
    create_topics,
    log,
    produce_file,
    python_cmd,
    running,
    track,
)
from bench.inputs import generated
from bench.report import Outcome, Row, load_note

# How the bare app was built, reported in /status: the worker's own entry point with the
# wiring swapped (the normal case), or the standalone fallback.
_wiring = "leadflow worker entry point, streams.app._wire swapped"


def run(ctx: Context) -> Outcome:
    outcome = Outcome("faust")
    source = generated(ctx, ctx.sizes.throughput_events)
    names = ctx.names("faust")
    create_topics(ctx, names)
    sent, took = produce_file(ctx, names.topic, source.path)
    log(f"faust: {sent:,} events produced in {took:.1f}s")
    worker = WorkerProcess(ctx, names, "faust-bare", cmd=python_cmd("-m", "bench.faust_baseline"))
    with running(worker):
        worker.start()
        progress = track([worker], sent, max(180.0, sent / 1_000), broker_pid=ctx.broker_pid)
        status = worker.status() or {}
        uvloop_mapped = worker.maps_mention("uvloop")
    ctx.shared["faust_rate"] = progress.rate
    outcome.details = {
        "topic": names.topic,
        "produce_seconds": took,
        **progress.summary(worker.started_at),
        "wiring": status.get("wiring"),
        "internal_rate_events_per_s": status.get("internal_rate"),
        "loop": status.get("loop"),
        "uvloop_mapped": uvloop_mapped,
        "batch_size": status.get("batch_size"),
        "batch_within_s": status.get("within"),
    }
    outcome.rows.append(
        Row.info(
            "faust_rate",
            "Bare Faust agent, count only (worker's app settings)",
            progress.rate,
            "events/s",
            note=load_note(outcome.details),
        )
    )
    return outcome


# --------------------------------------------------------------------------- child process


def _bare_wire(worker: Any) -> None:
    """Stand-in for streams.app._wire: one agent that counts, and /status for the harness."""
    import asyncio

    from streams import app as app_module

    app = worker.app
    settings = worker.settings
    raw = getattr(
        app_module,
        "_RAW",
        {
            "key_type": bytes,
            "value_type": bytes,
            "key_serializer": "raw",
            "value_serializer": "raw",
        },
    )
    topic = app.topic(worker.topics.events, **raw)
    batch = settings.batch_size
    within = settings.batch_timeout.total_seconds()
    state: dict[str, Any] = {"count": 0, "first": None, "first_count": 0, "last": None}

    @app.agent(topic, name="bench-count")
    async def count(stream: Any) -> None:
        async for events in stream.take_events(batch, within=within):
            state["count"] += len(events)
            now = time.perf_counter()
            if state["first"] is None:
                state["first"], state["first_count"] = now, state["count"]
            state["last"] = now

    @app.page("/status")
    async def status(web: Any, request: Any) -> Any:
        try:
            assigned = sorted({tp.partition for tp in app.consumer.assignment()})
        except Exception:  # no consumer yet while starting: simply not ready
            assigned = []
        first, last = state["first"], state["last"]
        internal = (
            (state["count"] - state["first_count"]) / (last - first)
            if first is not None and last is not None and last > first
            else None
        )
        loop = asyncio.get_event_loop()
        return web.json(
            {
                "ready": bool(assigned),
                "partitions": assigned,
                "processed": state["count"],
                "duplicates": 0,
                "internal_rate": internal,
                "wiring": _wiring,
                "loop": f"{type(loop).__module__}.{type(loop).__name__}",
                "batch_size": batch,
                "within": within,
            }
        )


def main() -> int:
    from streams import app as app_module

    if hasattr(app_module, "_wire"):
        app_module._wire = _bare_wire
        from leadflow.cli import main as leadflow_main

        return leadflow_main(["worker", "--loglevel", "info"])
    # Same settings as the worker, by construction: only its wiring is swapped.
    raise SystemExit("bench: streams.app._wire not found; the baseline swaps the worker's wiring")


if __name__ == "__main__":
    sys.exit(main())
