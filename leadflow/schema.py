"""`leadflow schema`: print the events' JSON Schema for upstream producers."""

from __future__ import annotations

import argparse
import json
import sys

from events.schema import event_json_schema


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("schema", help="print the JSON Schema of the events")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    json.dump(event_json_schema(), sys.stdout, indent=2, sort_keys=True)
    sys.stdout.write("\n")
    return 0
