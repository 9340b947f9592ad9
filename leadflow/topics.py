"""`leadflow topics`: create the events, by-lead and dead-letter topics."""

from __future__ import annotations

import argparse
import sys


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("topics", help="create Leadflow's topics if missing")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from kafka.errors import KafkaError

    from leadflow.settings import Settings
    from streams.topics import ensure_topics

    settings = Settings()
    try:
        counts = ensure_topics(settings)
    except KafkaError as error:
        print(f"leadflow topics: cannot reach {settings.kafka_bootstrap}: {error}", file=sys.stderr)
        return 2
    for name, partitions in sorted(counts.items()):
        print(f"{name}: {partitions} partitions")
    return 0
