"""`leadflow worker` throughput: one worker on a backlog, bulk messages, and two workers.

Time runs from the first poll of `/status` that shows any event done to the first poll
that shows `processed + duplicates` equal to what was produced; the events done by the
first sighting are left out with their time (see `harness.Progress`).
"""

from __future__ import annotations

import contextlib
import threading
import time
from pathlib import Path
from typing import Any

from bench import loops
from bench.harness import (
    BenchError,
    ChangelogWatch,
    Context,
    Progress,
    WorkerProcess,
    bulk_args,
    create_topics,
    log,
    produce_cli,
    produce_file,
    running,
    track,
    wait_partitions_settled,
)
from bench.inputs import generated
from bench.profile import Profiler, render, summarise
from bench.report import Outcome, Row, load_note


def _timeout(events: int) -> float:
    # Generous: a worker at 1,000 events/s still finishes; a stuck one fails in minutes.
    return max(180.0, events / 1_000)


# --------------------------------------------------------------------------- one worker


def run_single(ctx: Context) -> Outcome:
    outcome = Outcome("worker")
    source = generated(ctx, ctx.sizes.throughput_events)
    names = ctx.names("worker")
    create_topics(ctx, names)
    sent, took = produce_file(ctx, names.topic, source.path)
    log(f"worker: {sent:,} events produced in {took:.1f}s")
    worker = WorkerProcess(ctx, names, "worker-1")
    profiler: Profiler | None = None
    watch = ChangelogWatch(ctx, names)
    with running(worker), contextlib.closing(watch):
        worker.start()
        ready_after = worker.wait_ready()
        if ctx.profile:
            # Attached once ready, so imports and the group join stay out of the profile.
            profiler = Profiler(
                worker.pid, ctx.run_dir / "worker-profile.folded", ctx.log_path("py-spy")
            ).start()
        try:
            # py-spy's own CPU is measured too: it shares the two cores with the worker.
            spy = {"py-spy": profiler.own_pid} if profiler and profiler.own_pid else {}
            progress = track(
                [worker], sent, _timeout(sent), broker_pid=ctx.broker_pid, extra_pids=spy
            )
        finally:
            if profiler is not None:
                profiler.stop()
        status = worker.status() or {}
        memory = worker.proc_status()
        uvloop_mapped = worker.maps_mention("uvloop")
        durable_at, records = watch.wait_settled(timeout=_timeout(sent))
    ctx.shared["worker_rate"] = progress.rate
    leads = int(status.get("leads", 0))
    ctx.shared["worker_memory"] = {"leads": leads, **memory}
    outcome.details = {
        "topic": names.topic,
        "produce_seconds": took,
        "ready_after_s": ready_after,
        "profiled": profiler is not None,
        "uvloop_in_source": loops.worker_wants_uvloop()[1],
        "uvloop_mapped": uvloop_mapped,
        "status": status,
        "proc_status_kib": memory,
        "changelog_records": records,
        "changelog_complete_after_last_fold_s": max(0.0, durable_at - progress.last_at),
        **progress.summary(worker.started_at),
    }
    note = ", ".join(
        filter(None, ["py-spy attached" if profiler else "", load_note(outcome.details)])
    )
    outcome.rows.append(
        Row.info(
            "worker_rate", "One worker, single-event messages", progress.rate, "events/s", note
        )
    )
    outcome.rows.append(_changelog_row("worker_changelog", "One worker", outcome.details))
    if profiler is not None:
        outcome.details["profile"] = _write_profile(ctx, profiler.folded, progress)
    return outcome


def _changelog_row(key: str, who: str, details: dict[str, Any]) -> Row:
    return Row.info(
        key,
        f"{who}: table changelog complete after the last event was folded",
        details["changelog_complete_after_last_fold_s"],
        "s",
        note=f"{details['changelog_records']:,} changelog records",
    )


def _write_profile(ctx: Context, folded: Path, progress: Progress) -> dict[str, Any]:
    if not folded.exists():
        return {"error": f"py-spy wrote no {folded}; see {ctx.log_path('py-spy')}"}
    summary = summarise(folded, top=40)
    title = (
        f"Profile of one `leadflow worker` folding {progress.expected:,} single-event "
        f"messages ({progress.rate:,.0f} events/s while profiled)"
    )
    text = render(summary, title)
    targets = [ctx.run_dir / "worker-profile.txt"]
    if ctx.shared.get("out_dir"):
        targets.append(Path(ctx.shared["out_dir"]) / "worker-profile.txt")
    for path in targets:
        path.write_text(text)
    log(f"profile: {summary.samples} samples -> {targets[-1]}")
    return {
        "samples": summary.samples,
        "file": str(targets[-1]),
        "folded": str(folded),
        "top_self": summary.self_time[:15],
    }


# --------------------------------------------------------------------------- bulk messages


