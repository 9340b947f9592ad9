"""`leadflow worker`: run one stream-processing worker (Faust) with `/metrics`."""

from __future__ import annotations

import argparse
import logging
import sys


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "worker",
        help="consume the events topic and serve /metrics (LEADFLOW_METRICS_PORT)",
        description="Run a worker. Workers with the same LEADFLOW_APP_ID share partitions.",
    )
    parser.add_argument("--loglevel", default="warning", help="debug, info, warning, error")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    # Heavy imports here: other commands must not pay for Faust.
    import faust
    from kafka.errors import KafkaError

    from leadflow.config import ConfigError, load_funnel
    from leadflow.event_loop import new_event_loop
    from leadflow.settings import Settings
    from streams.app import create_worker
    from streams.topics import ensure_topics

    settings = Settings()
    try:
        funnel = load_funnel(settings.config)
    except ConfigError as error:
        print(f"leadflow worker: {error}", file=sys.stderr)
        return 2
    try:
        partitions = ensure_topics(settings)
    except KafkaError as error:
        print(
            f"leadflow worker: cannot reach Kafka at {settings.kafka_bootstrap}: {error}",
            file=sys.stderr,
        )
        return 2
    _quiet_hot_loggers()
    worker = create_worker(settings, funnel, partitions[settings.topic])
    print(
        f"leadflow worker: app {settings.app_id}, topic {settings.topic} "
        f"({partitions[settings.topic]} partitions), metrics on "
        f"http://{settings.metrics_host}:{settings.metrics_port}/metrics",
        file=sys.stderr,
        flush=True,
    )
    faust.Worker(
        worker.app, loglevel=args.loglevel, quiet=True, loop=new_event_loop(settings.uvloop)
    ).execute_from_commandline()
    return 0


def _quiet_hot_loggers() -> None:
    # Faust's changelog recovery logs two debug lines per record; at DEBUG that is a
    # sixth of a restart's time, so it never runs below INFO here.
    logging.getLogger("faust.tables.recovery").setLevel(
        max(logging.INFO, logging.getLogger().getEffectiveLevel())
    )
