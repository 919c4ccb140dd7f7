"""Encrypted-at-rest venue credentials, one envelope per (tenant, credential name).

Layout of an envelope (JSON, ``format`` 1), two AES-256-GCM layers:

* the payload (the credential fields) is encrypted under a fresh random data key (DEK);
* the DEK is wrapped under the tenant's key-encryption key, derived with HKDF-SHA256 from the
  master key of version ``key_version`` and the tenant id.

Both layers authenticate associated data that names the tenant and credential name (and, for the
wrap, the master key version), so an envelope copied to another tenant or name, or relabelled
with another key version, fails to open instead of decrypting to someone else's key. Rotation
adds a master key version, then re-wraps every DEK under it (the payload ciphertext is not
touched); old versions stay in the key ring, so readers holding old envelopes keep working,
until :meth:`CredentialStore.retire` removes a version no envelope uses any more.

Decrypted values come back as :class:`Secret` types; callers decrypt right before use and wipe.
What crosses process boundaries (Ray actor arguments) are references instead: :class:`StoreKey`
(store directory + secrets backend URI + tenant + field), :class:`FileKey`, :class:`TomlKey`,
read by :func:`resolve_keys` in the process that signs (docs/adr/0075).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import fcntl
import json
import os
import re
import secrets as _random
import tempfile
import threading
import tomllib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from arbiter.core.accounts import validate_tenant_id
from arbiter.security.backends import SecretNotFound, SecretsBackend, SecretsBackendError, backend_from_uri
from arbiter.security.secrets import KalshiCredentials, PolymarketCredentials, Secret

__all__ = [
    "ENVELOPE_FORMAT",
    "MASTER_KEY_SECRET",
    "CredentialError",
    "CredentialInfo",
    "CredentialNotFound",
    "CredentialRef",
    "CredentialStore",
    "CredentialTamperError",
    "CredentialUnavailable",
    "DirectoryEnvelopeRepo",
    "Envelope",
    "FileKey",
    "KeySource",
    "KeyVersionInUse",
    "MasterKeyRing",
    "RotationReport",
    "StoreKey",
    "StoreLocation",
    "TomlKey",
    "UnknownKeyVersion",
    "derive_tenant_kek",
    "kalshi_signer",
    "polymarket_signature_type",
    "polymarket_venue_credentials",
    "resolve_keys",
]

ENVELOPE_FORMAT = 1
#: Name of the key ring in the secrets backend.
MASTER_KEY_SECRET = "master-key"
_HKDF_SALT = b"arbiter/credentials/tenant-kek/v1"
_NAME_RE = re.compile(r"^[a-z][a-z0-9_.-]{0,63}$")
_KEY_BYTES = 32
_NONCE_BYTES = 12


class CredentialError(Exception):
    """Base of every credential-store failure; messages name tenants and keys, never values."""


class CredentialNotFound(CredentialError):
    pass


class CredentialTamperError(CredentialError):
    """Authentication failed: the envelope was modified, moved, or relabelled."""


class UnknownKeyVersion(CredentialError):
    """The envelope names a master key version the key ring does not (or no longer) hold."""


class KeyVersionInUse(CredentialError):
    pass


class CredentialUnavailable(CredentialError):
    """A referenced key could not be read: its file is missing or unreadable, or the secrets
    backend holding the master key ring cannot be reached from this process."""


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: Any, what: str) -> bytes:
    if not isinstance(text, str):
        raise CredentialTamperError(f"envelope field {what} is not base64 text")
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raise CredentialTamperError(f"envelope field {what} is not base64") from None


def _is_tenant_id(text: str) -> bool:
    try:
        validate_tenant_id(text)
    except ValueError:
        return False
    return True


def _check_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise CredentialError(f"invalid credential name {name!r}")
    return name


@dataclass(frozen=True, slots=True)
class CredentialRef:
    """What crosses process boundaries instead of a secret: the actor decrypts where it signs."""

    tenant_id: str
    name: str


class MasterKeyRing:
    """Master key versions (32 random bytes each) and which one new envelopes use."""

    __slots__ = ("_current", "_keys")

    def __init__(self, keys: dict[int, Secret], current: int) -> None:
        if current not in keys:
            raise CredentialError(f"current master key version {current} is not in the key ring")
        for version, key in keys.items():
            if len(key.reveal()) != _KEY_BYTES:
                raise CredentialError(f"master key version {version} is not {_KEY_BYTES} bytes")
        self._keys = dict(keys)
        self._current = current

    @classmethod
    def generate(cls) -> MasterKeyRing:
        return cls({1: Secret(_random.token_bytes(_KEY_BYTES), "master-key-v1")}, 1)

    @property
    def current(self) -> int:
        return self._current

    @property
    def versions(self) -> list[int]:
        return sorted(self._keys)

    def key(self, version: int) -> Secret:
        try:
            return self._keys[version]
        except KeyError:
            raise UnknownKeyVersion(f"master key version {version} is not in the key ring") from None

    def with_new_version(self) -> MasterKeyRing:
        version = max(self._keys) + 1
        keys = dict(self._keys)
        keys[version] = Secret(_random.token_bytes(_KEY_BYTES), f"master-key-v{version}")
        return MasterKeyRing(keys, version)

    def without(self, version: int) -> MasterKeyRing:
        if version == self._current:
            raise KeyVersionInUse(f"master key version {version} is current and cannot be retired")
        self.key(version)
        return MasterKeyRing({v: k for v, k in self._keys.items() if v != version}, self._current)

    def to_secret(self) -> Secret:
        doc = {
            "format": 1,
            "current": self._current,
            "keys": {str(v): _b64(k.reveal()) for v, k in sorted(self._keys.items())},
        }
        return Secret(json.dumps(doc, sort_keys=True), MASTER_KEY_SECRET)

    @classmethod
    def from_secret(cls, secret: Secret) -> MasterKeyRing:
        try:
            doc = json.loads(secret.reveal())
            keys = {
                int(v): Secret(base64.b64decode(k, validate=True), f"master-key-v{v}")
                for v, k in doc["keys"].items()
            }
            current = int(doc["current"])
        except (ValueError, KeyError, TypeError, AttributeError, binascii.Error):
            raise CredentialError("master key ring is malformed") from None
        return cls(keys, current)

    @classmethod
    def load(cls, backend: SecretsBackend) -> MasterKeyRing:
        return cls.from_secret(backend.get(MASTER_KEY_SECRET))

    def save(self, backend: SecretsBackend) -> None:
        backend.put(MASTER_KEY_SECRET, self.to_secret())

    def __repr__(self) -> str:
        return f"MasterKeyRing(current={self._current}, versions={self.versions})"


def derive_tenant_kek(master: Secret, tenant_id: str) -> bytes:
    """Per-tenant key-encryption key: a leaked KEK exposes one tenant, never the master."""
    return HKDF(
        algorithm=hashes.SHA256(), length=_KEY_BYTES, salt=_HKDF_SALT,
        info=b"tenant:" + validate_tenant_id(tenant_id).encode("ascii"),
    ).derive(master.reveal())


def _lp(text: str) -> bytes:
    raw = text.encode("utf-8")
    return len(raw).to_bytes(2, "big") + raw


def _wrap_aad(fmt: int, tenant_id: str, name: str, version: int) -> bytes:
    return b"arbiter.dek|" + fmt.to_bytes(2, "big") + _lp(tenant_id) + _lp(name) + version.to_bytes(4, "big")


def _payload_aad(fmt: int, tenant_id: str, name: str) -> bytes:
    return b"arbiter.cred|" + fmt.to_bytes(2, "big") + _lp(tenant_id) + _lp(name)


@dataclass(frozen=True, slots=True)
class Envelope:
    """One stored credential. Everything here is safe to print: it is ciphertext and labels."""

    tenant_id: str
    name: str
    key_version: int
    generation: int
    wrap_nonce: bytes
    wrapped_dek: bytes
    nonce: bytes
    ciphertext: bytes
    format: int = ENVELOPE_FORMAT

    def to_json(self) -> str:
        return json.dumps(
            {
                "format": self.format,
                "tenant_id": self.tenant_id,
                "name": self.name,
                "key_version": self.key_version,
                "generation": self.generation,
                "wrap_nonce": _b64(self.wrap_nonce),
                "wrapped_dek": _b64(self.wrapped_dek),
                "nonce": _b64(self.nonce),
                "ciphertext": _b64(self.ciphertext),
            },
            sort_keys=True,
            indent=1,
        )

    @classmethod
    def from_json(cls, text: str) -> Envelope:
        try:
            doc = json.loads(text)
            fmt = int(doc["format"])
            if fmt != ENVELOPE_FORMAT:
                raise CredentialError(f"unsupported envelope format {fmt}")
            return cls(
                tenant_id=str(doc["tenant_id"]),
                name=str(doc["name"]),
                key_version=int(doc["key_version"]),
                generation=int(doc["generation"]),
                wrap_nonce=_unb64(doc["wrap_nonce"], "wrap_nonce"),
                wrapped_dek=_unb64(doc["wrapped_dek"], "wrapped_dek"),
                nonce=_unb64(doc["nonce"], "nonce"),
                ciphertext=_unb64(doc["ciphertext"], "ciphertext"),
                format=fmt,
            )
        except (ValueError, KeyError, TypeError):
            raise CredentialTamperError("envelope is malformed") from None


@dataclass(frozen=True, slots=True)
class CredentialInfo:
    tenant_id: str
    name: str
    key_version: int
    generation: int


@dataclass(frozen=True, slots=True)
class RotationReport:
    old_version: int
    new_version: int
    rewrapped: int
    retired: list[int]


class DirectoryEnvelopeRepo:
    """Envelopes as ``<root>/<tenant>/<name>.json``; writes are atomic renames, reads lock-free.

    Writers (put, delete, rotation) serialize on an advisory ``flock`` so two processes never
    interleave a read-modify-write of the same envelope; readers never take it, so a rotation
    in progress never blocks or fails a read: a reader sees the old or the new file, whole.
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def _path(self, tenant_id: str, name: str) -> Path:
        return self.root / validate_tenant_id(tenant_id) / f"{_check_name(name)}.json"

    def load(self, tenant_id: str, name: str) -> str | None:
        try:
            return self._path(tenant_id, name).read_text(encoding="utf-8")
        except FileNotFoundError:
            return None

    def save(self, tenant_id: str, name: str, text: str) -> None:
        path = self._path(tenant_id, name)
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def delete(self, tenant_id: str, name: str) -> bool:
        try:
            self._path(tenant_id, name).unlink()
        except FileNotFoundError:
            return False
        return True

    def delete_tenant(self, tenant_id: str) -> int:
        folder = self.root / validate_tenant_id(tenant_id)
        count = 0
        for path in folder.glob("*.json"):
            path.unlink(missing_ok=True)
            count += 1
        with contextlib.suppress(OSError):
            folder.rmdir()
        return count

    def names(self, tenant_id: str | None = None) -> list[tuple[str, str]]:
        if not self.root.is_dir():
            return []
        folders = [self.root / validate_tenant_id(tenant_id)] if tenant_id else sorted(self.root.iterdir())
        out: list[tuple[str, str]] = []
        for folder in folders:
            if not folder.is_dir() or not _is_tenant_id(folder.name):
                continue
            out.extend((folder.name, p.stem) for p in sorted(folder.glob("*.json")) if _NAME_RE.match(p.stem))
        return out

    @contextlib.contextmanager
    def write_lock(self) -> Iterator[None]:
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        with open(self.root / ".lock", "a+") as fh:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


