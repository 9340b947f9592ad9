"""The gateway's OpenAPI 3.1 document, generated from the contract's pydantic models.

The request schema is the workers' own wire contract (`events.models`), and the
answers are `gateway.responses`: nothing here restates a field by hand.
"""

from __future__ import annotations

from typing import Any

from pydantic.json_schema import models_json_schema

from events.models import WIRE_EVENT
from gateway.responses import ErrorResponse, EventsResponse, Readiness

_REF = "#/components/schemas/{model}"

DESCRIPTION = """\
Sends lead-lifecycle events to Leadflow over HTTP. Each event is checked with the same
contract code the workers use; accepted events are answered only after Kafka has them.

Status codes of `POST /v1/events`:

* **202** every event was accepted (written to Kafka with acks=all);
* **207** some were accepted and some rejected: see `results`; resending the rejected
  ones unchanged will not help;
* **400** none was accepted (every event rejected, or an empty array);
* **401** no bearer token, or an unknown one;
* **413** the body is larger than the limit, holds more events than the limit, or an
  event is larger than Kafka accepts; nothing was accepted;
* **429** the token's rate limit is used up; retry after `Retry-After` seconds;
* **503** Kafka did not acknowledge the events in time; retry the whole request after
  `Retry-After` seconds. Some of its events may already be in Kafka: resending an event
  with the same `event_id` is safe, the workers count it once.

Retry on 429, 503 and network errors; never on the others.
"""


def openapi_document(max_events: int, max_body_bytes: int) -> dict[str, Any]:
    event = WIRE_EVENT.json_schema(ref_template=_REF)
    schemas: dict[str, Any] = dict(event.pop("$defs"))
    schemas["LeadEvent"] = event
    _, answers = models_json_schema(
        [
            (EventsResponse, "serialization"),
            (ErrorResponse, "serialization"),
            (Readiness, "serialization"),
        ],
        ref_template=_REF,
    )
    schemas.update(answers["$defs"])
    return {
        "openapi": "3.1.0",
        "info": {"title": "Leadflow gateway", "version": "1", "description": DESCRIPTION},
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "headers": {
                "Retry-After": {
                    "description": "seconds to wait before retrying",
                    "schema": {"type": "integer", "minimum": 1},
                }
            },
        },
        "paths": {
            "/v1/events": {"post": _post_events(max_events, max_body_bytes)},
            "/healthz": {"get": _get("the process is up", "Health", {"type": "object"})},
            "/readyz": {"get": _readyz()},
            "/metrics": {"get": _metrics()},
            "/openapi.json": {"get": _get("this document", "OpenAPI", {"type": "object"})},
        },
    }


def _ref(name: str) -> dict[str, str]:
    return {"$ref": _REF.format(model=name)}


def _json(schema: dict[str, Any], description: str, retry: bool = False) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "description": description,
        "content": {"application/json": {"schema": schema}},
    }
    if retry:
        answer["headers"] = {"Retry-After": {"$ref": "#/components/headers/Retry-After"}}
    return answer


def _post_events(max_events: int, max_body_bytes: int) -> dict[str, Any]:
    batch = {"type": "array", "items": _ref("LeadEvent"), "minItems": 1, "maxItems": max_events}
    return {
        "operationId": "postEvents",
        "summary": "Send one event or an array of events",
        "description": f"At most {max_events} events and {max_body_bytes} bytes per request.",
        "security": [{"bearer": []}],
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"oneOf": [_ref("LeadEvent"), batch]}}},
        },
        "responses": {
            "202": _json(_ref("EventsResponse"), "every event accepted"),
            "207": _json(_ref("EventsResponse"), "some events accepted, some rejected"),
            "400": _json(
                {"oneOf": [_ref("EventsResponse"), _ref("ErrorResponse")]},
                "no event accepted",
            ),
            "401": _json(_ref("ErrorResponse"), "missing or unknown bearer token"),
            "413": _json(_ref("ErrorResponse"), "too large: body, event count or one event"),
            "429": _json(_ref("ErrorResponse"), "rate limit of the token used up", retry=True),
            "503": _json(_ref("ErrorResponse"), "Kafka unavailable; resend later", retry=True),
        },
    }


def _get(description: str, operation: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"operationId": f"get{operation}", "responses": {"200": _json(schema, description)}}


def _readyz() -> dict[str, Any]:
    return {
        "operationId": "getReadiness",
        "responses": {
            "200": _json(_ref("Readiness"), "Kafka answers and the events topic exists"),
            "503": _json(_ref("Readiness"), "not ready; `kafka` says why"),
        },
    }


def _metrics() -> dict[str, Any]:
    return {
        "operationId": "getMetrics",
        "responses": {
            "200": {
                "description": "Prometheus text exposition format",
                "content": {"text/plain": {"schema": {"type": "string"}}},
            }
        },
    }
