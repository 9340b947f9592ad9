"""Runbook links in alert notifications are absolute, under a configurable base URL."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from dashboards.runbooks import (
    DEFAULT_RUNBOOK_BASE_URL,
    RULES_DIR,
    runbook_urls,
    with_runbook_base,
    write_rules,
)

ALERTS = RULES_DIR / "leadflow-alerts.yml"
WIKI = "https://wiki.example.com/ops/leadflow-runbooks"
needs_promtool = pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool missing")


def _alerts_text() -> str:
    return ALERTS.read_text(encoding="utf-8")


def _annotation_urls(text: str) -> dict[str, str]:
    return {
        rule["alert"]: rule["annotations"]["runbook_url"]
        for group in yaml.safe_load(text)["groups"]
        for rule in group["rules"]
    }


def test_the_committed_rules_link_every_alert_under_the_default_base() -> None:
    urls = _annotation_urls(_alerts_text())
    assert urls["LeadflowWorkerDown"] == f"{DEFAULT_RUNBOOK_BASE_URL}#leadflowworkerdown"
    assert all(url.startswith(f"{DEFAULT_RUNBOOK_BASE_URL}#") for url in urls.values())


def test_another_base_moves_every_link_and_keeps_its_anchor() -> None:
    urls = _annotation_urls(with_runbook_base(_alerts_text(), WIKI + "/"))
    assert urls["LeadflowWorkerDown"] == f"{WIKI}#leadflowworkerdown"
    assert urls["LeadflowQualifiedRatioAboveBand"] == f"{WIKI}#leadflowqualifiedratioaboveband"
    assert len(runbook_urls(with_runbook_base(_alerts_text(), WIKI))) == len(urls)


def test_only_the_runbook_links_change() -> None:
    before = _alerts_text().splitlines()
    after = with_runbook_base(_alerts_text(), WIKI).splitlines()
    changed = [new for old, new in zip(before, after, strict=True) if old != new]
    assert len(changed) == len(_annotation_urls(_alerts_text()))
    assert all(line.strip().startswith(f"runbook_url: {WIKI}#") for line in changed)


def test_rules_build_writes_both_rule_files_with_the_configured_base(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "leadflow.cli", "rules", "build", "--out", str(tmp_path)],
        env={**os.environ, "LEADFLOW_RUNBOOK_BASE_URL": WIKI},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    written = sorted(path.name for path in tmp_path.iterdir())
    assert written == ["leadflow-alerts.yml", "leadflow-recording.yml"]
    assert done.stdout.split() == [str(tmp_path / name) for name in written]
    alerts = (tmp_path / "leadflow-alerts.yml").read_text(encoding="utf-8")
    assert set(_annotation_urls(alerts).values()) == {
        f"{WIKI}#{url.split('#')[1]}" for url in _annotation_urls(_alerts_text()).values()
    }


@pytest.mark.prometheus
@needs_promtool
def test_rules_built_with_another_base_pass_promtool(tmp_path: Path) -> None:
    paths = write_rules(tmp_path, WIKI)
    result = subprocess.run(
        ["promtool", "check", "rules", *map(str, paths)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
