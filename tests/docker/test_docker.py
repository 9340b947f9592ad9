"""docker/: what can be checked without a Docker engine.

The compose file and configs parse, the Prometheus config is valid (promtool) with
the rules it mounts, and every file a service or the Dockerfile refers to exists.
"""

from __future__ import annotations

import fnmatch
import py_compile
import re
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from dashboards.build import DASHBOARDS
from devtools.broker import kafka_version

ROOT = Path(__file__).resolve().parents[2]
DOCKER = ROOT / "docker"
COMPOSE = DOCKER / "compose.yaml"
DOCKERFILE = DOCKER / "Dockerfile"
RULES = ROOT / "dashboards" / "prometheus" / "rules"


def _compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))


def _services() -> dict[str, dict[str, Any]]:
    return _compose()["services"]


def _host_paths(service: dict[str, Any]) -> list[Path]:
    """Host files or folders a service mounts (bind mounts, not named volumes)."""
    paths = []
    for volume in service.get("volumes", []):
        source = volume.split(":", 1)[0] if isinstance(volume, str) else volume["source"]
        if source.startswith((".", "/")):
            paths.append((DOCKER / source).resolve())
    return paths


def _mount(service: str, target: str) -> Path:
    """The host path mounted at `target` in `service`."""
    for volume in _services()[service]["volumes"]:
        source, destination = volume.split(":")[:2]
        if destination == target:
            return (DOCKER / source).resolve()
    raise AssertionError(f"{service} mounts nothing at {target}")


def test_compose_services() -> None:
    services = _services()
    assert {"kafka", "topics", "worker-1", "worker-2", "generator"} <= set(services)
    assert {"prometheus", "alertmanager", "grafana"} <= set(services)
    # The compose stack runs the Kafka the local broker and the tests run.
    assert services["kafka"]["image"] == f"apache/kafka:{kafka_version()}"
    assert "controller" in services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"]
    for name in ("worker-1", "worker-2"):
        worker = services[name]
        assert worker["command"][0] == "worker"
        assert worker["environment"]["LEADFLOW_KAFKA_BOOTSTRAP"] == "kafka:9092"
        assert worker["environment"]["LEADFLOW_METRICS_HOST"] == "0.0.0.0"
        assert worker["depends_on"]["topics"]["condition"] == "service_completed_successfully"
    assert services["topics"]["command"] == ["topics"]
    generator = services["generator"]
    assert generator["profiles"] == ["demo"]
    assert re.search(
        r"leadflow generate --rate 50 .*\| leadflow produce -", generator["command"][0]
    )


def test_every_referenced_file_exists() -> None:
    for name, service in _services().items():
        for path in _host_paths(service):
            assert path.exists(), (name, path)
        build = service.get("build")
        if build:
            context = (DOCKER / build["context"]).resolve()
            assert context == ROOT, name
            assert (context / build["dockerfile"]).is_file(), name


def test_mounted_configs_are_the_repositorys() -> None:
    assert _mount("prometheus", "/etc/prometheus/rules") == RULES
    assert _mount("prometheus", "/etc/prometheus/prometheus.yml") == DOCKER / "prometheus.yml"
    alertmanager = _mount("alertmanager", "/etc/alertmanager")
    assert (alertmanager / "alertmanager.yml").is_file()
    assert list((alertmanager / "templates").glob("*.tmpl"))
    dashboards = _mount("grafana", "/var/lib/grafana/dashboards/leadflow")
    assert {path.name for path in dashboards.glob("*.json")} == set(DASHBOARDS)
    provider = yaml.safe_load(
        (_mount("grafana", "/etc/grafana/provisioning/dashboards") / "leadflow.yml").read_text()
    )
    assert provider["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards/leadflow"
    assert (_mount("grafana", "/etc/grafana/provisioning/datasources") / "leadflow.yml").is_file()


def test_prometheus_scrapes_the_compose_services() -> None:
    config = yaml.safe_load((DOCKER / "prometheus.yml").read_text(encoding="utf-8"))
    services = _services()
    job = next(job for job in config["scrape_configs"] if job["job_name"] == "leadflow")
    for target in job["static_configs"][0]["targets"]:
        host, port = target.split(":")
        assert host in services and port == services[host]["environment"]["LEADFLOW_METRICS_PORT"]
    (alertmanager,) = config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"]
    assert alertmanager.split(":")[0] in services
    for rule_file in config["rule_files"]:
        assert (RULES / Path(rule_file).name).is_file(), rule_file


@pytest.mark.prometheus
@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool missing")
def test_promtool_check_compose_prometheus_config(tmp_path: Path) -> None:
    # Lay the files out as the container sees them: the config with rules/ beside it.
    shutil.copy(DOCKER / "prometheus.yml", tmp_path / "prometheus.yml")
    (tmp_path / "rules").symlink_to(RULES)
    result = subprocess.run(
        ["promtool", "check", "config", str(tmp_path / "prometheus.yml")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 rule files found" in result.stdout + result.stderr


def test_dockerfile() -> None:
    text = DOCKERFILE.read_text(encoding="utf-8")
    assert re.search(r"^FROM python:3\.11-slim$", text, re.M)
    assert "pip install ." in text
    assert re.search(r'^ENTRYPOINT \["leadflow"\]$', text, re.M)
    copied: set[str] = set()
    for line in re.findall(r"^COPY (.+)$", text, re.M):
        *sources, _ = line.split()
        for source in sources:
            if not any(char in source for char in "*?["):
                assert (ROOT / source).exists(), source
            copied.add(source)
    # Every package setuptools ships is in the image.
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    for pattern in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]:
        package = pattern.rstrip("*")
        assert package in copied, package


def test_dockerignore_keeps_what_the_dockerfile_copies() -> None:
    ignore = (DOCKER / "Dockerfile.dockerignore").read_text(encoding="utf-8")
    kept = {line[1:].rstrip("/") for line in ignore.splitlines() if line.startswith("!")}
    for line in re.findall(r"^COPY (.+)$", DOCKERFILE.read_text(encoding="utf-8"), re.M):
        for source in line.split()[:-1]:
            assert any(fnmatch.fnmatch(keep, source) for keep in kept), source


def test_alert_sink_compiles() -> None:
    py_compile.compile(str(DOCKER / "alert-sink.py"), doraise=True)


def test_the_gateway_runs_beside_the_workers_with_its_tokens_file() -> None:
    from gateway.tokens import load_tokens

    gateway = _services()["gateway"]
    tokens = _mount("gateway", "/etc/leadflow/gateway-tokens")

    assert gateway["command"] == ["gateway"]
    assert gateway["environment"]["LEADFLOW_KAFKA_BOOTSTRAP"] == "kafka:9092"
    assert gateway["environment"]["LEADFLOW_GATEWAY_TOKENS_FILE"] == "/etc/leadflow/gateway-tokens"
    assert gateway["depends_on"]["topics"]["condition"] == "service_completed_successfully"
    assert load_tokens({}, tokens).identify("leadflow-demo-token") == "demo"
    config = yaml.safe_load((DOCKER / "prometheus.yml").read_text(encoding="utf-8"))
    job = next(j for j in config["scrape_configs"] if j["job_name"] == "leadflow-gateway")
    assert job["static_configs"][0]["targets"] == [
        f"gateway:{gateway['environment']['LEADFLOW_GATEWAY_PORT']}"
    ]