KeyRingSource = Callable[[], MasterKeyRing]


class CredentialStore:
    """Put, get, list, rotate and retire tenant credentials.

    ``keyring`` is a loader (usually ``lambda: MasterKeyRing.load(backend)``) so that a process
    which meets an envelope wrapped under a version it has not seen yet (another process just
    rotated) reloads the ring once and carries on: rotation needs no restart anywhere.
    """

    def __init__(self, repo: DirectoryEnvelopeRepo, keyring: KeyRingSource | MasterKeyRing) -> None:
        self._repo = repo
        # A ring given directly (tests, one-process setups) is its own source: rotation updates it.
        self._fixed: MasterKeyRing | None = None
        if isinstance(keyring, MasterKeyRing):
            self._fixed = keyring
            self._loader: KeyRingSource = self._fixed_ring
        else:
            self._loader = keyring
        self._ring_lock = threading.Lock()
        self._ring = self._loader()
        self._write_lock = threading.Lock()
        #: the backend the ring came from, when opened with :meth:`open` (named by :meth:`location`)
        self.backend: SecretsBackend | None = None

    def _fixed_ring(self) -> MasterKeyRing:
        assert self._fixed is not None
        return self._fixed

    def _adopt(self, ring: MasterKeyRing) -> None:
        with self._ring_lock:
            self._ring = ring
            if self._fixed is not None:
                self._fixed = ring

    @classmethod
    def open(cls, root: str | Path, backend: SecretsBackend, *, create: bool = False) -> CredentialStore:
        """The store over ``root`` with the key ring from ``backend`` (created if ``create``)."""
        try:
            MasterKeyRing.load(backend)
        except SecretNotFound:
            if not create:
                raise CredentialError(
                    f"no master key ring in {backend.describe()}; run `arbiter credentials init`"
                ) from None
            MasterKeyRing.generate().save(backend)
        store = cls(DirectoryEnvelopeRepo(root), lambda: MasterKeyRing.load(backend))
        store.backend = backend
        return store

    @property
    def root(self) -> Path:
        return self._repo.root

    def location(self, backend_uri: str | None = None) -> StoreLocation:
        """How another process opens this store: the envelope directory and the backend's URI.

        ``backend_uri`` overrides the URI derived from the backend (e.g. when the actors' nodes
        reach Secrets Manager through another endpoint than this process).
        """
        if backend_uri is None:
            uri = getattr(self.backend, "uri", None)
            if not callable(uri):
                raise CredentialError(
                    "this store's key ring source cannot be named for another process; "
                    "open it with CredentialStore.open or pass backend_uri"
                )
            try:
                backend_uri = str(uri())
            except SecretsBackendError as exc:
                raise CredentialError(str(exc)) from None
        return StoreLocation(str(self._repo.root.absolute()), backend_uri)

    @property
    def keyring(self) -> MasterKeyRing:
        with self._ring_lock:
            return self._ring

    def refresh_keyring(self) -> MasterKeyRing:
        ring = self._loader()
        with self._ring_lock:
            self._ring = ring
        return ring

    def _master(self, version: int) -> Secret:
        try:
            return self.keyring.key(version)
        except UnknownKeyVersion:
            return self.refresh_keyring().key(version)

    # --- encryption -------------------------------------------------------------------------

    def _seal(self, tenant_id: str, name: str, payload: bytes, generation: int) -> Envelope:
        version = self.keyring.current
        holder = [_random.token_bytes(_KEY_BYTES)]  # the DEK, kept out of frame locals' reprs
        nonce = _random.token_bytes(_NONCE_BYTES)
        ciphertext = AESGCM(holder[0]).encrypt(nonce, payload, _payload_aad(ENVELOPE_FORMAT, tenant_id, name))
        wrap_nonce, wrapped = self._wrap(holder.pop(), tenant_id, name, version)
        return Envelope(tenant_id, name, version, generation, wrap_nonce, wrapped, nonce, ciphertext)

    # Raw key bytes are never bound to a local name on a path that can raise: a traceback
    # rendered with locals (pytest --showlocals, crash reporters) must not print them.

    def _wrap(self, dek: bytes, tenant_id: str, name: str, version: int) -> tuple[bytes, bytes]:
        aead = AESGCM(derive_tenant_kek(self._master(version), tenant_id))
        nonce = _random.token_bytes(_NONCE_BYTES)
        return nonce, aead.encrypt(nonce, dek, _wrap_aad(ENVELOPE_FORMAT, tenant_id, name, version))

    def _unwrap(self, env: Envelope, tenant_id: str, name: str) -> bytes:
        aead = AESGCM(derive_tenant_kek(self._master(env.key_version), tenant_id))
        try:
            return aead.decrypt(
                env.wrap_nonce, env.wrapped_dek, _wrap_aad(env.format, tenant_id, name, env.key_version)
            )
        except (InvalidTag, ValueError):
            raise CredentialTamperError(
                f"credential {name!r} of tenant {tenant_id!r} failed authentication (data key)"
            ) from None

    def _open(self, env: Envelope, tenant_id: str, name: str) -> Secret:
        aead = AESGCM(self._unwrap(env, tenant_id, name))
        try:
            return Secret(
                aead.decrypt(env.nonce, env.ciphertext, _payload_aad(env.format, tenant_id, name)),
                f"{tenant_id}/{name}",
            )
        except (InvalidTag, ValueError):
            raise CredentialTamperError(
                f"credential {name!r} of tenant {tenant_id!r} failed authentication (payload)"
            ) from None

    def _read(self, tenant_id: str, name: str) -> Envelope | None:
        text = self._repo.load(tenant_id, name)
        return None if text is None else Envelope.from_json(text)

    # --- public API -------------------------------------------------------------------------

    def put_secret(self, tenant_id: str, name: str, value: Secret) -> CredentialInfo:
        """Encrypt and store ``value``; the AAD uses the *requested* tenant and name."""
        validate_tenant_id(tenant_id)
        _check_name(name)
        with self._write_lock, self._repo.write_lock():
            # A writer must never seal under a version another process already retired.
            self.refresh_keyring()
            old = self._read(tenant_id, name)
            env = self._seal(tenant_id, name, value.reveal(), (old.generation + 1) if old else 1)
            self._repo.save(tenant_id, name, env.to_json())
        return CredentialInfo(tenant_id, name, env.key_version, env.generation)

    def get_secret(self, tenant_id: str, name: str) -> Secret:
        """Decrypt one credential; the envelope must authenticate as (tenant_id, name)."""
        validate_tenant_id(tenant_id)
        _check_name(name)
        for attempt in (1, 2):
            env = self._read(tenant_id, name)
            if env is None:
                raise CredentialNotFound(f"no credential {name!r} for tenant {tenant_id!r}")
            try:
                return self._open(env, tenant_id, name)
            except UnknownKeyVersion:
                # Read an envelope just before a rotation re-wrapped it and retired its version:
                # the file on disk is already re-wrapped, so read it again once.
                if attempt == 2:
                    raise
                self.refresh_keyring()
        raise AssertionError("unreachable")

    def get(self, ref: CredentialRef) -> Secret:
        return self.get_secret(ref.tenant_id, ref.name)

    def delete(self, tenant_id: str, name: str) -> bool:
        with self._write_lock, self._repo.write_lock():
            return self._repo.delete(tenant_id, name)

    def delete_tenant(self, tenant_id: str) -> int:
        with self._write_lock, self._repo.write_lock():
            return self._repo.delete_tenant(tenant_id)

    def list(self, tenant_id: str | None = None) -> list[CredentialInfo]:
        out = []
        for tenant, name in self._repo.names(tenant_id):
            env = self._read(tenant, name)
            if env is not None:
                out.append(CredentialInfo(tenant, name, env.key_version, env.generation))
        return out

    def put_kalshi(self, tenant_id: str, creds: KalshiCredentials, name: str = "kalshi") -> CredentialInfo:
        return self.put_secret(tenant_id, name, _bundle("kalshi", name, {
            "key_id": creds.key_id, "private_key_pem": creds.private_key_pem,
        }))

    def get_kalshi(self, tenant_id: str, name: str = "kalshi") -> KalshiCredentials:
        doc = self._fields(tenant_id, name, "kalshi")
        pem = Secret(doc["private_key_pem"], f"{name}.private_key_pem")
        return KalshiCredentials(str(doc["key_id"]), pem)

    def put_polymarket(
        self, tenant_id: str, creds: PolymarketCredentials, name: str = "polymarket"
    ) -> CredentialInfo:
        return self.put_secret(tenant_id, name, _bundle("polymarket", name, {
            "private_key": creds.private_key, "api_key": creds.api_key, "api_secret": creds.api_secret,
            "passphrase": creds.passphrase, "funder": creds.funder,
            "signature_type": polymarket_signature_type(creds.signature_type, creds.funder),
        }))

    def get_polymarket(self, tenant_id: str, name: str = "polymarket") -> PolymarketCredentials:
        doc = self._fields(tenant_id, name, "polymarket")

        def opt(key: str) -> Secret | None:
            value = doc.get(key)
            return None if value is None else Secret(value, f"{name}.{key}")

        funder = None if doc.get("funder") is None else str(doc["funder"])
        stored = doc.get("signature_type")  # absent in bundles written before it was kept
        if stored is not None and (isinstance(stored, bool) or not isinstance(stored, int)):
            raise CredentialError(f"credential {name!r}: signature_type {stored!r} is not 0-3")
        return PolymarketCredentials(
            Secret(doc["private_key"], f"{name}.private_key"),
            opt("api_key"), opt("api_secret"), opt("passphrase"),
            funder, polymarket_signature_type(stored, funder),
        )

    def _fields(self, tenant_id: str, name: str, kind: str) -> dict[str, Any]:
        wrong = f"credential {name!r} of tenant {tenant_id!r} is not a {kind} bundle"
        with self.get_secret(tenant_id, name) as secret:
            try:
                doc = json.loads(secret.reveal())
            except ValueError:
                raise CredentialError(wrong) from None
        if not isinstance(doc, dict) or doc.get("kind") != kind:
            del doc  # it may hold secret text; keep it out of the traceback's locals
            raise CredentialError(wrong)
        return doc

    # --- rotation ---------------------------------------------------------------------------

    def rotate(
        self,
        publish: Callable[[MasterKeyRing], None],
        *,
        retire_old: bool = False,
        on_rewrapped: Callable[[CredentialInfo], None] | None = None,
    ) -> RotationReport:
        """Add a master key version, re-wrap every data key under it, optionally retire the rest.

        ``publish`` persists a new ring (``ring.save(backend)``); it is called with the grown ring
        *before* any envelope changes, so every reader can already load the version it is about
        to meet. Each envelope is replaced atomically; readers never see a half-rotated file.
        """
        with self._write_lock, self._repo.write_lock():
            ring = self.refresh_keyring()
            old_version = ring.current
            grown = ring.with_new_version()
            publish(grown)
            self._adopt(grown)
            count = 0
            for tenant, name in self._repo.names():
                env = self._read(tenant, name)
                if env is None or env.key_version == grown.current:
                    continue
                dek = self._unwrap(env, tenant, name)
                wrap_nonce, wrapped = self._wrap(dek, tenant, name, grown.current)
                new = Envelope(
                    tenant, name, grown.current, env.generation,
                    wrap_nonce, wrapped, env.nonce, env.ciphertext,
                )
                self._repo.save(tenant, name, new.to_json())
                count += 1
                if on_rewrapped is not None:
                    on_rewrapped(CredentialInfo(tenant, name, new.key_version, new.generation))
            retired: list[int] = []
            if retire_old:
                final = grown
                for version in grown.versions:
                    if version != grown.current:
                        final = final.without(version)
                        retired.append(version)
                if retired:
                    publish(final)
                    self._adopt(final)
        return RotationReport(old_version, grown.current, count, retired)

    def retire(self, version: int, publish: Callable[[MasterKeyRing], None]) -> MasterKeyRing:
        """Drop one old master key version; refuses while any envelope still uses it."""
        with self._write_lock, self._repo.write_lock():
            ring = self.refresh_keyring()
            users = [i for i in self.list() if i.key_version == version]
            if users:
                raise KeyVersionInUse(f"master key version {version} still wraps {len(users)} credential(s)")
            smaller = ring.without(version)
            publish(smaller)
            self._adopt(smaller)
            return smaller

    def __repr__(self) -> str:
        return f"CredentialStore(root={str(self._repo.root)!r}, keyring={self.keyring!r})"


