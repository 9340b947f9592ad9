"""Shared pytest fixtures."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.streaming import Deployment


def _docker_available() -> bool:
    try:
        import docker

        return bool(docker.from_env(timeout=3).ping())
    except Exception:  # no SDK, no socket, no daemon: all mean "use the local broker"
        return False


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Bootstrap servers of a Kafka broker for the whole test session.

    In order: an existing cluster named by $LEADFLOW_KAFKA_BOOTSTRAP; a testcontainers
    Kafka if a Docker engine answers; else the project's own local Apache Kafka
    (devtools.broker.LocalKafka, jars fetched from Maven Central on first use).
    """
    if existing := os.environ.get("LEADFLOW_KAFKA_BOOTSTRAP"):
        yield existing
        return
    if _docker_available():
        try:
            from testcontainers.community.kafka import KafkaContainer
        except ImportError:  # testcontainers < 4.15 kept it at the old path
            from testcontainers.kafka import KafkaContainer

        # Same single-broker settings as LocalKafka, so transactions work here too.
        container = (
            KafkaContainer()
            .with_kraft()
            .with_env("KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR", "1")
            .with_env("KAFKA_TRANSACTION_STATE_LOG_MIN_ISR", "1")
            .with_env("KAFKA_NUM_PARTITIONS", "6")
        )
        with container as kafka:
            yield kafka.get_bootstrap_server()
        return
    from devtools.broker import LocalKafka

    with LocalKafka(data_dir=tmp_path_factory.mktemp("kafka")) as broker:
        yield broker.bootstrap


@pytest.fixture
def deployment(kafka_bootstrap: str, tmp_path: Path) -> Iterator[Deployment]:
    """An isolated app id and topics on the test broker; its workers stop afterwards."""
    deployment = Deployment(kafka_bootstrap, tmp_path)
    yield deployment
    deployment.stop_workers()
