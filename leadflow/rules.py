"""`leadflow rules build --out DIR`: the Prometheus rule files for a deployment.

The same recording and alert rules as dashboards/prometheus/rules/, with every
alert's `runbook_url` under LEADFLOW_RUNBOOK_BASE_URL, so notifications link to
the runbooks wherever this deployment publishes them.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator
from pydantic_settings import BaseSettings, SettingsConfigDict

from dashboards.runbooks import DEFAULT_RUNBOOK_BASE_URL


def _http_url(url: str) -> str:
    if not re.fullmatch(r"https?://\S+", url):
        raise ValueError("need an http:// or https:// URL")
    return url.rstrip("/")


class RulesSettings(BaseSettings):
    """Where the alerts' runbook links point (docs/runbooks.md, published somewhere the
    people paged can open it); `leadflow rules build` and the demo write it into the rules."""

    model_config = SettingsConfigDict(env_prefix="LEADFLOW_", extra="ignore", frozen=True)

    runbook_base_url: Annotated[str, AfterValidator(_http_url)] = DEFAULT_RUNBOOK_BASE_URL


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "rules",
        help="write the Prometheus rule files (runbook links from LEADFLOW_RUNBOOK_BASE_URL)",
        description="Prometheus recording and alert rules, as Prometheus loads them.",
    )
    commands = parser.add_subparsers(dest="rules_command", required=True, metavar="ACTION")
    build = commands.add_parser("build", help="write leadflow-*.yml into --out")
    build.add_argument("--out", type=Path, required=True, help="folder for the rule files")
    build.set_defaults(func=run_build)


def run_build(args: argparse.Namespace) -> int:
    from dashboards.runbooks import write_rules
    from leadflow.errors import writing_into
    from leadflow.settings import load_settings

    settings = load_settings(RulesSettings)
    with writing_into(args.out):
        written = write_rules(args.out, settings.runbook_base_url)
    for path in written:
        print(path)
    return 0
