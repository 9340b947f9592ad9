"""Certificates made for a test: a throwaway CA and a server certificate for 127.0.0.1."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import trustme
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12


@dataclass(frozen=True)
class ServerCertificates:
    ca_file: Path  # what clients trust
    cert_file: Path  # the server's chain, PEM
    key_file: Path  # the server's private key, PEM
    keystore: Path  # the same key and chain as PKCS12, for the JVM
    keystore_password: str


def issue(directory: Path, password: str = "keystore-secret") -> ServerCertificates:
    directory.mkdir(parents=True, exist_ok=True)
    ca = trustme.CA()
    leaf = ca.issue_cert("127.0.0.1", "localhost")
    certs = ServerCertificates(
        ca_file=directory / "ca.pem",
        cert_file=directory / "server.pem",
        key_file=directory / "server.key",
        keystore=directory / "server.p12",
        keystore_password=password,
    )
    ca.cert_pem.write_to_path(str(certs.ca_file))
    leaf.private_key_pem.write_to_path(str(certs.key_file))
    certs.cert_file.write_bytes(b"".join(pem.bytes() for pem in leaf.cert_chain_pems))
    key = serialization.load_pem_private_key(leaf.private_key_pem.bytes(), None)
    chain = [x509.load_pem_x509_certificate(pem.bytes()) for pem in leaf.cert_chain_pems]
    certs.keystore.write_bytes(
        pkcs12.serialize_key_and_certificates(
            b"server",
            key,  # type: ignore[arg-type]
            chain[0],
            chain[1:],
            serialization.BestAvailableEncryption(password.encode()),
        )
    )
    return certs


def untrusted_ca(directory: Path) -> Path:
    """A CA file that did not sign anything the servers present."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(path))
    return path
