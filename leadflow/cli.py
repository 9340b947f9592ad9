"""The `leadflow` command: one subcommand per module, each registering itself."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from leadflow import __version__
from leadflow.errors import UserError
from streams.kafka_clients import KafkaSecurityError

# Imported lazily so `leadflow replay` never pays for Faust or Kafka clients.
_COMMANDS = (
    "leadflow.replay",
    "leadflow.schema",
    "devtools.generate",
    "devtools.broker",
    "leadflow.produce",
    "leadflow.worker",
    "leadflow.topics",
    "devtools.demo",
    "leadflow.dashboards",
    "leadflow.importers.command",
    "leadflow.rules",
    "gateway.cli",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="leadflow", description="Real-time B2B lead-funnel metrics from Kafka events."
    )
    parser.add_argument("--version", action="version", version=f"leadflow {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in _COMMANDS:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # The one place user errors become messages; anything else is a bug and keeps
    # its traceback.
    try:
        return int(args.func(args) or 0)
    except (UserError, KafkaSecurityError) as error:
        for line in str(error).splitlines():
            print(f"leadflow {args.command}: {line}", file=sys.stderr)
        return error.exit_code if isinstance(error, UserError) else UserError.exit_code
    except BrokenPipeError:
        # The reader went away (`leadflow schema | head`): stop quietly, and point
        # stdout at /dev/null so the interpreter's final flush does not fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
