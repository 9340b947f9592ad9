"""Talking to the real Prometheus and Alertmanager the tests start."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

TEMPLATE_VALUES = {
    "period": "quarter",
    "window": "current",
    "__rate_interval": "1m",
    "__interval": "15s",
    "__range": "5m",
}


def query(url: str, expr: str) -> list[dict[str, Any]]:
    encoded = urllib.parse.urlencode({"query": expr})
    with urllib.request.urlopen(f"{url}/api/v1/query?{encoded}", timeout=10) as response:
        body = json.load(response)
    assert body["status"] == "success", body
    return body["data"]["result"]


def busiest_values(url: str) -> dict[str, str]:
    """A real value for each dashboard variable: the source with the most wins this
    quarter (so every ratio panel has a denominator), then that source's campaign and
    segment that entered the most stages, then had the most wins."""
    from projections import catalog

    busiest = query(
        url,
        'topk(1, sum by (source) (period_source:leadflow_stage_entries:sum{stage="won", '
        'period="quarter", window="current"}))',
    )
    source = busiest[0]["metric"]["source"]
    values = {**TEMPLATE_VALUES, "source": source}
    for breakdown, metric in catalog.BREAKDOWN_ENTRIES.items():
        recorded = catalog.sum_name(catalog.LEVEL_SOURCE, metric)
        where = f'source="{source}", period="quarter", window="current"'
        stages = f"count by ({breakdown}) (sum by ({breakdown}, stage) ({recorded}{{{where}}}))"
        wins = f'sum by ({breakdown}) ({recorded}{{stage="won", {where}}})'
        top = query(url, f"topk(1, {stages} * 1e6 + on ({breakdown}) {wins})")
        values[breakdown] = top[0]["metric"][breakdown]
    return values


def substitute(expr: str, values: dict[str, str]) -> str:
    """A Grafana panel query with its template variables replaced by real values."""
    for name, value in sorted(values.items(), key=lambda item: -len(item[0])):
        expr = expr.replace("${" + name + "}", value).replace("$" + name, value)
    assert not re.search(r"\$\{?[A-Za-z_]", expr), f"unsubstituted variable in {expr}"
    return expr


@contextmanager
def running(argv: list[str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A server process for the duration of a block, stopped by its PID afterwards."""
    with log.open("wb") as output:
        process = subprocess.Popen(argv, stdout=output, stderr=subprocess.STDOUT)
        try:
            yield process
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
