"""`leadflow replay` throughput and peak RSS on generated events (no Kafka involved).

The replay runs under a tiny wrapper process whose RUSAGE_CHILDREN then holds exactly
one child: the replay. The harness's own children (workers, brokers) would otherwise
dominate a max-RSS taken from the harness.
"""

from __future__ import annotations

import argparse
import json
import re
import resource
import subprocess
import sys
import time

from bench.harness import BenchError, Context, base_env, leadflow_cmd, python_cmd, source_root
from bench.inputs import generated
from bench.report import Outcome, Row

_SUMMARY = re.compile(r"replay: ([\d,]+) events folded, ([\d,]+) duplicates.* in ([\d.]+)s")


def run(ctx: Context) -> Outcome:
    outcome = Outcome("replay")
    source = generated(ctx, ctx.sizes.replay_events)
    metrics_out = ctx.work_dir / "replay-metrics.prom"
    log_path = ctx.log_path("replay")
    cmd = python_cmd("-m", "bench.replay", "--", *leadflow_cmd("replay", str(source.path)))
    with metrics_out.open("wb") as out, log_path.open("ab") as err:
        done = subprocess.run(
            cmd, env=base_env(), cwd=source_root(), stdout=out, stderr=err, timeout=900, check=False
        )
    text = log_path.read_text(errors="replace")
    usage_lines = [line for line in text.splitlines() if line.startswith('{"rusage"')]
    if done.returncode != 0 or not usage_lines:
        raise BenchError(f"replay failed ({done.returncode}):\n{text[-2000:]}")
    usage = json.loads(usage_lines[-1])["rusage"]
    if usage["returncode"] != 0:
        raise BenchError(f"leadflow replay exited with {usage['returncode']}:\n{text[-2000:]}")
    match = _SUMMARY.findall(text)
    folded = int(match[-1][0].replace(",", "")) if match else source.events
    internal_s = float(match[-1][2]) if match else None
    wall = usage["wall_s"]
    rate = source.events / wall
    per_lead = usage["maxrss_kib"] * 1024 / source.leads
    ctx.shared["replay_memory"] = {"leads": source.leads, "maxrss_kib": usage["maxrss_kib"]}
    outcome.details = {
        "events": source.events,
        "leads": source.leads,
        "events_folded": folded,
        "wall_s": wall,
        "internal_s": internal_s,
        "internal_rate_events_per_s": source.events / internal_s if internal_s else None,
        **usage,
    }
    outcome.rows += [
        Row.checked(
            "replay_rate",
            f"`leadflow replay` of {source.events:,} events (process wall time)",
            rate,
            "events/s",
            "≥ 150,000",
            lambda v: v >= 150_000,
        ),
        Row.checked(
            "replay_rss_per_lead",
            f"Replay peak RSS per lead ({source.leads:,} leads)",
            per_lead,
            "B",
            "< 1,024",
            lambda v: v < 1024,
        ),
    ]
    return outcome


def main(argv: list[str] | None = None) -> int:
    """Wrapper: run the command after `--`, print its wall time and max RSS as JSON."""
    parser = argparse.ArgumentParser(prog="python -m bench.replay")
    parser.add_argument("cmd", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
    started = time.monotonic()
    code = subprocess.call(cmd)
    wall = time.monotonic() - started
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    report = {
        "returncode": code,
        "wall_s": wall,
        "maxrss_kib": usage.ru_maxrss,  # KiB on Linux
        "user_s": usage.ru_utime,
        "sys_s": usage.ru_stime,
    }
    print(json.dumps({"rusage": report}), file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
