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
