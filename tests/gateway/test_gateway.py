"""`leadflow gateway` on the real broker: what it answers, and what reaches Kafka."""

from __future__ import annotations

import http.client
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import TypeAdapter

from gateway.openapi import openapi_document
from gateway.publisher import TOKEN_HEADER
from gateway.responses import ErrorResponse, EventsResponse
from streams.partitioning import lead_partition
from streams.settings import WorkerSettings
from streams.topics import ensure_topics
from tests.gateway_support import GatewayProcess, Record, make_tokens, read_topic
from tests.tls_support import issue

pytestmark = pytest.mark.kafka

WHEN = "2026-01-05T10:00:00Z"


def created(lead: str, event_id: str | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "event_id": event_id or f"{lead}-created",
        "type": "lead.created",
        "lead_id": lead,
        "occurred_at": WHEN,
        "source": "webinar",
        **extra,
    }


def mql(lead: str) -> dict[str, Any]:
    return {"event_id": f"{lead}-mql", "type": "lead.mql", "lead_id": lead, "occurred_at": WHEN}


def new_topic(bootstrap: str) -> str:
    name = f"gw{uuid.uuid4().hex[:10]}"
    topic = f"{name}-events"
    ensure_topics(
        WorkerSettings(kafka_bootstrap=bootstrap, topic=topic, dlq_topic=f"{name}-dlq", app_id=name)
    )
    return topic


@pytest.fixture(scope="module")
def tokens() -> dict[str, str]:
    return make_tokens("crm", "forms")


@pytest.fixture(scope="module")
def gateway(
    kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory, tokens: dict[str, str]
) -> Iterator[GatewayProcess]:
    process = GatewayProcess(
        kafka_bootstrap,
        new_topic(kafka_bootstrap),
        tmp_path_factory.mktemp("gateway"),
        tokens,
        settings={
            "LEADFLOW_GATEWAY_MAX_EVENTS": "5",
            "LEADFLOW_GATEWAY_MAX_BODY_BYTES": "4096",
            "LEADFLOW_GATEWAY_RATE_LIMIT": "1000/second",
        },
    ).start()
    yield process
    process.stop()


def records_of(gateway: GatewayProcess, *leads: str) -> list[Record]:
    wanted = {lead.encode() for lead in leads}
    return [r for r in read_topic(gateway.bootstrap, gateway.topic) if r.key in wanted]


def test_a_mixed_batch_answers_207_per_event_and_only_valid_events_reach_kafka(
    gateway: GatewayProcess, tokens: dict[str, str]
) -> None:
    good_a, good_b = created("mixA"), mql("mixB")
    batch = [
        good_a,
        {"type": "lead.mql", "lead_id": "mixC", "occurred_at": WHEN},
        good_b,
        {**mql("mixD"), "occurred_at": "2999-01-01T00:00:00Z"},
        {**mql("mixE"), "type": "opportunity.stage_changed", "stage": "teleport"},
    ]

    reply = gateway.post(batch, tokens["crm"])

    assert reply.status == 207
    assert reply.body["accepted"] == 2
    assert reply.body["rejected"] == 3
    assert [(r["index"], r["status"], r.get("reason")) for r in reply.body["results"]] == [
        (0, "accepted", None),
        (1, "rejected", "missing-field"),
        (2, "accepted", None),
        (3, "rejected", "future-timestamp"),
        (4, "rejected", "unknown-stage"),
    ]
    assert reply.body["results"][0] == {
        "index": 0,
        "status": "accepted",
        "event_id": "mixA-created",
        "lead_id": "mixA",
    }
    assert reply.body["results"][1]["detail"] == "field 'event_id': Field required"
    records = records_of(gateway, "mixA", "mixB", "mixC", "mixD", "mixE")
    assert sorted(r.key for r in records) == [b"mixA", b"mixB"]
    for record in records:
        assert record.partition == lead_partition(record.key.decode(), 6)
        assert record.headers[TOKEN_HEADER] == b"crm"


def test_every_event_accepted_answers_202_and_kafka_holds_the_bytes_sent(
    gateway: GatewayProcess, tokens: dict[str, str]
) -> None:
    raw = b'[{"event_id":"okA-1","type":"lead.created","lead_id":"okA",' + (
        b'"occurred_at":"2026-01-05T10:00:00+01:00","source":"partner","extra":{"kept":true}}]'
    )

    reply = gateway.post(None, tokens["forms"], raw=raw)

    assert reply.status == 202
    assert (reply.body["accepted"], reply.body["rejected"]) == (1, 0)
    (record,) = records_of(gateway, "okA")
    assert record.value == raw[1:-1]
    assert record.headers[TOKEN_HEADER] == b"forms"


