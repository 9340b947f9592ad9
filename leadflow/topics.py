"""`leadflow topics`: create the events, by-lead and dead-letter topics."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("topics", help="create Leadflow's topics if missing")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from kafka.errors import KafkaError

    from leadflow.errors import kafka_problem
    from leadflow.settings import load_settings
    from streams.topics import ensure_topics

    settings = load_settings()
    try:
        counts = ensure_topics(settings)
    except KafkaError as error:
        raise kafka_problem(settings.kafka_bootstrap, error) from error
    for name, partitions in sorted(counts.items()):
        print(f"{name}: {partitions} partitions")
    return 0
