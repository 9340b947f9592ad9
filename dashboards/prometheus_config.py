"""The one Prometheus config: a template every Prometheus Leadflow starts or ships renders.

`dashboards/prometheus/prometheus.yml` is the template and itself the config for a
local run (two workers on 9108/9109, a gateway on 8088, Alertmanager on 9093). The
demo, the tests and the compose stack each render it with their own targets, rule
files and intervals, so the scrape jobs and the relabelling that drops workers'
partial ratios are written once. `docker/prometheus.yml` is rendered and committed
(`python -m dashboards.prometheus_config` rewrites it; a test fails when it drifts).
"""

from __future__ import annotations

import copy
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

TEMPLATE = Path(__file__).resolve().parent / "prometheus" / "prometheus.yml"
COMPOSE_CONFIG = Path(__file__).resolve().parent.parent / "docker" / "prometheus.yml"

WORKERS_JOB = "leadflow"
GATEWAY_JOB = "leadflow-gateway"
SELF_JOB = "prometheus"


@dataclass(frozen=True)
class Scrape:
    """What one Prometheus scrapes and loads; a job with no targets is left out."""

    workers: Sequence[str]
    gateways: Sequence[str] = ()
    alertmanager: str | None = None
    # Its own address, when it should scrape itself.
    prometheus: str | None = None
    interval: str = "5s"
    # None keeps the template's, relative to the config file (rules/ beside it).
    rule_files: Sequence[str | Path] | None = None


COMPOSE = Scrape(
    workers=["worker-1:9108", "worker-2:9108"],
    gateways=["gateway:8088"],
    alertmanager="alertmanager:9093",
    prometheus="localhost:9090",
)

_COMPOSE_HEADER = """\
# Prometheus inside docker/compose.yaml: scrapes the two worker containers and the
# gateway, and loads the rules mounted at /etc/prometheus/rules (dashboards/prometheus/rules).
# Rendered from dashboards/prometheus/prometheus.yml by `python -m dashboards.prometheus_config`;
# edit the template, not this file.

"""


def render(scrape: Scrape) -> str:
    """The template with `scrape`'s targets, rule files and intervals, as YAML."""
    return yaml.safe_dump(rendered(scrape), sort_keys=False)


def rendered(scrape: Scrape) -> dict[str, Any]:
    config = copy.deepcopy(yaml.safe_load(TEMPLATE.read_text(encoding="utf-8")))
    config["global"] = {"scrape_interval": scrape.interval, "evaluation_interval": scrape.interval}
    if scrape.rule_files is not None:
        config["rule_files"] = [str(path) for path in scrape.rule_files]
    if scrape.alertmanager is None:
        config.pop("alerting", None)
    else:
        config["alerting"] = {
            "alertmanagers": [{"static_configs": [{"targets": [scrape.alertmanager]}]}]
        }
    targets = {
        WORKERS_JOB: list(scrape.workers),
        GATEWAY_JOB: list(scrape.gateways),
        SELF_JOB: [scrape.prometheus] if scrape.prometheus else [],
    }
    jobs = []
    for job in config["scrape_configs"]:
        wanted = targets[job["job_name"]]
        if wanted:
            job["static_configs"] = [{"targets": wanted}]
            jobs.append(job)
    config["scrape_configs"] = jobs
    return config


def compose_config() -> str:
    return _COMPOSE_HEADER + render(COMPOSE)


def main() -> int:
    COMPOSE_CONFIG.write_text(compose_config(), encoding="utf-8")
    print(COMPOSE_CONFIG)
    return 0


if __name__ == "__main__":
    sys.exit(main())
