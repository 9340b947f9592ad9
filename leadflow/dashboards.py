"""`leadflow dashboards build|push`: write the Grafana dashboards, or upload them.

`build` writes the JSON that Grafana's file provisioning reads (dashboards/grafana/).
`push` uploads the same dashboards, built in memory, to a running Grafana through
its HTTP API (grafana-client), into the folder named by LEADFLOW_GRAFANA_FOLDER;
LEADFLOW_GRAFANA_URL and LEADFLOW_GRAFANA_TOKEN say where and as whom.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Protocol

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

PUSH_MESSAGE = "Uploaded by leadflow dashboards push"


class GrafanaSettings(BaseSettings):
    """Where `push` uploads the dashboards (LEADFLOW_GRAFANA_URL, _TOKEN, _FOLDER)."""

    model_config = SettingsConfigDict(env_prefix="LEADFLOW_GRAFANA_", extra="ignore", frozen=True)

    url: str = "http://localhost:3000"
    token: SecretStr | None = None
    folder: str = "Leadflow"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "dashboards",
        help="build the Grafana dashboards JSON or push it to Grafana",
        description="Grafana dashboards as code: build the JSON files, or upload them.",
    )
    commands = parser.add_subparsers(dest="dashboards_command", required=True, metavar="ACTION")
    build = commands.add_parser("build", help="write dashboards/grafana/*.json")
    build.add_argument("--out", type=Path, help="output folder (default: dashboards/grafana)")
    build.set_defaults(func=run_build)
    push = commands.add_parser(
        "push",
        help="upload the dashboards to Grafana (LEADFLOW_GRAFANA_URL, LEADFLOW_GRAFANA_TOKEN)",
    )
    push.set_defaults(func=run_push)


def run_build(args: argparse.Namespace) -> int:
    from dashboards.build import DEFAULT_OUT, write_all
    from leadflow.errors import writing_into

    out = args.out or DEFAULT_OUT
    with writing_into(out):
        written = write_all(out)
    for path in written:
        print(path)
    return 0


def run_push(args: argparse.Namespace) -> int:
    # Imported here: the HTTP client is only needed by this command.
    from grafana_client import GrafanaApi
    from grafana_client.client import GrafanaException

    from dashboards.build import build_all
    from leadflow.settings import load_settings

    settings = load_settings(GrafanaSettings)
    token = settings.token.get_secret_value() if settings.token else None
    api = GrafanaApi.from_url(settings.url, credential=token)
    try:
        folder_uid = ensure_folder(api.folder, settings.folder)
        for payload in push_payloads(build_all().values(), folder_uid):
            api.dashboard.update_dashboard(payload)
            print(f"pushed {payload['dashboard']['title']} to {settings.url}")
    except (GrafanaException, OSError) as error:
        # grafana-client's connection errors derive from OSError (requests/niquests).
        print(f"leadflow dashboards push: {settings.url}: {error}", file=sys.stderr)
        return 1
    return 0


class FolderApi(Protocol):
    """The part of grafana_client's folder API that push uses."""

    def get_all_folders(self) -> list[dict[str, Any]]: ...

    def create_folder(self, title: str, uid: str | None = None) -> dict[str, Any]: ...


def ensure_folder(folders: FolderApi, title: str) -> str:
    """The uid of the folder called `title`, created if it does not exist."""
    for folder in folders.get_all_folders():
        if folder.get("title") == title:
            return str(folder["uid"])
    return str(folders.create_folder(title, uid=folder_uid(title))["uid"])


def folder_uid(title: str) -> str:
    # Stable, so pushing from several machines lands in the same folder.
    slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-") or "leadflow"
    return slug[:40]


def push_payloads(dashboards: Iterable[Mapping[str, Any]], folder_uid: str) -> list[dict[str, Any]]:
    """Bodies for POST /api/dashboards/db: matched by uid, replacing what is there."""
    payloads = []
    for dashboard in dashboards:
        body = dict(dashboard)
        body["id"] = None  # Grafana finds the existing dashboard by uid, not id
        body.pop("version", None)  # and overwrite=True skips the version check
        payloads.append(
            {
                "dashboard": body,
                "folderUid": folder_uid,
                "overwrite": True,
                "message": PUSH_MESSAGE,
            }
        )
    return payloads