def _bundle(kind: str, name: str, fields: dict[str, Secret | str | int | None]) -> Secret:
    """JSON of the fields, built inside one expression so no plaintext copy is left in a local."""
    return Secret(
        json.dumps(
            {"kind": kind, **{k: v.reveal_str() if isinstance(v, Secret) else v for k, v in fields.items()}}
        ),
        name,
    )


# --- adapters to the venue clients (kept here so venue packages never see envelopes) ---------


def kalshi_signer(creds: KalshiCredentials) -> Any:
    """A ``arbiter.venues.kalshi.signing.Signer`` for these credentials."""
    from arbiter.venues.kalshi.signing import Signer, load_private_key

    key = load_private_key(creds.private_key_pem.reveal(), source=f"Kalshi key {creds.key_id}")
    return Signer(creds.key_id, key)


def polymarket_signature_type(stated: int | None, funder: str | None) -> int:
    """The order signature type of a stored wallet: the stated one (0-3), checked, or the
    documented default of ``POLYMARKET_SIGNATURE_TYPE`` when none was stated (2 with a funder,
    else 0; ``arbiter/venues/polymarket/auth.py``). Proxy, Safe and deposit-wallet types (1-3)
    sign for a wallet, so they need the funder (for 3, the deposit wallet itself)."""
    from arbiter.venues.polymarket.constants import SIG_EOA, SIG_POLY_1271, SIG_POLY_GNOSIS_SAFE

    if stated is None:
        return SIG_POLY_GNOSIS_SAFE if funder else SIG_EOA
    if not SIG_EOA <= stated <= SIG_POLY_1271:
        raise CredentialError(f"Polymarket signature type {stated} is not 0, 1, 2 or 3")
    if stated != SIG_EOA and not funder:
        raise CredentialError(
            f"Polymarket signature type {stated} signs for a wallet: the funder (the proxy, "
            "Safe or deposit wallet address) is required"
        )
    return stated


