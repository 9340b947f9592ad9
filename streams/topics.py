"""Creating Leadflow's topics up front, so partition counts are what the design needs."""

from __future__ import annotations

from contextlib import suppress
from dataclasses import dataclass

from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from streams.kafka_diagnosis import diagnose_now
from streams.security import kafka_python_config
from streams.settings import KafkaSettings


class KafkaUnreachable(KafkaError):
    """No connection to Kafka; the message says why, without any secret."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "Kafka is unreachable"


@dataclass(frozen=True)
class TopicPlan:
    events: str
    by_lead: str
    dead_letters: str
    partitions: int


def plan(settings: KafkaSettings) -> TopicPlan:
    return TopicPlan(
        events=settings.topic,
        by_lead=f"{settings.app_id}-events-by-lead",
        dead_letters=settings.dlq_topic,
        partitions=settings.partitions,
    )


def ensure_topics(settings: KafkaSettings, replication: int = 1) -> dict[str, int]:
    """Create missing topics; return every topic's actual partition count.

    Raises KafkaUnreachable, naming the cause (refused login, untrusted certificate,
    nothing listening), when no connection can be made.
    """
    topics = plan(settings)
    # One direct connection first: a refused login or an untrusted certificate is
    # reported at once, where the admin client would retry it for its whole timeout.
    problem = diagnose_now(settings)
    if problem is not None and problem.misconfigured:
        raise KafkaUnreachable(str(problem))
    try:
        admin = KafkaAdminClient(client_id="leadflow-admin", **kafka_python_config(settings))
    except KafkaError as error:
        raise KafkaUnreachable(str(diagnose_now(settings) or error)) from error
    try:
        wanted = {
            topics.events: topics.partitions,
            topics.by_lead: topics.partitions,
            topics.dead_letters: 1,
        }
        existing = set(admin.list_topics())
        missing = [
            NewTopic(name, partitions, replication)
            for name, partitions in wanted.items()
            if name not in existing
        ]
        if missing:
            with suppress(TopicAlreadyExistsError):  # another worker created it first
                admin.create_topics(missing)
        described = admin.describe_topics(list(wanted))
        return {item["name"]: len(item["partitions"]) for item in described}
    finally:
        admin.close()
