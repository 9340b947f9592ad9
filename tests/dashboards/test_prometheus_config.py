"""The one Prometheus config template, as the demo, the tests and the compose stack render it."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from dashboards.prometheus_config import (
    COMPOSE,
    COMPOSE_CONFIG,
    TEMPLATE,
    Scrape,
    compose_config,
    render,
    rendered,
)
from dashboards.runbooks import RULES_DIR

RULE_FILES = [RULES_DIR / "leadflow-recording.yml", RULES_DIR / "leadflow-alerts.yml"]

# One of each shape the project starts Prometheus with.
SHAPES = {
    "demo": Scrape(
        workers=["127.0.0.1:9108", "127.0.0.1:9109"],
        gateways=["127.0.0.1:8088"],
        alertmanager="127.0.0.1:9093",
        rule_files=RULE_FILES,
    ),
    "end-to-end test": Scrape(
        workers=["127.0.0.1:41001", "127.0.0.1:41002"],
        alertmanager="127.0.0.1:41003",
        interval="1s",
        rule_files=RULE_FILES,
    ),
    "rules test": Scrape(workers=["127.0.0.1:41004"], interval="1s", rule_files=RULE_FILES),
}


def _promtool_check(config: Path) -> str:
    done = subprocess.run(
        ["promtool", "check", "config", str(config)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


def test_the_compose_config_is_the_template_rendered() -> None:
    assert COMPOSE_CONFIG.read_text(encoding="utf-8") == compose_config(), (
        "docker/prometheus.yml drifted from the template: python -m dashboards.prometheus_config"
    )


def test_every_rendering_drops_the_workers_partial_ratios() -> None:
    for scrape in [*SHAPES.values(), COMPOSE]:
        (workers,) = [
            job for job in rendered(scrape)["scrape_configs"] if job["job_name"] == "leadflow"
        ]
        assert workers["metric_relabel_configs"] == [
            {"source_labels": ["__name__"], "regex": ".+:.+", "action": "drop"}
        ]


def test_a_job_without_targets_and_alerting_without_alertmanager_are_left_out() -> None:
    config = rendered(SHAPES["rules test"])
    assert [job["job_name"] for job in config["scrape_configs"]] == ["leadflow"]
    assert config["scrape_configs"][0]["static_configs"] == [{"targets": ["127.0.0.1:41004"]}]
    assert "alerting" not in config
    assert config["global"] == {"scrape_interval": "1s", "evaluation_interval": "1s"}


def test_the_template_keeps_its_relative_rule_files_unless_given_others() -> None:
    template = yaml.safe_load(TEMPLATE.read_text(encoding="utf-8"))
    assert rendered(COMPOSE)["rule_files"] == template["rule_files"]
    assert rendered(SHAPES["demo"])["rule_files"] == [str(path) for path in RULE_FILES]


@pytest.mark.prometheus
@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool missing")
def test_promtool_accepts_the_template_as_it_stands() -> None:
    assert "2 rule files found" in _promtool_check(TEMPLATE)


@pytest.mark.prometheus
@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool missing")
@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_promtool_accepts_each_rendering(shape: str, tmp_path: Path) -> None:
    config = tmp_path / "prometheus.yml"
    config.write_text(render(SHAPES[shape]), encoding="utf-8")
    assert "2 rule files found" in _promtool_check(config)