def polymarket_venue_credentials(creds: PolymarketCredentials, chain_id: int | None = None) -> Any:
    """A ``arbiter.venues.polymarket.auth.PolymarketCredentials`` for these credentials."""
    from arbiter.venues.polymarket import auth
    from arbiter.venues.polymarket.signing import Signer

    signer = Signer(creds.private_key.reveal_str())
    api = None
    if creds.api_key and creds.api_secret and creds.passphrase:
        api = auth.ApiCreds(
            creds.api_key.reveal_str(), creds.api_secret.reveal_str(), creds.passphrase.reveal_str()
        )
    sig_type = polymarket_signature_type(creds.signature_type, creds.funder)
    kwargs: dict[str, Any] = {}
    if chain_id is not None:
        kwargs["chain_id"] = chain_id
    return auth.PolymarketCredentials(signer, creds.funder, sig_type, api, **kwargs)


# --- references to key material: what crosses process (Ray) boundaries ------------------------


@dataclass(frozen=True, slots=True)
class StoreLocation:
    """Where a process finds the envelopes and the master key ring: a directory and a secrets
    backend URI (``file:/dir``, ``env:PREFIX_``, ``aws:?prefix=..&region=..&endpoint=..``).

    Both name places, neither holds a key: the ring is read from the backend by the process that
    opens the store, so the directory must be visible there and the backend reachable from it.
    """

    root: str
    backend: str

    def open(self) -> CredentialStore:
        try:
            return CredentialStore.open(self.root, backend_from_uri(self.backend))
        except SecretsBackendError as exc:
            raise CredentialUnavailable(f"credential store {self.root}: {exc}") from None


