"""Settings of the milestone poster (LEADFLOW_ALERTMANAGER_URL, LEADFLOW_MILESTONE_*)."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from pydantic import AfterValidator, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from dashboards.runbooks import DEFAULT_RUNBOOK_BASE_URL
from events.vocabulary import Duration


def _http_url(url: str) -> str:
    if not url.startswith(("http://", "https://")) or " " in url:
        raise ValueError("need an http:// or https:// URL")
    return url.rstrip("/")


class MilestoneSettings(BaseSettings):
    """LEADFLOW_ALERTMANAGER_URL and LEADFLOW_MILESTONE_*: where and how fast to post."""

    model_config = SettingsConfigDict(env_prefix="LEADFLOW_", extra="ignore", frozen=True)

    # Unset: breaches are only counted on /metrics, nothing is posted.
    alertmanager_url: Annotated[str, AfterValidator(_http_url)] | None = None
    milestone_interval: Duration = Field(default=timedelta(seconds=30))
    # How far ahead each post sets endsAt. Long enough to survive a restart or a
    # rebalance without the alert lapsing; a breach that cleared while nobody owned
    # its lead (and Alertmanager could not be asked) lingers at most this long.
    milestone_alert_ttl: Duration = Field(default=timedelta(minutes=5))
    # Token bucket per worker: new alerts a minute, and how many may go at once.
    milestone_alerts_per_minute: Annotated[float, Field(gt=0)] = 60.0
    milestone_alert_burst: Annotated[int, Field(ge=1)] = 200
    milestone_post_timeout: Duration = Field(default=timedelta(seconds=10))
    # The alerts link their runbooks here, like the Prometheus alerts (`leadflow rules build`).
    runbook_base_url: Annotated[str, AfterValidator(_http_url)] = DEFAULT_RUNBOOK_BASE_URL

    @model_validator(mode="after")
    def _ttl_outlives_interval(self) -> MilestoneSettings:
        if self.milestone_interval <= timedelta(0):
            raise ValueError("LEADFLOW_MILESTONE_INTERVAL must be longer than zero")
        if self.milestone_alert_ttl < 3 * self.milestone_interval:
            raise ValueError(
                "LEADFLOW_MILESTONE_ALERT_TTL must be at least three "
                "LEADFLOW_MILESTONE_INTERVALs, or open alerts lapse between posts"
            )
        return self
