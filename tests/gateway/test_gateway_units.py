"""The gateway's parts without a broker: tokens, settings, limits, body splitting, OpenAPI."""

from __future__ import annotations

import asyncio
import hmac
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from openapi_spec_validator import validate
from pydantic import ValidationError

from events import RejectReason
from events.models import WIRE_EVENT
from gateway import tokens as token_module
from gateway.intake import split_body
from gateway.openapi import openapi_document
from gateway.ratelimit import TokenRateLimit
from gateway.settings import GatewaySettings
from gateway.tokens import TokenError, TokenStore, hash_token, load_tokens, new_token
from tests.streaming import ROOT, free_port


def store(*names: str) -> tuple[TokenStore, dict[str, str]]:
    issued = {name: new_token() for name in names}
    return TokenStore.from_hashes({n: hash_token(t) for n, t in issued.items()}), issued


def test_a_token_is_recognised_by_its_name_and_anything_else_is_not() -> None:
    tokens, issued = store("crm", "forms")

    assert tokens.identify(issued["crm"]) == "crm"
    assert tokens.identify(issued["forms"]) == "forms"
    assert tokens.identify(issued["crm"][:-1]) is None
    assert tokens.identify("") is None


@pytest.mark.parametrize("which", ["first", "last", "unknown"])
def test_every_stored_digest_is_compared_in_constant_time_whichever_matches(
    monkeypatch: pytest.MonkeyPatch, which: str
) -> None:
    tokens, issued = store("a", "b", "c", "d")
    presented = {"first": issued["a"], "last": issued["d"], "unknown": new_token()}[which]
    calls = []
    compare = hmac.compare_digest

    def counting(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return compare(a, b)

    monkeypatch.setattr(token_module.hmac, "compare_digest", counting)
    tokens.identify(presented)

    assert len(calls) == 4


def test_tokens_are_random_and_stored_as_sha256_digests() -> None:
    first, second = new_token(), new_token()

    assert first != second
    assert first.startswith("lfgw_") and len(first) >= 45
    assert hash_token("abc") == (
        "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    )


def test_a_tokens_file_holds_name_and_digest_per_line(tmp_path: Path) -> None:
    crm, forms = new_token(), new_token()
    path = tmp_path / "tokens"
    path.write_text(f"# who may send\ncrm {hash_token(crm)}\n\nforms {hash_token(forms)}  # web\n")

    tokens = load_tokens({}, path)

    assert tokens.names == ("crm", "forms")
    assert tokens.identify(forms) == "forms"


def test_a_tokens_file_line_with_a_plain_token_is_refused_without_echoing_it(
    tmp_path: Path,
) -> None:
    secret = new_token()
    path = tmp_path / "tokens"
    path.write_text(f"crm {secret}\n")

    with pytest.raises(TokenError) as refused:
        load_tokens({}, path)

    assert str(refused.value) == (
        f"tokens file {path} line 1: expected 'NAME sha256:<64 hex digits>'"
    )
    assert secret not in str(refused.value)


def test_one_token_under_two_names_is_refused() -> None:
    same = hash_token(new_token())

    with pytest.raises(TokenError, match="'a' and 'b' are the same token"):
        load_tokens({"a": same, "b": same}, None)


def test_no_tokens_at_all_is_refused() -> None:
    with pytest.raises(TokenError, match="no tokens configured"):
        load_tokens({}, None)


def test_settings_come_from_leadflow_gateway_variables_and_are_frozen(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    digest = hash_token("x")
    monkeypatch.setenv("LEADFLOW_GATEWAY_TOKENS", json.dumps({"crm": digest}))
    monkeypatch.setenv("LEADFLOW_GATEWAY_MAX_EVENTS", "20")
    monkeypatch.setenv("LEADFLOW_GATEWAY_KAFKA_TIMEOUT", "3s")

    settings = GatewaySettings()

    assert settings.tokens == {"crm": digest}
    assert settings.max_events == 20
    assert settings.kafka_timeout.total_seconds() == 3
    assert settings.max_body_bytes == 1024 * 1024
    with pytest.raises(ValidationError):
        settings.max_events = 10  # type: ignore[misc]


@pytest.mark.parametrize(
    "bad",
    [
        {"rate_limit": "lots"},
        {"tokens": {"crm": "md5:abc"}},
        {"tokens": {"no spaces": hash_token("x")}},
        {"tls_certfile": "cert.pem"},
        {"kafka_timeout": "0s"},
    ],
    ids=["rate-limit", "digest", "token-name", "tls-half", "timeout"],
)
def test_invalid_settings_are_refused(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        GatewaySettings(**bad)  # type: ignore[arg-type]


def test_a_rate_limit_refuses_past_its_window_and_counts_each_token_apart() -> None:
    async def scenario() -> tuple[list[int | None], int | None, int | None]:
        limit = TokenRateLimit("2/minute")
        allowed = [await limit.hit("crm"), await limit.hit("crm")]
        return allowed, await limit.hit("crm"), await limit.hit("forms")

    allowed, refused, other = asyncio.run(scenario())

    assert allowed == [None, None]
    assert refused is not None and 1 <= refused <= 60
    assert other is None


def test_a_refused_request_uses_up_none_of_the_other_windows() -> None:
    async def scenario() -> int:
        limit = TokenRateLimit("1/second;5/minute")
        await limit.hit("crm")
        for _ in range(3):
            assert await limit.hit("crm") is not None  # the per-second window refuses these
        stats = await limit.limiter.get_window_stats(limit.items[1], "crm")
        return stats.remaining

    assert asyncio.run(scenario()) == 4


def test_a_body_is_an_array_of_events_or_one_event() -> None:
    assert split_body(b'{"a": 1}') == [b'{"a": 1}']
    assert split_body(b' [ {"a": 1} , {"b" : [2]} ]') == [b'{"a": 1}', b'{"b" : [2]}']
    assert split_body(b"[]") == []
    assert split_body(b'[{"a": 1},') == [b'[{"a": 1},']


def test_the_openapi_document_is_valid_and_built_from_the_contract() -> None:
    document = openapi_document(max_events=50, max_body_bytes=2048)
    schemas = document["components"]["schemas"]
    contract = WIRE_EVENT.json_schema(ref_template="#/components/schemas/{model}")
    contract.pop("$defs")
    body = document["paths"]["/v1/events"]["post"]["requestBody"]["content"]["application/json"]

    validate(document)
    assert schemas["LeadEvent"] == contract
    assert body["schema"]["oneOf"][1]["maxItems"] == 50
    assert schemas["RejectReason"]["enum"] == [str(reason) for reason in RejectReason]
    assert set(document["paths"]["/v1/events"]["post"]["responses"]) == {
        "202",
        "207",
        "400",
        "401",
        "413",
        "429",
        "503",
    }


def run_gateway(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "leadflow.cli", "gateway"],
        env={
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "LEADFLOW_GATEWAY_PORT": str(free_port()),
            **env,
        },
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_without_tokens_the_gateway_does_not_start() -> None:
    done = run_gateway({"LEADFLOW_GATEWAY_TOKENS": "{}"})

    assert done.returncode == 2
    assert "no tokens configured" in done.stderr


def test_an_unreachable_broker_stops_the_start_with_its_cause() -> None:
    done = run_gateway(
        {
            "LEADFLOW_GATEWAY_TOKENS": json.dumps({"crm": hash_token("x")}),
            "LEADFLOW_KAFKA_BOOTSTRAP": "127.0.0.1:1",
        }
    )

    assert done.returncode == 2
    assert "cannot reach Kafka at 127.0.0.1:1: connection refused" in done.stderr


def test_the_token_command_prints_the_file_line_and_shows_the_token_once() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "leadflow.cli", "gateway", "token", "crm"],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    token = done.stderr.rsplit(": ", 1)[1].strip()

    assert done.returncode == 0
    assert done.stdout == f"crm {hash_token(token)}\n"