def test_a_single_object_is_one_event_at_index_0(
    gateway: GatewayProcess, tokens: dict[str, str]
) -> None:
    reply = gateway.post(created("single"), tokens["crm"])

    assert reply.status == 202
    assert reply.body["results"] == [
        {"index": 0, "status": "accepted", "event_id": "single-created", "lead_id": "single"}
    ]
    assert len(records_of(gateway, "single")) == 1


def test_nothing_valid_answers_400_with_the_dead_letter_reasons_and_sends_nothing(
    gateway: GatewayProcess, tokens: dict[str, str]
) -> None:
    batch = [
        {**created("badA"), "score": 50.0},
        {**mql("badB"), "occurred_at": "2026-01-05T10:00:00"},
        "just a string",
    ]

    reply = gateway.post(batch, tokens["crm"])

    assert reply.status == 400
    assert [r["reason"] for r in reply.body["results"]] == [
        "bad-type",
        "naive-timestamp",
        "not-object",
    ]
    assert records_of(gateway, "badA", "badB") == []


def test_a_body_that_is_not_json_is_one_rejected_event(
    gateway: GatewayProcess, tokens: dict[str, str]
) -> None:
    reply = gateway.post(None, tokens["crm"], raw=b"{not json")

    assert reply.status == 400
    assert reply.body["results"][0]["reason"] == "not-json"


def test_an_empty_array_answers_400_no_events(
    gateway: GatewayProcess, tokens: dict[str, str]
) -> None:
    reply = gateway.post([], tokens["crm"])

    assert (reply.status, reply.body["error"]) == (400, "no-events")


@pytest.mark.parametrize(
    ("authorization", "detail"),
    [
        (None, "an Authorization: Bearer token is required"),
        ("Bearer lfgw_not-a-token-we-issued", "the bearer token is not valid"),
        ("Basic Y3JtOnNlY3JldA==", "an Authorization: Bearer token is required"),
        ("Bearer ", "an Authorization: Bearer token is required"),
    ],
    ids=["missing", "unknown-token", "other-scheme", "empty-token"],
)
def test_no_valid_bearer_token_answers_401_and_sends_nothing(
    gateway: GatewayProcess, authorization: str | None, detail: str
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}

    reply = gateway.post([created("unauth")], headers=headers)

    assert reply.status == 401
    assert reply.body == {"error": "unauthorized", "detail": detail}
    assert reply.headers["WWW-Authenticate"] == 'Bearer realm="leadflow"'
    assert records_of(gateway, "unauth") == []


def test_a_token_of_another_case_is_not_valid(
    gateway: GatewayProcess, tokens: dict[str, str]
) -> None:
    assert gateway.post(created("case"), tokens["crm"].upper()).status == 401


def test_a_body_over_the_size_limit_answers_413(
    gateway: GatewayProcess, tokens: dict[str, str]
) -> None:
    padded = created("big", padding="x" * 5000)

    reply = gateway.post(padded, tokens["crm"])

    assert reply.status == 413
    assert reply.body == {"error": "body-too-large", "detail": "the body is larger than 4096 bytes"}
    assert records_of(gateway, "big") == []


def test_a_chunked_body_over_the_size_limit_answers_413(
    gateway: GatewayProcess, tokens: dict[str, str]
) -> None:
    chunks = [b'[{"event_id":"chunked","padding":"', *([b"x" * 1000] * 5), b'"}]']

    reply = gateway.post(None, tokens["crm"], raw=iter(chunks))

    assert (reply.status, reply.body["error"]) == (413, "body-too-large")


def test_more_events_than_the_limit_answers_413_and_sends_none(
    gateway: GatewayProcess, tokens: dict[str, str]
) -> None:
    batch = [created(f"many{i}") for i in range(6)]

    reply = gateway.post(batch, tokens["crm"])

    assert reply.status == 413
    assert reply.body == {
        "error": "too-many-events",
        "detail": "6 events in one request; the limit is 5",
    }
    assert records_of(gateway, *(f"many{i}" for i in range(6))) == []


