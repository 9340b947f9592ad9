"""`leadflow rules build --out DIR`: the Prometheus rule files for a deployment.

The same recording and alert rules as dashboards/prometheus/rules/, with every
alert's `runbook_url` under LEADFLOW_RUNBOOK_BASE_URL, so notifications link to
the runbooks wherever this deployment publishes them.
"""

from __future__ import annotations

import argparse
from pathlib import Path


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
    from leadflow.errors import UserError
    from leadflow.settings import load_settings

    settings = load_settings()
    try:
        written = write_rules(args.out, settings.runbook_base_url)
    except OSError as error:
        raise UserError(f"cannot write into {args.out} ({error.strerror})") from error
    for path in written:
        print(path)
    return 0
