"""JSON Schema of the event contract, for upstream producers."""

from __future__ import annotations

from typing import Any

from events.models import WIRE_EVENT

SCHEMA_ID = "https://leadflow.dev/schemas/lead-event.schema.json"


def event_json_schema() -> dict[str, Any]:
    schema = WIRE_EVENT.json_schema()
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "Leadflow lead-lifecycle event",
        "description": (
            "One event per Kafka message (UTF-8 JSON object). occurred_at must be RFC 3339 "
            "with an offset. Unknown extra fields are ignored."
        ),
        **schema,
    }
