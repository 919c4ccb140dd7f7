"""Where secrets come from: AWS Secrets Manager in a deployment, a file or the environment when embedded.

A backend is a name -> :class:`Secret` map with three implementations behind one protocol, so the
credential store and the CLI never care which one a deployment uses; ``backend_from_uri`` picks
one from a single configuration string (``aws:``, ``file:/path``, ``env:PREFIX_``). Values come
back as :class:`Secret` straight from the client response so they never sit in a plain ``str``
that a log line could pick up. Errors carry names and AWS error codes only, never values.
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qs, urlencode, urlparse

from arbiter.security.secrets import Secret

__all__ = [
    "AwsSecretsManagerBackend",
    "ChainBackend",
    "EnvBackend",
    "FileBackend",
    "SecretNotFound",
    "SecretsBackend",
    "SecretsBackendError",
    "backend_from_uri",
]

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-/]{0,200}$")


class SecretsBackendError(RuntimeError):
    """The backend could not be read or written (permissions, network, bad configuration)."""


class SecretNotFound(SecretsBackendError):
    """No secret of that name in this backend."""

    def __init__(self, name: str, where: str) -> None:
        super().__init__(f"secret {name!r} not found in {where}")
        self.name = name


def _check_name(name: str) -> str:
    if not _NAME_RE.match(name) or ".." in name:
        raise SecretsBackendError(f"invalid secret name {name!r}")
    return name


class SecretsBackend(Protocol):
    def get(self, name: str) -> Secret: ...

    def put(self, name: str, value: Secret) -> None: ...

    def describe(self) -> str: ...


class _DropBotocoreBodies(logging.Filter):
    """botocore logs request params and response bodies at DEBUG: a SecretString in clear text.

    Filters sit on the exact loggers that emit those records (a filter does not see records
    propagated from child loggers), and drop only those two message kinds.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        msg = str(record.msg)
        return not (msg.startswith("Response body") or msg.startswith("Making request for"))


_BOTOCORE_FILTER = _DropBotocoreBodies()


def _silence_botocore_bodies() -> None:
    for name in ("botocore.parsers", "botocore.endpoint"):
        logger = logging.getLogger(name)
        if _BOTOCORE_FILTER not in logger.filters:
            logger.addFilter(_BOTOCORE_FILTER)


class AwsSecretsManagerBackend:
    """AWS Secrets Manager; ``prefix`` namespaces one deployment's secrets (``arbiter/``).

    ``put`` writes a new version of an existing secret (``PutSecretValue``), so the previous
    value stays readable under ``AWSPREVIOUS`` while consumers roll over.
    """

    def __init__(
        self,
        client: Any | None = None,
        *,
        prefix: str = "arbiter/",
        region: str | None = None,
        endpoint_url: str | None = None,
    ) -> None:
        _silence_botocore_bodies()
        if client is None:
            import boto3

            client = boto3.client(
                "secretsmanager",
                region_name=region or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1",
                endpoint_url=endpoint_url,
            )
        self._client = client
        self._prefix = prefix
        # Kept so uri() can name this backend to another process (a given client carries its own).
        meta = getattr(client, "meta", None)
        self._region = region or getattr(meta, "region_name", None)
        self._endpoint_url = endpoint_url or getattr(meta, "endpoint_url", None)

    def describe(self) -> str:
        return f"aws-secretsmanager:{self._prefix}"

    def uri(self) -> str:
        """This backend as a ``backend_from_uri`` string: names where the secrets are, holds none."""
        query = {"prefix": self._prefix, "region": self._region, "endpoint": self._endpoint_url}
        return "aws:?" + urlencode({k: v for k, v in query.items() if v is not None})

    def _id(self, name: str) -> str:
        return self._prefix + _check_name(name)

    @staticmethod
    def _code(exc: Exception) -> str:
        response = getattr(exc, "response", None)
        if isinstance(response, dict):
            return str(response.get("Error", {}).get("Code", type(exc).__name__))
        return type(exc).__name__

    def get(self, name: str) -> Secret:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            resp = self._client.get_secret_value(SecretId=self._id(name))
        except ClientError as exc:
            code = self._code(exc)
            if code == "ResourceNotFoundException":
                raise SecretNotFound(name, self.describe()) from None
            raise SecretsBackendError(f"reading secret {name!r} failed: {code}") from None
        except BotoCoreError as exc:
            raise SecretsBackendError(f"reading secret {name!r} failed: {type(exc).__name__}") from None
        if "SecretBinary" in resp and resp["SecretBinary"] is not None:
            return Secret(resp["SecretBinary"], name)
        return Secret(resp["SecretString"], name)

    def put(self, name: str, value: Secret) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        secret_id = self._id(name)
        try:
            try:
                self._client.put_secret_value(SecretId=secret_id, SecretString=value.reveal_str())
            except ClientError as exc:
                if self._code(exc) != "ResourceNotFoundException":
                    raise
                self._client.create_secret(Name=secret_id, SecretString=value.reveal_str())
        except ClientError as exc:
            raise SecretsBackendError(f"writing secret {name!r} failed: {self._code(exc)}") from None
        except BotoCoreError as exc:
            raise SecretsBackendError(f"writing secret {name!r} failed: {type(exc).__name__}") from None


