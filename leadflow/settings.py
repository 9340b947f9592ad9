"""Loading environment settings for a command: a bad variable is one line naming it.

The settings classes live beside the code that uses them (`streams.settings` for
the workers' Kafka and tuning, `gateway.settings`, `leadflow.dashboards` for
Grafana, `leadflow.rules` for runbook links); every one reads `LEADFLOW_*`.
"""

from __future__ import annotations

from typing import TypeVar

from pydantic import ValidationError
from pydantic_settings import BaseSettings

from leadflow.errors import UserError
from streams.settings import ENV_PREFIX, WorkerSettings

S = TypeVar("S", bound=BaseSettings)


class SettingsError(UserError):
    """Environment variables that do not validate; one line per variable."""


def load_settings(kind: type[S] = WorkerSettings, **overrides: object) -> S:  # type: ignore[assignment]
    """`kind`'s settings from the environment, or a SettingsError naming each bad variable."""
    try:
        return kind(**overrides)
    except ValidationError as error:
        raise SettingsError(describe_settings_error(error)) from None


def describe_settings_error(error: ValidationError) -> str:
    lines = []
    for item in error.errors(include_url=False):
        message = item["msg"].removeprefix("Value error, ")
        if item["loc"]:
            variable = f"{ENV_PREFIX}{str(item['loc'][0]).upper()}"
            lines.append(f"{variable}={item['input']!r}: {message}")
        else:  # a rule across variables: the message names them
            lines.append(message)
    return "\n".join(lines)
