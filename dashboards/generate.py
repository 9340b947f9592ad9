"""`make generate`: rewrite every file generated from code, and nothing else.

The recording rules come from the metrics catalogue (dashboards/recording.py), the
Grafana dashboards from their builders (dashboards/build.py), the compose stack's
Prometheus config from the one template (dashboards/prometheus_config.py). All are committed,
because Prometheus and Grafana read files; tests fail when a committed file differs
from what this writes.
"""

from __future__ import annotations

import sys
from pathlib import Path

from dashboards import build, prometheus_config, recording
from dashboards.runbooks import RULES_DIR

RECORDING_RULES = RULES_DIR / "leadflow-recording.yml"


def write_all() -> list[Path]:
    RECORDING_RULES.write_text(recording.render(), encoding="utf-8")
    compose = prometheus_config.COMPOSE_CONFIG
    compose.write_text(prometheus_config.compose_config(), encoding="utf-8")
    return [RECORDING_RULES, compose, *build.write_all(build.DEFAULT_OUT)]


def main() -> int:
    for path in write_all():
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
