"""`python -m bench.imports`: how long `leadflow import` takes per 100,000 CSV rows.

Generates the test fixtures' kind of exports at scale (tests/fixtures/crm/generate.py:
HubSpot contacts with their deals, Salesforce leads with their opportunities and
stage history), then times the command end to end in a fresh process, output to a
file: reading, mapping, joining, sorting and writing. A benchmark, not a test: the
machine is shared and noisy, so it takes the best of a few runs, and reports the
command's CPU time (user + system) beside its wall time, since on a loaded machine
the wall time mostly measures the neighbours.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.harness import source_root
from tests.fixtures.crm import generate

RUNS = 3


def _rows(path: Path) -> int:
    with path.open("rb") as handle:
        return sum(1 for _ in handle) - 1  # close enough: few cells span lines


def measure(crm: str, files: list[Path], options: list[str], out: Path) -> tuple[int, float, float]:
    """Rows read, and the best wall and CPU seconds of RUNS runs."""
    rows = sum(_rows(f) for f in files)
    command = [sys.executable, "-m", "leadflow.cli", "import", crm, *map(str, files), *options]
    wall = cpu = float("inf")
    for _ in range(RUNS):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        done = subprocess.run(
            [*command, "--out", str(out)], cwd=source_root(), capture_output=True, text=True
        )
        elapsed = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if done.returncode not in (0, 1):  # 1: the generated exports hold broken rows
            raise SystemExit(f"leadflow import {crm} failed:\n{done.stderr[-2000:]}")
        wall = min(wall, elapsed)
        used = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        cpu = min(cpu, used)
    return rows, wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000, help="contacts / leads to generate")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="leadflow-import-bench-") as work:
        directory = Path(work)
        contacts, deals = generate.hubspot(args.rows)
        generate.write(contacts, directory / "contacts.csv")
        generate.write(deals, directory / "deals.csv")
        leads, opportunities, history = generate.salesforce(args.rows)
        generate.write(leads, directory / "Lead.csv")
        generate.write(opportunities, directory / "Opportunity.csv")
        generate.write(history, directory / "OpportunityHistory.csv")
        mapping = ["--mapping", str(generate.HERE / "mapping.yaml")]
        cases = [
            (
                "hubspot",
                [directory / "contacts.csv", directory / "deals.csv"],
                ["--timezone", "America/New_York", *mapping],
            ),
            (
                "salesforce",
                [directory / n for n in ("Lead.csv", "Opportunity.csv", "OpportunityHistory.csv")],
                ["--timezone", "Europe/Berlin", "--date-order", "dmy", *mapping],
            ),
        ]
        load = " ".join(f"{x:.1f}" for x in os.getloadavg())
        print(f"leadflow import, best of {RUNS} runs, output to a file; load average {load}")
        print(f"{'crm':<11}{'rows':>10}{'events':>10}{'wall s':>8}{'cpu s':>7}", end="")
        print(f"{'wall s / 100k rows':>20}{'cpu s / 100k rows':>19}")
        for crm, files, options in cases:
            out = directory / f"{crm}.jsonl"
            rows, wall, cpu = measure(crm, files, options, out)
            events = sum(1 for _ in out.open("rb"))
            print(f"{crm:<11}{rows:>10,}{events:>10,}{wall:>8.1f}{cpu:>7.1f}", end="")
            print(f"{wall / rows * 100_000:>20.1f}{cpu / rows * 100_000:>19.1f}")


if __name__ == "__main__":
    main()
