"""The control API over TLS (self-signed certificate made here), through RemoteEngine."""

from __future__ import annotations

import datetime as dt
import ipaddress
import time

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from arbiter.control.auth import Key, KeySet, Role
from arbiter.control.client import ControlError, RemoteEngine
from arbiter.control.engine import InProcessEngine
from arbiter.control.service import build_server


def self_signed() -> tuple[bytes, bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "arbiter-control-test")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                       critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    pem_key = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return cert.public_bytes(serialization.Encoding.PEM), pem_key


async def test_tls_round_trip_and_plaintext_refused() -> None:
    cert, key = self_signed()
    keys = KeySet()
    keys.add(Key.hmac("k1", "tls-test-secret-that-is-32-bytes!!"))
    server = await build_server(InProcessEngine(["acme"]), keys, "127.0.0.1:0",
                                credentials=grpc.ssl_server_credentials([(key, cert)]))
    token = keys.issue("t", "acme", Role.VIEWER, 60, int(time.time()))
    secure = RemoteEngine(f"127.0.0.1:{server.port}", token,
                          credentials=grpc.ssl_channel_credentials(root_certificates=cert))
    plain = RemoteEngine(f"127.0.0.1:{server.port}", token, timeout_s=3)
    try:
        assert [t.tenant for t in (await secure.status(None)).tenants] == ["acme"]
        with pytest.raises(ControlError, match="UNAVAILABLE"):
            await plain.status(None)
    finally:
        await secure.close()
        await plain.close()
        await server.stop(0)