def run_bulk(ctx: Context) -> Outcome:
    outcome = Outcome("bulk")
    extra = bulk_args(ctx)
    if not extra:
        why = "not available (`leadflow produce` has no --batch)"
        outcome.details = {"available": False}
        outcome.rows += [
            Row.unavailable("bulk_rate", "One worker, bulk messages", "events/s", "≥ 50,000", why),
            Row.unavailable("bulk_vs_ceiling", "One worker bulk / ceiling", "ratio", "≥ 0.33", why),
        ]
        return outcome
    source = generated(ctx, ctx.sizes.throughput_events)
    names = ctx.names("bulk")
    create_topics(ctx, names)
    stdout, took = produce_cli(ctx, names, source.path, extra)
    log(f"bulk: produced with {' '.join(extra)} in {took:.1f}s: {stdout.strip()}")
    worker = WorkerProcess(ctx, names, "worker-bulk")
    watch = ChangelogWatch(ctx, names)
    with running(worker), contextlib.closing(watch):
        worker.start()
        worker.wait_ready()
        progress = track(
            [worker], source.events, _timeout(source.events), broker_pid=ctx.broker_pid
        )
        status = worker.status() or {}
        durable_at, records = watch.wait_settled(timeout=_timeout(source.events))
    ctx.shared["bulk_rate"] = progress.rate
    outcome.details = {
        "available": True,
        "produce_args": extra,
        "produce_stdout": stdout.strip(),
        "produce_seconds": took,
        "status": status,
        "changelog_records": records,
        "changelog_complete_after_last_fold_s": max(0.0, durable_at - progress.last_at),
        **progress.summary(worker.started_at),
    }
    outcome.rows.append(
        Row.checked(
            "bulk_rate",
            f"One worker, bulk messages ({' '.join(extra)})",
            progress.rate,
            "events/s",
            "≥ 50,000",
            lambda v: v >= 50_000,
            note=load_note(outcome.details),
        )
    )
    outcome.rows.append(_changelog_row("bulk_changelog", "Bulk", outcome.details))
    return outcome


# --------------------------------------------------------------------------- scaling


def _live_run(ctx: Context, label: str, count: int) -> tuple[Progress, list[dict[str, Any]]]:
    """`count` workers settle on an empty topic first, then the input is produced at once.

    With a backlog, the first worker to join would take every partition and the second
    would force a rebalance mid-run, so the run would time Faust's rebalance, not two
    workers sharing the load. Producing after the group has settled avoids that; the same
    method is used for the one-worker reference the ratio divides by.
    """
    source = generated(ctx, ctx.sizes.throughput_events)
    names = ctx.names(label)
    create_topics(ctx, names)
    workers = [WorkerProcess(ctx, names, f"{label}-{i + 1}") for i in range(count)]
    with running(*workers):
        for worker in workers:
            worker.start()
        wait_partitions_settled(workers)
        produced: dict[str, Any] = {}

        def produce() -> None:
            try:
                produced["sent"], produced["seconds"] = produce_file(ctx, names.topic, source.path)
            except BaseException as error:  # reported by the main thread
                produced["error"] = error

        producer = threading.Thread(target=produce, name=f"{label}-producer", daemon=True)
        started = time.monotonic()
        producer.start()
        progress = track(workers, source.events, _timeout(source.events), broker_pid=ctx.broker_pid)
        producer.join(timeout=60)
        if "error" in produced:
            raise BenchError(f"producer failed: {produced['error']!r}")
        statuses = [w.status() or {} for w in workers]
    details = progress.summary(started)
    details["produce_seconds"] = produced.get("seconds")
    return progress, [{"status": s} for s in statuses] + [details]


def run_scaling(ctx: Context) -> Outcome:
    outcome = Outcome("scaling")
    one, one_details = _live_run(ctx, "scale1", 1)
    log(f"scaling: one worker (produce-after-settle) {one.rate:,.0f} events/s")
    two, two_details = _live_run(ctx, "scale2", 2)
    log(f"scaling: two workers {two.rate:,.0f} events/s")
    ratio = two.rate / one.rate if one.rate > 0 else float("nan")
    ctx.shared["two_rate"] = two.rate
    outcome.details = {"one": one_details, "two": two_details, "ratio": ratio}
    backlog = ctx.shared.get("worker_rate")
    if backlog:
        outcome.details["two_vs_backlog_single"] = two.rate / backlog
    outcome.rows += [
        Row.info(
            "scale_one_rate",
            "One worker, produced after group settled",
            one.rate,
            "events/s",
            note=load_note(one_details[-1]),
        ),
        Row.info(
            "scale_two_rate",
            "Two workers, same input and method",
            two.rate,
            "events/s",
            note=load_note(two_details[-1]),
        ),
        Row.checked(
            "scaling_ratio", "Two workers / one worker", ratio, "x", "≥ 1.7", lambda v: v >= 1.7
        ),
    ]
    return outcome
