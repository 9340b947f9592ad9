"""The raw ceiling: aiokafka `getmany` plus an orjson decode per message, nothing else.

Runs in a child process (like the worker) over a backlog of the same generated input, so
no producer or harness thread shares its interpreter.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from typing import Any

from bench import loops
from bench.harness import (
    PARTITIONS,
    BenchError,
    Child,
    Context,
    base_env,
    create_topics,
    log,
    produce_file,
    python_cmd,
    running,
)
from bench.inputs import generated
from bench.report import Outcome, Row


def run(ctx: Context) -> Outcome:
    outcome = Outcome("ceiling")
    source = generated(ctx, ctx.sizes.throughput_events)
    names = ctx.names("ceiling")
    create_topics(ctx, names)
    sent, took = produce_file(ctx, names.topic, source.path)
    log(f"ceiling: {sent:,} events produced in {took:.1f}s")
    use_uvloop, _ = loops.worker_wants_uvloop()
    result_path = ctx.work_dir / f"{names.app_id}.json"
    child = Child(
        "ceiling",
        python_cmd(
            "-m",
            "bench.ceiling",
            "--bootstrap",
            ctx.bootstrap,
            "--topic",
            names.topic,
            "--expect",
            str(sent),
            "--loop",
            loops.loop_name(use_uvloop),
            "--result",
            str(result_path),
        ),
        base_env(),
        ctx.log_path("ceiling"),
    )
    with running(child):
        child.start()
        code = child.wait(timeout=max(120.0, sent / 5_000))
    if code != 0 or not result_path.exists():
        raise BenchError(f"ceiling consumer failed ({code}):\n{child.tail()}")
    result = json.loads(result_path.read_text())
    ctx.shared["ceiling_rate"] = result["rate_events_per_s"]
    outcome.details = {"topic": names.topic, "produce_seconds": took, **result}
    outcome.rows.append(
        Row.info(
            "ceiling_rate",
            "Ceiling: aiokafka getmany + orjson.loads (1 process)",
            result["rate_events_per_s"],
            "events/s",
        )
    )
    return outcome


# --------------------------------------------------------------------------- child process


async def consume(bootstrap: str, topic: str, expect: int, timeout: float) -> dict[str, Any]:
    import orjson
    from aiokafka import AIOKafkaConsumer, TopicPartition

    # No group: a group join would add seconds of coordination to a run meant to time
    # only fetching and decoding. Fetch sizes stay at aiokafka's defaults, as Faust's do.
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        loads = orjson.loads
        count = 0
        first_at: float | None = None
        decoded_bytes = 0
        deadline = time.monotonic() + timeout
        while count < expect:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{count} of {expect} consumed after {timeout}s")
            called_at = time.perf_counter()
            batches = await consumer.getmany(timeout_ms=500)
            if batches and first_at is None:
                # The window opens when the fetch that brought the first data was asked
                # for: one fetch can hold a whole small backlog, so "after the first
                # batch" (the workers' rule) could leave nothing to time.
                first_at = called_at
            for messages in batches.values():
                for message in messages:
                    value = message.value or b""
                    loads(value)
                    decoded_bytes += len(value)
                count += len(messages)
        last_at = time.perf_counter()
    finally:
        await consumer.stop()
    assert first_at is not None
    span = last_at - first_at
    return {
        "events": count,
        "rate_events_per_s": count / span if span > 0 else float("nan"),
        "seconds_first_to_last": span,
        "mean_message_bytes": decoded_bytes / max(count, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ceiling")
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--expect", type=int, required=True)
    parser.add_argument("--loop", choices=("asyncio", "uvloop"), default="asyncio")
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument("--result", required=True)
    args = parser.parse_args(argv)
    loop_class = loops.install(args.loop == "uvloop")
    loop = asyncio.get_event_loop()
    result = loop.run_until_complete(consume(args.bootstrap, args.topic, args.expect, args.timeout))
    result["loop"] = loop_class
    with open(args.result, "w") as out:
        json.dump(result, out)
    print(json.dumps(result), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