@dataclass(frozen=True, slots=True)
class StoreKey:
    """One field of a credential bundle in the encrypted store (``kalshi``.``private_key_pem``)."""

    store: StoreLocation
    tenant_id: str
    name: str
    kind: str
    field: str
    #: an absent (or null) field resolves to None instead of failing (the Polymarket L2 triple)
    optional: bool = False

    @property
    def label(self) -> str:
        return f"{self.tenant_id}/{self.name}.{self.field}"


@dataclass(frozen=True, slots=True)
class FileKey:
    """A file holding one key (a PEM, a hex wallet key); the path is absolute, symlinks kept
    unresolved so a mounted secret that is swapped by symlink (Kubernetes) is followed."""

    path: str
    label: str

    def __post_init__(self) -> None:
        if not Path(self.path).is_absolute():
            raise CredentialError(f"{self.label}: key file path {self.path!r} must be absolute")


@dataclass(frozen=True, slots=True)
class TomlKey:
    """A value written inline in the engine config file: ``key`` of its ``[[tenant]]`` number
    ``index`` (0-based), which must still be named ``tenant`` when it is read."""

    path: str
    index: int
    tenant: str
    key: str

    @property
    def label(self) -> str:
        return f"[[tenant]] {self.tenant!r} {self.key}"


KeySource = FileKey | TomlKey | StoreKey


