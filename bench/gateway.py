"""Gateway benchmark: throughput and latency of `leadflow gateway` on loopback.

Not a test. `python -m bench.gateway` starts its own Kafka (or uses
$LEADFLOW_KAFKA_BOOTSTRAP), a gateway process, and drives it with aiohttp:

* fixed request rates, open loop: request i is due at start + i/rate whatever the
  earlier ones did, and its latency is measured from when it was due, so a slow
  gateway shows as latency instead of silently lowering the rate;
* a closed loop of concurrent clients, for the most it takes.

Every request carries a bearer token and valid events; a 2xx means Kafka has them.
Results go to bench/results/gateway.md and .json. The client runs on the same two
cores as the gateway and the broker, so it takes part of the machine too.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import orjson

from bench.harness import ROOT, base_env, free_port, log, machine_busy, percentile, write_json

RESULTS = ROOT / "bench" / "results"


@dataclass(frozen=True)
class Run:
    name: str
    mode: str  # "rate" (open loop) or "clients" (closed loop)
    batch: int  # events per request
    rate: float  # requests per second asked for (open loop)
    clients: int  # concurrent clients (closed loop)
    seconds: float


@dataclass(frozen=True)
class Result:
    run: Run
    requests: int
    statuses: dict[str, int]
    events_acknowledged: int
    elapsed: float
    p50_ms: float | None
    p99_ms: float | None
    max_ms: float | None
    machine_cpu: float  # share of all CPUs busy during the run

    @property
    def requests_per_second(self) -> float:
        return self.requests / self.elapsed

    @property
    def events_per_second(self) -> float:
        return self.events_acknowledged / self.elapsed


def bodies(batch: int, count: int, seed: int) -> Iterator[bytes]:
    from devtools.generate import GeneratorSpec, generate_events

    events = [orjson.dumps(e) for e in generate_events(GeneratorSpec(seed=seed, events=count))]
    for start in range(0, len(events) - batch + 1, batch):
        yield b"[" + b",".join(events[start : start + batch]) + b"]"


async def drive(url: str, token: str, run: Run, pool: list[bytes]) -> Result:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    latencies: list[float] = []
    statuses: Counter[str] = Counter()
    acknowledged = 0
    supply = iter(pool)

    async def post(session: aiohttp.ClientSession, body: bytes, due: float) -> None:
        nonlocal acknowledged
        try:
            async with session.post(url, data=body, headers=headers) as response:
                await response.read()
                statuses[str(response.status)] += 1
                if response.status < 300:
                    acknowledged += run.batch
        except (aiohttp.ClientError, TimeoutError) as error:
            statuses[type(error).__name__] += 1
        latencies.append(time.perf_counter() - due)

    connector = aiohttp.TCPConnector(limit=max(run.clients, 512))
    timeout = aiohttp.ClientTimeout(total=60)
    busy0, total0 = machine_busy()
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        started = time.perf_counter()
        deadline = started + run.seconds
        if run.mode == "rate":
            tasks = []
            for i in range(int(run.rate * run.seconds)):
                due = started + i / run.rate
                if (wait := due - time.perf_counter()) > 0:
                    await asyncio.sleep(wait)
                body = next(supply, None)
                if body is None:
                    break
                tasks.append(asyncio.create_task(post(session, body, due)))
            await asyncio.gather(*tasks)
        else:

            async def client() -> None:
                while time.perf_counter() < deadline and (body := next(supply, None)):
                    await post(session, body, time.perf_counter())

            await asyncio.gather(*(client() for _ in range(run.clients)))
        elapsed = time.perf_counter() - started
    busy1, total1 = machine_busy()

    def ms(q: float) -> float | None:
        value = percentile(latencies, q)
        return None if value is None else value * 1000

    return Result(
        run=run,
        requests=len(latencies),
        statuses=dict(statuses),
        events_acknowledged=acknowledged,
        elapsed=elapsed,
        p50_ms=ms(0.50),
        p99_ms=ms(0.99),
        max_ms=ms(1.0),
        machine_cpu=(busy1 - busy0) / max(1, total1 - total0),
    )


def start_gateway(bootstrap: str, topic: str, workdir: Path, token: str) -> subprocess.Popen:
    from gateway.tokens import hash_token

    port = free_port()
    env = {
        **base_env(),
        "LEADFLOW_KAFKA_BOOTSTRAP": bootstrap,
        "LEADFLOW_TOPIC": topic,
        "LEADFLOW_GATEWAY_PORT": str(port),
        "LEADFLOW_GATEWAY_TOKENS": json.dumps({"bench": hash_token(token)}),
        "LEADFLOW_GATEWAY_RATE_LIMIT": "1000000/second",
        "LEADFLOW_GATEWAY_KAFKA_TIMEOUT": "30s",
    }
    log_file = (workdir / "gateway.log").open("ab")
    process = subprocess.Popen(
        [sys.executable, "-m", "leadflow.cli", "gateway", "--loglevel", "warning"],
        env=env,
        stdout=log_file,
        stderr=subprocess.STDOUT,
    )
    process.port = port  # type: ignore[attr-defined]
    deadline = time.monotonic() + 60
    import urllib.request

    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"gateway exited; see {workdir / 'gateway.log'}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as r:
                if r.status == 200:
                    return process
        except OSError:
            time.sleep(0.2)
    raise SystemExit("gateway not ready after 60 s")


def runs(quick: bool) -> list[Run]:
    scale = 0.25 if quick else 1.0
    return [
        Run("warm-up", "rate", 10, 50, 0, 5 * scale),
        Run("single events at 200 requests/s", "rate", 1, 200, 0, 30 * scale),
        Run("10-event batches at 200 requests/s", "rate", 10, 200, 0, 30 * scale),
        Run("10-event batches at 400 requests/s", "rate", 10, 400, 0, 30 * scale),
        Run("10-event batches, 50 clients", "clients", 10, 0, 50, 20 * scale),
        Run("100-event batches, 50 clients", "clients", 100, 0, 50, 20 * scale),
    ]


def markdown(results: list[Result], header: str) -> str:
    lines = [
        header,
        "",
        "| run | requests/s | events/s acknowledged | p50 ms | p99 ms | max ms | statuses "
        "| machine CPU |",
        "|---|---:|---:|---:|---:|---:|---|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r.run.name} | {r.requests_per_second:,.0f} | {r.events_per_second:,.0f} "
            f"| {r.p50_ms:,.1f} | {r.p99_ms:,.1f} | {r.max_ms:,.0f} "
            f"| {', '.join(f'{k}: {v}' for k, v in sorted(r.statuses.items()))} "
            f"| {r.machine_cpu:.0%} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.gateway", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a quarter of each run's time")
    parser.add_argument("--out", type=Path, default=RESULTS / "gateway")
    args = parser.parse_args(argv)

    from devtools.broker import LocalKafka
    from gateway.tokens import new_token
    from streams.settings import WorkerSettings
    from streams.topics import ensure_topics

    plan = runs(args.quick)
    with ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-gw-")))
        bootstrap = os.environ.get("LEADFLOW_KAFKA_BOOTSTRAP")
        if bootstrap is None:
            broker = stack.enter_context(LocalKafka())
            bootstrap = broker.bootstrap
        topic = f"bench-gateway-{int(time.time())}"
        ensure_topics(WorkerSettings(kafka_bootstrap=bootstrap, topic=topic, app_id=topic))
        token = new_token()
        gateway = start_gateway(bootstrap, topic, workdir, token)
        stack.callback(gateway.wait, 30)
        stack.callback(gateway.terminate)
        url = f"http://127.0.0.1:{gateway.port}/v1/events"  # type: ignore[attr-defined]
        results = []
        for index, run in enumerate(plan):
            requests = (
                run.rate * run.seconds if run.mode == "rate" else 20_000 / run.batch * run.seconds
            )
            # The generator yields about the number of events asked for: ask for more.
            pool = list(bodies(run.batch, int(requests * 1.2 + 1) * run.batch, seed=index))
            log(f"{run.name}: {run.seconds:g} s")
            result = asyncio.run(drive(url, token, run, pool))
            log(
                f"  {result.requests_per_second:,.0f} requests/s, "
                f"{result.events_per_second:,.0f} events/s, p99 {result.p99_ms:,.1f} ms, "
                f"{result.statuses}"
            )
            if run.name != "warm-up":
                results.append(result)
    commit = subprocess.run(
        ["git", "rev-parse", "--short=10", "HEAD"], capture_output=True, text=True, cwd=ROOT
    ).stdout.strip()
    header = (
        f"_Leadflow gateway bench, {'quick' if args.quick else 'full'} run, "
        f"{datetime.now(UTC).isoformat(timespec='seconds')}, commit {commit}, "
        f"{os.cpu_count()} CPUs, load average before the run "
        f"{os.getloadavg()[0]:.1f}_"
    )
    table = markdown(results, header)
    print(table)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".md").write_text(table)
    write_json(
        args.out.with_suffix(".json"),
        {
            "header": header,
            "results": [
                {
                    **asdict(r),
                    "requests_per_second": r.requests_per_second,
                    "events_per_second": r.events_per_second,
                }
                for r in results
            ],
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