class FileBackend:
    """One file per secret under ``root`` (mode 0600, written atomically): the embedded default."""

    def __init__(self, root: str | Path) -> None:
        self._root = Path(root)

    def describe(self) -> str:
        return f"file:{self._root}"

    def uri(self) -> str:
        return f"file:{self._root.absolute()}"

    def _path(self, name: str) -> Path:
        return self._root / _check_name(name)

    def get(self, name: str) -> Secret:
        path = self._path(name)
        try:
            return Secret(path.read_bytes().rstrip(b"\n"), name)
        except FileNotFoundError:
            raise SecretNotFound(name, self.describe()) from None
        except OSError as exc:
            raise SecretsBackendError(f"reading secret {name!r} failed: {exc.strerror}") from None

    def put(self, name: str, value: Secret) -> None:
        path = self._path(name)
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
            try:
                os.fchmod(fd, 0o600)
                with os.fdopen(fd, "wb") as fh:
                    fh.write(value.reveal())
                    fh.flush()
                    os.fsync(fh.fileno())
                os.replace(tmp, path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        except OSError as exc:
            raise SecretsBackendError(f"writing secret {name!r} failed: {exc.strerror}") from None


class EnvBackend:
    """Read-only: ``<prefix><NAME>``, non-alphanumerics as ``_``.

    ``master-key`` is read from ``ARBITER_SECRET_MASTER_KEY``: handy for containers whose
    orchestrator injects secrets as environment variables.
    """

    def __init__(self, prefix: str = "ARBITER_SECRET_", environ: dict[str, str] | None = None) -> None:
        self._prefix = prefix
        self._environ = environ

    def describe(self) -> str:
        return f"env:{self._prefix}"

    def uri(self) -> str:
        if self._environ is not None:
            raise SecretsBackendError("an env backend over a given mapping cannot be named elsewhere")
        return f"env:{self._prefix}"

    def var(self, name: str) -> str:
        return self._prefix + re.sub(r"[^A-Za-z0-9]", "_", _check_name(name)).upper()

    def get(self, name: str) -> Secret:
        env = os.environ if self._environ is None else self._environ
        value = env.get(self.var(name))
        if value is None:
            raise SecretNotFound(name, self.describe())
        return Secret(value, name)

    def put(self, name: str, value: Secret) -> None:
        raise SecretsBackendError(f"{self.describe()} is read-only; cannot write secret {name!r}")


class ChainBackend:
    """Reads from the first backend that has the name; writes go to the first one."""

    def __init__(self, backends: Sequence[SecretsBackend]) -> None:
        if not backends:
            raise SecretsBackendError("a chain needs at least one backend")
        self._backends = list(backends)

    def describe(self) -> str:
        return " -> ".join(b.describe() for b in self._backends)

    def uri(self) -> str:
        uris: list[str] = []
        for backend in self._backends:
            uri = getattr(backend, "uri", None)
            if not callable(uri):
                raise SecretsBackendError(f"{self.describe()} cannot be named for another process")
            uris.append(str(uri()))
        return ",".join(uris)

    def get(self, name: str) -> Secret:
        for backend in self._backends:
            try:
                return backend.get(name)
            except SecretNotFound:
                continue
        raise SecretNotFound(name, self.describe())

    def put(self, name: str, value: Secret) -> None:
        self._backends[0].put(name, value)


def backend_from_uri(uri: str) -> SecretsBackend:
    """``aws:[?prefix=..&region=..&endpoint=..]``, ``file:/dir``, ``env:[PREFIX_]``; ``a,b`` chains."""
    if "," in uri:
        return ChainBackend([backend_from_uri(part.strip()) for part in uri.split(",") if part.strip()])
    scheme, _, rest = uri.partition(":")
    if scheme == "aws":
        query = parse_qs(urlparse("aws:" + rest).query)

        def one(key: str) -> str | None:
            values = query.get(key)
            return values[0] if values else None

        prefix = one("prefix")
        return AwsSecretsManagerBackend(
            prefix="arbiter/" if prefix is None else prefix,
            region=one("region"),
            endpoint_url=one("endpoint") or os.environ.get("ARBITER_AWS_ENDPOINT_URL") or None,
        )
    if scheme == "file":
        if not rest:
            raise SecretsBackendError("file: backend needs a directory, e.g. file:/etc/arbiter/secrets")
        return FileBackend(rest)
    if scheme == "env":
        return EnvBackend(rest or "ARBITER_SECRET_")
    raise SecretsBackendError(f"unknown secrets backend {uri!r} (use aws:, file:/dir or env:)")
