"""`python -m bench`: run the measurements against one local Kafka, print and save a table.

    python -m bench --quick                  # smoke run, ~3 minutes
    python -m bench                          # full sizes (300k events, 1M leads, 60 s)
    python -m bench --only ceiling,worker --profile

Results: <out>/latest.json and <out>/latest.md (default bench/results); logs, the
profile's raw stacks and a copy of the results in <out>/runs/<timestamp>/.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

from bench import (
    ceiling,
    faust_baseline,
    latency,
    loops,
    memory,
    pairs,
    replay,
    snapshot,
    startup,
    worker_throughput,
)
from bench.harness import ROOT, Context, Sizes, log, stop_all, use_source, write_json
from bench.report import Outcome, Row, markdown, row_dicts

Measure = Callable[[Context], Outcome]

# Order matters: ratios need ceiling and faust before worker; memory reads what the
# startup, restart and replay runs recorded.
MEASUREMENTS: dict[str, Measure] = {
    "ceiling": ceiling.run,
    "faust": faust_baseline.run,
    "worker": worker_throughput.run_single,
    "pairs": pairs.run,
    "bulk": worker_throughput.run_bulk,
    "scaling": worker_throughput.run_scaling,
    "latency": latency.run,
    "startup": startup.run_startup,
    "restart": startup.run_restart,
    "replay": replay.run,
    "memory": memory.run,
}

# Table order; rows not listed here go last in the order they came.
ORDER = (
    "ceiling_rate",
    "faust_rate",
    "worker_rate",
    "worker_vs_faust",
    "worker_vs_ceiling",
    "worker_changelog",
    "bulk_rate",
    "bulk_vs_ceiling",
    "bulk_changelog",
    "scale_one_rate",
    "scale_two_rate",
    "scaling_ratio",
    "latency_hist_p50",
    "latency_hist_p99",
    "latency_probe_p50",
    "latency_probe_p99",
    "latency_backlog",
    "startup_ready",
    "startup_first",
    "fill_rocksdb",
    "restart_rocksdb",
    "fill_memory",
    "restart_memory",
    "replay_rate",
    "worker_rss_per_lead_memory",
    "worker_rss_per_lead_rocksdb",
    "replay_rss_per_lead",
)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes for a smoke run")
    parser.add_argument(
        "--only",
        default="",
        help=f"comma-separated subset of: {','.join(MEASUREMENTS)} (default: all)",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="py-spy the one-worker throughput run; writes <out>/worker-profile.txt",
    )
    parser.add_argument("--seed", type=int, default=7, help="generator seed (default 7)")
    parser.add_argument("--throughput-events", type=int, help="events per throughput run")
    parser.add_argument("--latency-rate", type=float, help="events/s for the latency run")
    parser.add_argument("--latency-seconds", type=float, help="duration of the latency run")
    parser.add_argument("--restart-leads", type=int, help="leads for the restart runs")
    parser.add_argument("--replay-events", type=int, help="events for the replay run")
    parser.add_argument(
        "--ratio-pairs", type=int, help="alternating bare-Faust/worker runs for their ratio"
    )
    parser.add_argument(
        "--restart-separate-fills",
        action="store_true",
        help="fill the RocksDB restart state by processing too (default: shared fill)",
    )
    parser.add_argument(
        "--keep-work", action="store_true", help="keep generated inputs and Kafka data"
    )
    return parser.parse_args(argv)


def sizes_from(args: argparse.Namespace) -> Sizes:
    sizes = Sizes.quick() if args.quick else Sizes()
    overrides = {
        "throughput_events": args.throughput_events,
        "latency_rate": args.latency_rate,
        "latency_seconds": args.latency_seconds,
        "restart_leads": args.restart_leads,
        "replay_events": args.replay_events,
        "ratio_pairs": args.ratio_pairs,
    }
    sizes = dataclasses.replace(sizes, **{k: v for k, v in overrides.items() if v is not None})
    return dataclasses.replace(sizes, restart_separate_fills=args.restart_separate_fills)


def derived_rows(ctx: Context) -> list[Row]:
    """Ratios between measurements of this same run (the machine is too noisy otherwise)."""
    shared = ctx.shared
    rows: list[Row] = []
    worker, faust, ceil, bulk = (
        shared.get("worker_rate"),
        shared.get("faust_rate"),
        shared.get("ceiling_rate"),
        shared.get("bulk_rate"),
    )
    ratios = shared.get("worker_vs_faust_ratios") or ([worker / faust] if worker and faust else [])
    if ratios:
        spread = ", ".join(f"{100 * r:.0f}" for r in ratios)
        note = f"median of {len(ratios)} alternating pairs: {spread} %" if len(ratios) > 1 else ""
        rows.append(
            Row.checked(
                "worker_vs_faust",
                "One worker / bare Faust agent",
                100.0 * statistics.median(ratios),
                "%",
                "≥ 80",
                lambda v: v >= 80,
                note="worker run had py-spy attached" if ctx.profile else note,
            )
        )
    if worker and ceil:
        rows.append(Row.info("worker_vs_ceiling", "One worker / ceiling", worker / ceil, "ratio"))
    if bulk and ceil:
        rows.append(
            Row.checked(
                "bulk_vs_ceiling",
                "One worker, bulk messages / ceiling",
                bulk / ceil,
                "ratio",
                "≥ 0.33",
                lambda v: v >= 1 / 3,
            )
        )
    return rows


def ordered(rows: list[Row]) -> list[Row]:
    rank = {key: i for i, key in enumerate(ORDER)}
    return sorted(rows, key=lambda r: rank.get(r.key, len(ORDER)))


def environment(args: argparse.Namespace, sizes: Sizes) -> dict[str, Any]:
    def git(*cmd: str) -> str:
        done = subprocess.run(
            ["git", *cmd], cwd=ROOT, capture_output=True, text=True, check=False, timeout=30
        )
        return done.stdout.strip()

    from importlib.metadata import PackageNotFoundError, version

    packages: dict[str, str | None] = {}
    for name in ("faust-streaming", "mode-streaming", "aiokafka", "kafka-python", "uvloop"):
        try:
            packages[name] = version(name)
        except PackageNotFoundError:
            packages[name] = None
    from devtools.broker import kafka_version

    wants, files = loops.worker_wants_uvloop()
    return {
        "started_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "git_commit": git("rev-parse", "HEAD"),
        # Uncommitted changes outside bench/ change what is measured: keep the list.
        "git_dirty": [
            line for line in git("status", "--porcelain").splitlines() if " bench/" not in line
        ],
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "kafka": kafka_version(),
        "packages": packages,
        "worker_uvloop_in_source": wants,
        "worker_uvloop_files": files,
        "quick": args.quick,
        "sizes": dataclasses.asdict(sizes),
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sizes = sizes_from(args)
    wanted = [name.strip() for name in args.only.split(",") if name.strip()] or list(MEASUREMENTS)
    unknown = [name for name in wanted if name not in MEASUREMENTS]
    if unknown:
        print(f"unknown measurement(s): {', '.join(unknown)}", file=sys.stderr)
        return 2
    if "memory" not in wanted and {"restart", "replay", "worker"} & set(wanted):
        wanted.append("memory")  # it only reads what the others recorded
    if {"faust", "worker"} <= set(wanted) and sizes.ratio_pairs > 1 and not args.profile:
        wanted.append("pairs")

    def on_sigterm(_signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt  # one path for Ctrl-C and SIGTERM: every finally runs

    signal.signal(signal.SIGTERM, on_sigterm)

    out_dir = args.out.resolve()
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    run_dir = out_dir / "runs" / stamp
    run_dir.mkdir(parents=True, exist_ok=True)
    work_dir = Path(tempfile.mkdtemp(prefix="leadflow-bench-"))
    try:
        source = snapshot.take(work_dir / "src")
    except snapshot.SnapshotError as error:
        print(f"bench: {error}", file=sys.stderr)
        shutil.rmtree(work_dir, ignore_errors=True)
        return 2
    snapshot.activate(Path(source["path"]))
    use_source(Path(source["path"]))
    env = environment(args, sizes)
    env["source_snapshot"] = source
    started = time.monotonic()
    outcomes: list[Outcome] = []
    log(f"bench: {'quick' if args.quick else 'full'} run of {', '.join(wanted)}; logs {run_dir}")

    from devtools.broker import LocalKafka

    broker = LocalKafka(data_dir=work_dir / "kafka")
    try:
        broker.start()
        log(f"bench: Kafka on {broker.bootstrap}")
        ctx = Context(
            bootstrap=broker.bootstrap,
            run_dir=run_dir,
            work_dir=work_dir,
            sizes=sizes,
            profile=args.profile,
            seed=args.seed,
            broker_pid=broker.pid,
        )
        ctx.shared["out_dir"] = str(out_dir)
        for name in [n for n in MEASUREMENTS if n in wanted]:
            log(f"=== {name}")
            began = time.monotonic()
            try:
                outcome = MEASUREMENTS[name](ctx)
            except KeyboardInterrupt:
                raise
            except Exception as error:  # one failed measurement must not lose the others
                outcome = Outcome(name, error=f"{type(error).__name__}: {error}")
                (run_dir / f"{name}.error.txt").write_text(traceback.format_exc())
                log(f"{name} FAILED: {str(error).splitlines()[0] if str(error) else error!r}")
            outcome.seconds = time.monotonic() - began
            outcomes.append(outcome)
            log(f"=== {name} done in {outcome.seconds:.0f}s")
        derived = derived_rows(ctx)
    except KeyboardInterrupt:
        log("bench: interrupted; stopping children")
        derived = []
    finally:
        stop_all()
        broker.stop()
        for log_file in (broker.server_log, broker.stdout_log):
            if log_file.exists():
                shutil.copy(log_file, run_dir / f"kafka-{log_file.name}")
        if args.keep_work:
            log(f"bench: work dir kept at {work_dir}")
        else:
            shutil.rmtree(work_dir, ignore_errors=True)

    rows = ordered([row for outcome in outcomes for row in outcome.rows] + derived)
    failed = [o for o in outcomes if o.error]
    for outcome in failed:
        rows.append(Row(f"{outcome.name} failed", None, "", "", False, outcome.error or "", ""))
    total = time.monotonic() - started
    header = (
        f"Leadflow bench, {'quick' if args.quick else 'full'} run, {env['started_utc']}, "
        f"commit {env['git_commit'][:10]}{' + uncommitted changes' if env['git_dirty'] else ''} "
        f"(source snapshot {source['sha256']}), "
        f"{env['cpus']} CPUs, Kafka {env['kafka']}, worker loop "
        f"{'uvloop' if env['worker_uvloop_in_source'] else 'asyncio'}, {total:.0f} s"
    )
    table = markdown(rows, header)
    result = {
        "environment": env,
        "seconds": total,
        "rows": row_dicts(rows),
        "measurements": {
            o.name: {"seconds": o.seconds, "error": o.error, "details": o.details} for o in outcomes
        },
    }
    for directory in (out_dir, run_dir):
        write_json(directory / "latest.json", result)
        (directory / "latest.md").write_text(table)
    print(table)
    log(f"bench: wrote {out_dir / 'latest.json'} and {out_dir / 'latest.md'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