def _read_file_key(source: FileKey) -> Secret:
    try:
        return Secret(Path(source.path).read_bytes().strip(), source.label)
    except OSError as exc:
        raise CredentialUnavailable(
            f"{source.label}: cannot read key file {source.path}: {exc.strerror}"
        ) from None


def _read_toml_key(source: TomlKey) -> Secret:
    where = f"{source.label} in {source.path}"
    try:
        doc = tomllib.loads(Path(source.path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise CredentialUnavailable(f"{where}: cannot read the config: {exc.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError):
        raise CredentialUnavailable(f"{where}: the config is no longer valid TOML") from None
    tenants = doc.get("tenant")
    entry = tenants[source.index] if isinstance(tenants, list) and 0 <= source.index < len(tenants) else None
    if not isinstance(entry, dict) or str(entry.get("name", f"tenant{source.index + 1}")) != source.tenant:
        raise CredentialUnavailable(f"{where}: the config changed since it was loaded (tenant not found)")
    if not isinstance(entry.get(source.key), str) or not entry[source.key]:
        raise CredentialUnavailable(f"{where}: missing or not a string")
    return Secret(entry.pop(source.key), f"{source.tenant}.{source.key}")


def resolve_keys(sources: Sequence[KeySource]) -> list[Secret | None]:
    """Read the referenced keys, in this process; None only for an absent optional store field.

    Call this where the key is used (building a signer) and wipe the results once built. Store
    references to the same store and bundle share one store open and one decryption. Failures
    are :class:`CredentialError` subclasses naming the reference, never carrying key material:
    :class:`CredentialUnavailable` (file, backend), :class:`CredentialTamperError`,
    :class:`CredentialNotFound`, :class:`UnknownKeyVersion`.
    """
    stores: dict[StoreLocation, CredentialStore] = {}
    bundles: dict[tuple[StoreLocation, str, str, str], dict[str, Any]] = {}
    out: list[Secret | None] = []
    try:
        for source in sources:
            if isinstance(source, FileKey):
                out.append(_read_file_key(source))
            elif isinstance(source, TomlKey):
                out.append(_read_toml_key(source))
            else:
                if source.store not in stores:
                    stores[source.store] = source.store.open()
                bundle_key = (source.store, source.tenant_id, source.name, source.kind)
                if bundle_key not in bundles:
                    store = stores[source.store]
                    bundles[bundle_key] = store._fields(source.tenant_id, source.name, source.kind)
                if not isinstance(bundles[bundle_key].get(source.field), str):
                    if source.optional:
                        out.append(None)
                        continue
                    raise CredentialNotFound(f"credential {source.label} is absent")
                out.append(Secret(bundles[bundle_key][source.field], source.label))
        return out
    except BaseException:
        for secret in out:
            if secret is not None:
                secret.wipe()
        raise
    finally:
        # The decrypted bundles are plain dicts of str: drop them before anything else runs.
        for bundle in bundles.values():
            bundle.clear()
        bundles.clear()
