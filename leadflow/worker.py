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
    from leadflow.config import load_funnel
    from leadflow.ports import ensure_listenable
    from leadflow.settings import load_settings
    from leadflow.workdirs import ensure_data_dir
    from streams.milestone_settings import MilestoneSettings

    settings = load_settings()
    milestone_settings = load_settings(MilestoneSettings)
    funnel = load_funnel(settings.config)
    # Checked before Kafka and Faust: each would report these as a long traceback,
    # and only after seconds of imports and timeouts.
    ensure_data_dir(settings.data_dir)
    ensure_listenable(settings.metrics_host, settings.metrics_port, "LEADFLOW_METRICS_PORT")

    # Heavy imports here: other commands, and the checks above, must not pay for Faust.
    import faust
    from kafka.errors import KafkaError

    from leadflow.errors import kafka_problem
    from leadflow.event_loop import new_event_loop
    from leadflow.worker_logs import calm_known_noise
    from streams.app import create_worker
    from streams.topics import ensure_topics

    try:
        partitions = ensure_topics(settings)
    except KafkaError as error:
        raise kafka_problem(settings.kafka_bootstrap, error) from error
    _quiet_hot_loggers()
    calm_known_noise()
    worker = create_worker(settings, funnel, partitions[settings.topic], milestone_settings)
    print(
        f"leadflow worker: app {settings.app_id}, topic {settings.topic} "
        f"({partitions[settings.topic]} partitions), metrics on "
        f"http://{settings.metrics_host}:{settings.metrics_port}/metrics, "
        f"data in {settings.data_dir}",
        file=sys.stderr,
        flush=True,
    )
    faust_worker = faust.Worker(
        worker.app, loglevel=args.loglevel, quiet=True, loop=new_event_loop(settings.uvloop)
    )
    if not sys.stdout.isatty():
        # Faust's start-up spinner writes cursor escape codes even into a log file.
        faust_worker.spinner = None
    faust_worker.execute_from_commandline()
    return 0


def _quiet_hot_loggers() -> None:
    # Faust's changelog recovery logs two debug lines per record; at DEBUG that is a
    # sixth of a restart's time, so it never runs below INFO here.
    logging.getLogger("faust.tables.recovery").setLevel(
        max(logging.INFO, logging.getLogger().getEffectiveLevel())
    )