def test_answers_match_the_published_models(
    gateway: GatewayProcess, tokens: dict[str, str]
) -> None:
    mixed = gateway.post([created("modelA"), {"x": 1}], tokens["crm"])
    refused = gateway.post([created("modelB")])

    assert EventsResponse.model_validate(mixed.body).accepted == 1
    assert ErrorResponse.model_validate(refused.body).error == "unauthorized"


def test_health_readiness_and_openapi_are_served(gateway: GatewayProcess) -> None:
    assert gateway.get("/healthz").body == {"status": "ok"}
    assert gateway.get("/readyz").body == {"ready": True, "kafka": "ok"}
    assert gateway.get("/openapi.json").body == TypeAdapter(dict).validate_python(
        openapi_document(max_events=5, max_body_bytes=4096)
    )


def test_metrics_count_requests_accepted_events_and_rejections_by_reason(
    gateway: GatewayProcess, tokens: dict[str, str]
) -> None:
    def sample(text: str, series: str) -> float:
        match = re.search(rf"^{re.escape(series)} (\S+)$", text, re.M)
        return float(match[1]) if match else 0.0

    before = gateway.get("/metrics").body
    gateway.post([created("metA"), created("metB"), {"event_id": "x"}], tokens["forms"])
    after = gateway.get("/metrics").body

    def delta(series: str) -> float:
        return sample(after, series) - sample(before, series)

    assert delta('leadflow_gateway_requests_total{code="207"}') == 1
    assert delta('leadflow_gateway_events_accepted_total{token="forms"}') == 2
    assert delta('leadflow_gateway_events_rejected_total{reason="missing-field"}') == 1
    assert delta("leadflow_gateway_request_duration_seconds_count") == 1


def test_logs_name_the_token_but_never_show_it(
    gateway: GatewayProcess, tokens: dict[str, str]
) -> None:
    gateway.post(created("logA"), tokens["crm"], path=f"/v1/events?token={tokens['forms']}")
    gateway.post(created("logB"), "lfgw_a-wrong-token-someone-pasted")

    log = gateway.log()
    assert "POST /v1/events 202" in log
    assert "token=crm" in log
    for secret in (*tokens.values(), "lfgw_a-wrong-token-someone-pasted"):
        assert secret not in log


def test_the_rate_limit_is_per_token_and_answers_429_with_retry_after(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    tokens = make_tokens("busy", "quiet")
    limited = GatewayProcess(
        kafka_bootstrap,
        new_topic(kafka_bootstrap),
        tmp_path,
        tokens,
        settings={"LEADFLOW_GATEWAY_RATE_LIMIT": "3/minute"},
    ).start()
    try:
        statuses = [limited.post(created(f"rate{i}"), tokens["busy"]).status for i in range(3)]
        refused = limited.post(created("rate3"), tokens["busy"])
        other = limited.post(created("rate4"), tokens["quiet"])
    finally:
        limited.stop()

    assert statuses == [202, 202, 202]
    assert refused.status == 429
    assert refused.body["error"] == "rate-limited"
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert refused.body["retry_after"] == int(refused.headers["Retry-After"])
    assert other.status == 202
    assert sorted(r.key for r in read_topic(kafka_bootstrap, limited.topic)) == [
        b"rate0",
        b"rate1",
        b"rate2",
        b"rate4",
    ]


def test_with_a_certificate_the_gateway_speaks_https_only(
    gateway: GatewayProcess, tmp_path: Path
) -> None:
    certificates = issue(tmp_path / "certs")
    tokens = make_tokens("crm")
    secure = GatewayProcess(
        gateway.bootstrap,
        gateway.topic,
        tmp_path,
        tokens,
        settings={
            "LEADFLOW_GATEWAY_TLS_CERTFILE": str(certificates.cert_file),
            "LEADFLOW_GATEWAY_TLS_KEYFILE": str(certificates.key_file),
        },
        tls_ca=str(certificates.ca_file),
    ).start()
    try:
        reply = secure.post(created("https"), tokens["crm"])
        plain = http.client.HTTPConnection("127.0.0.1", secure.port, timeout=10)
        with pytest.raises((http.client.HTTPException, ConnectionError)):
            plain.request("GET", "/healthz")
            plain.getresponse()
        plain.close()
    finally:
        secure.stop()

    assert reply.status == 202
    assert len(records_of(gateway, "https")) == 1
