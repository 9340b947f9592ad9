"""Kafka over SASL_SSL (SCRAM-SHA-512), for real: a broker that requires it, every client.

The module starts its own broker with a SASL_SSL listener, certificates made for
the test, and a SCRAM user; the session's shared broker is not involved.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from devtools.broker import LocalKafka, SaslSslListener, render_server_properties
from devtools.generate import GeneratorSpec, generate_events, write_events
from tests.gateway_support import GatewayProcess, make_tokens
from tests.streaming import ROOT, Deployment, converge, free_port
from tests.tls_support import ServerCertificates, issue, untrusted_ca

pytestmark = pytest.mark.kafka

USER, PASSWORD = "leadflow", "scram-secret-for-tests"


@dataclass(frozen=True)
class SecureBroker:
    broker: LocalKafka
    certificates: ServerCertificates

    @property
    def bootstrap(self) -> str:
        return self.broker.sasl_ssl_bootstrap

    def client_settings(self, **overrides: str) -> dict[str, str]:
        """The documented settings, as a deployment would set them."""
        return {
            "LEADFLOW_SECURITY_PROTOCOL": "SASL_SSL",
            "LEADFLOW_SASL_MECHANISM": "SCRAM-SHA-512",
            "LEADFLOW_SASL_USERNAME": USER,
            "LEADFLOW_SASL_PASSWORD": PASSWORD,
            "LEADFLOW_SSL_CAFILE": str(self.certificates.ca_file),
            **overrides,
        }


@pytest.fixture(scope="module")
def secure(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureBroker]:
    directory = tmp_path_factory.mktemp("sasl-ssl")
    certificates = issue(directory / "certs")
    listener = SaslSslListener(
        certificates.keystore, certificates.keystore_password, {USER: PASSWORD}
    )
    with LocalKafka(data_dir=directory / "kafka", sasl_ssl=listener) as broker:
        yield SecureBroker(broker, certificates)


def test_topics_produce_a_worker_and_the_gateway_all_work_over_sasl_ssl(
    secure: SecureBroker, tmp_path: Path
) -> None:
    deployment = Deployment(secure.bootstrap, tmp_path, extra_env=secure.client_settings())
    history = tmp_path / "history.jsonl"
    with history.open("wb") as out:
        write_events(generate_events(GeneratorSpec(seed=31, events=2_000)), out)
    live = [
        {
            "event_id": f"secure-{n}",
            "type": "lead.created",
            "lead_id": f"secure-lead-{n}",
            "occurred_at": "2026-01-05T10:00:00Z",
            "source": "webinar",
        }
        for n in range(20)
    ]
    everything = tmp_path / "everything.jsonl"
    everything.write_bytes(
        history.read_bytes() + b"".join(json.dumps(e).encode() + b"\n" for e in live)
    )
    tokens = make_tokens("crm")
    gateway = GatewayProcess(
        secure.bootstrap,
        deployment.topic,
        tmp_path / "gateway",
        tokens,
        settings=secure.client_settings(),
    )
    try:
        topics = subprocess.run(
            [sys.executable, "-m", "leadflow.cli", "topics"],
            env=deployment.env(),
            capture_output=True,
            text=True,
            timeout=60,
        )
        sent = deployment.produce(history)
        worker = deployment.worker("secure").start()
        reply = gateway.start().post(live, tokens["crm"])
        difference = converge([worker], everything)
    finally:
        gateway.stop()
        deployment.stop_workers()

    assert topics.returncode == 0, topics.stderr
    assert f"{deployment.topic}: 6 partitions" in topics.stdout
    assert sent == len(history.read_bytes().splitlines())
    assert (reply.status, reply.body["accepted"]) == (202, 20)
    assert difference == {}


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        ("wrong-password", f"SASL SCRAM-SHA-512 login as '{USER}' refused"),
        ("untrusted-certificate", "the broker's TLS certificate is not trusted"),
    ],
    ids=["wrong-password", "untrusted-certificate"],
)
def test_every_client_names_a_refused_login_or_an_untrusted_certificate_at_once(
    secure: SecureBroker, tmp_path: Path, fault: str, message: str
) -> None:
    override = (
        {"LEADFLOW_SASL_PASSWORD": "not-the-password"}
        if fault == "wrong-password"
        else {"LEADFLOW_SSL_CAFILE": str(untrusted_ca(tmp_path))}
    )
    events = tmp_path / "one.jsonl"
    events.write_text('{"event_id": "e"}\n')
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "LEADFLOW_KAFKA_BOOTSTRAP": secure.bootstrap,
        "LEADFLOW_METRICS_PORT": str(free_port()),
        "LEADFLOW_DATA_DIR": str(tmp_path / "worker"),
        "LEADFLOW_GATEWAY_PORT": str(free_port()),
        "LEADFLOW_GATEWAY_TOKENS": json.dumps({"crm": "sha256:" + "0" * 64}),
        **secure.client_settings(**override),
    }
    commands = {
        "topics": ["topics"],
        "produce": ["produce", str(events)],
        "worker": ["worker"],
        "gateway": ["gateway"],
    }
    started = time.monotonic()
    processes = {
        name: subprocess.Popen(
            [sys.executable, "-m", "leadflow.cli", *argv],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name, argv in commands.items()
    }
    outcomes = {}
    for name, process in processes.items():
        try:
            _, stderr = process.communicate(timeout=90)
        except subprocess.TimeoutExpired:
            process.kill()
            _, stderr = process.communicate()
        outcomes[name] = (process.returncode, stderr, time.monotonic() - started)

    for name, (code, stderr, elapsed) in outcomes.items():
        assert code == 2, (name, stderr)
        assert message in stderr, (name, stderr)
        assert PASSWORD not in stderr and "not-the-password" not in stderr, name
        assert elapsed < 45, (name, elapsed)


def test_a_sasl_ssl_listener_sits_beside_the_plaintext_one_with_its_keystore() -> None:
    listener = SaslSslListener(Path("/certs/server.p12"), "store-pw", {USER: PASSWORD})
    text = render_server_properties(
        9092, 9093, Path("/data"), sasl_ssl=listener, sasl_ssl_port=9094
    )
    props = dict(line.split("=", 1) for line in text.splitlines() if not line.startswith("#"))

    assert props["listeners"] == (
        "PLAINTEXT://127.0.0.1:9092,SASL_SSL://127.0.0.1:9094,CONTROLLER://127.0.0.1:9093"
    )
    assert props["advertised.listeners"] == "PLAINTEXT://127.0.0.1:9092,SASL_SSL://127.0.0.1:9094"
    assert props["listener.security.protocol.map"] == (
        "PLAINTEXT:PLAINTEXT,SASL_SSL:SASL_SSL,CONTROLLER:PLAINTEXT"
    )
    assert props["sasl.enabled.mechanisms"] == "SCRAM-SHA-512"
    assert props["listener.name.sasl_ssl.ssl.keystore.location"] == "/certs/server.p12"
    assert listener.scram_arguments() == [
        "--add-scram",
        f"SCRAM-SHA-512=[name={USER},password={PASSWORD}]",
    ]
