"""Secrets backends: AWS Secrets Manager against a real moto server process, file and env fallbacks."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from arbiter.security.backends import (
    AwsSecretsManagerBackend,
    ChainBackend,
    EnvBackend,
    FileBackend,
    SecretNotFound,
    SecretsBackendError,
    backend_from_uri,
)
from arbiter.security.credentials import CredentialStore, MasterKeyRing
from arbiter.security.secrets import Secret
from tests.security.moto_fixtures import aws_env, moto_endpoint, sm_client

pytestmark = pytest.mark.integration  # loopback servers (tests/README.md)

__all__ = ["aws_env", "moto_endpoint", "sm_client"]  # fixtures used by name below


def test_aws_put_get_versions(sm_client: Any) -> None:
    backend = AwsSecretsManagerBackend(sm_client, prefix="t1/")
    with pytest.raises(SecretNotFound):
        backend.get("master-key")
    backend.put("master-key", Secret("v1"))
    backend.put("master-key", Secret("v2"))
    assert backend.get("master-key").reveal() == b"v2"
    # The previous value stays readable under AWSPREVIOUS while consumers roll over.
    prev = sm_client.get_secret_value(SecretId="t1/master-key", VersionStage="AWSPREVIOUS")
    assert prev["SecretString"] == "v1"


def test_aws_binary_secret(sm_client: Any) -> None:
    sm_client.create_secret(Name="t2/blob", SecretBinary=b"\x00\x01binary")
    assert AwsSecretsManagerBackend(sm_client, prefix="t2/").get("blob").reveal() == b"\x00\x01binary"


def test_aws_errors_carry_codes_not_values(moto_endpoint: str, aws_env: None) -> None:
    # Unreachable endpoint: a typed error, no traceback noise, no value.
    assert isinstance(
        backend_from_uri("aws:?prefix=x/&endpoint=http://127.0.0.1:9"), AwsSecretsManagerBackend
    )
    client = boto3.client(
        "secretsmanager",
        region_name="us-east-1",
        endpoint_url="http://127.0.0.1:9",
        config=Config(retries={"max_attempts": 1}, connect_timeout=2),
    )
    dead = AwsSecretsManagerBackend(client, prefix="x/")
    with pytest.raises(SecretsBackendError) as info:
        dead.put("k", Secret("do-not-print-me"))
    assert "do-not-print-me" not in str(info.value)
    with pytest.raises(SecretsBackendError):
        AwsSecretsManagerBackend(prefix="x/", endpoint_url=moto_endpoint).get("bad name with spaces")


def test_credential_store_with_master_key_in_aws(moto_endpoint: str, aws_env: None, tmp_path: Path) -> None:
    backend = backend_from_uri(f"aws:?prefix=deploy1/&endpoint={moto_endpoint}")
    store = CredentialStore.open(tmp_path / "store", backend, create=True)
    store.put_secret("alice", "kalshi", Secret("alice-secret"))
    report = store.rotate(lambda ring: ring.save(backend), retire_old=True)
    assert (report.new_version, report.retired) == (2, [1])
    # A fresh process: everything it needs comes from Secrets Manager plus the envelope folder.
    again = CredentialStore.open(
        tmp_path / "store", backend_from_uri(f"aws:?prefix=deploy1/&endpoint={moto_endpoint}")
    )
    assert again.keyring.versions == [2]
    assert again.get_secret("alice", "kalshi").reveal() == b"alice-secret"


def test_file_backend_atomic_private_files(tmp_path: Path) -> None:
    backend = FileBackend(tmp_path / "s")
    backend.put("master-key", Secret("abc"))
    backend.put("nested/name", Secret("x"))
    path = tmp_path / "s" / "master-key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert backend.get("master-key").reveal() == b"abc"
    assert backend.get("nested/name").reveal() == b"x"
    assert not [p for p in (tmp_path / "s").iterdir() if p.name.startswith(".tmp-")]
    with pytest.raises(SecretsBackendError):
        backend.get("../escape")
    with pytest.raises(SecretNotFound):
        backend.get("missing")


def test_env_backend_and_chain(tmp_path: Path) -> None:
    ring = MasterKeyRing.generate()
    env = EnvBackend(environ={"ARBITER_SECRET_MASTER_KEY": ring.to_secret().reveal_str()})
    assert env.var("master-key") == "ARBITER_SECRET_MASTER_KEY"
    assert MasterKeyRing.load(env).versions == [1]
    with pytest.raises(SecretsBackendError):
        env.put("master-key", Secret("x"))
    files = FileBackend(tmp_path / "f")
    files.put("other", Secret("from-file"))
    chain = ChainBackend([env, files])
    assert chain.get("other").reveal() == b"from-file"
    assert chain.get("master-key") == ring.to_secret()
    with pytest.raises(SecretNotFound):
        chain.get("none")


def test_backend_uri_parsing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert isinstance(backend_from_uri(f"file:{tmp_path}"), FileBackend)
    assert backend_from_uri("env:").describe() == "env:ARBITER_SECRET_"
    assert backend_from_uri("env:MY_").describe() == "env:MY_"
    chain = backend_from_uri(f"env:,file:{tmp_path}")
    assert isinstance(chain, ChainBackend)
    for bad in ("nope:", "file:", "s3://x"):
        with pytest.raises(SecretsBackendError):
            backend_from_uri(bad)
    monkeypatch.setenv("ARBITER_SECRET_MASTER_KEY", "x")
    assert backend_from_uri("env:").get("master-key").reveal() == b"x"
    assert os.environ["ARBITER_SECRET_MASTER_KEY"] == "x"
