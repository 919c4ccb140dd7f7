"""Kalshi request signing (venues.md §1.2-1.3), used by our client *and* the local Kalshi.

Two key types sign the same pre-sign text (kalshi-python-sync 3.34.0 ``auth.py`` and
``models/api_key_type.py``): RSA keys with RSA-PSS over SHA-256 (salt = digest length), Ed25519
keys with Ed25519 (RFC 8032), "with lower client-side signing cost". The key type is read from
the PEM, as the SDK does.

One module signs and verifies so the simulator's verifier and the client's signer cannot drift
apart; the test vectors in ``venue-vectors.json`` pin both to what the official SDK produces.
The signed string is ``timestamp_ms + METHOD + path`` where ``path`` is the URL path *as sent*
(percent-encoding intact, ``/trade-api/v2`` prefix included, query excluded).
"""

from __future__ import annotations

import base64
import binascii
import time
from pathlib import Path
from typing import Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey

__all__ = [
    "HEADER_KEY",
    "HEADER_SIGNATURE",
    "HEADER_TIMESTAMP",
    "KeyFileError",
    "PresignedHeaders",
    "PrivateKey",
    "PublicKey",
    "Signer",
    "load_private_key",
    "load_public_key",
    "sign_message",
    "signing_path",
    "verify_message",
]

HEADER_KEY: Final = "KALSHI-ACCESS-KEY"
HEADER_TIMESTAMP: Final = "KALSHI-ACCESS-TIMESTAMP"
HEADER_SIGNATURE: Final = "KALSHI-ACCESS-SIGNATURE"

#: SHA-256 digest length: the venue's salt length (the SDK's ``PSS.DIGEST_LENGTH``).
SALT_LENGTH: Final = 32


#: an API key's private half: RSA (signs RSA-PSS) or Ed25519
PrivateKey = RSAPrivateKey | Ed25519PrivateKey
PublicKey = RSAPublicKey | Ed25519PublicKey


def _pss() -> padding.PSS:
    return padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=SALT_LENGTH)


class KeyFileError(ValueError):
    """A key file that is missing, unreadable, encrypted or of another type; never echoes key
    bytes."""


def load_private_key(pem: bytes | str, source: str = "private key") -> PrivateKey:
    """Unencrypted PEM: RSA (PKCS#1 or PKCS#8) or Ed25519 (PKCS#8), what the SDK accepts."""
    data = pem.encode() if isinstance(pem, str) else pem
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        # The message from cryptography never includes key material, but keep ours generic.
        raise KeyFileError(f"{source} is not an unencrypted PEM private key ({type(exc).__name__})") from None
    if not isinstance(key, RSAPrivateKey | Ed25519PrivateKey):
        raise KeyFileError(f"{source} is neither an RSA nor an Ed25519 key")
    return key


def load_private_key_file(path: str | Path) -> PrivateKey:
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise KeyFileError(f"cannot read private key file {p}: {exc.strerror}") from None
    return load_private_key(data, f"private key file {p}")


def load_public_key(pem: bytes | str, source: str = "public key") -> PublicKey:
    data = pem.encode() if isinstance(pem, str) else pem
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError):
        raise KeyFileError(f"{source} is not a PEM public key") from None
    if not isinstance(key, RSAPublicKey | Ed25519PublicKey):
        raise KeyFileError(f"{source} is neither an RSA nor an Ed25519 key")
    return key


def signing_path(url_or_path: str) -> str:
    """The part of a URL that gets signed: the raw path, no scheme/host/query/fragment."""
    rest = url_or_path
    if "://" in rest:
        rest = rest.split("://", 1)[1]
        slash = rest.find("/")
        rest = rest[slash:] if slash >= 0 else "/"
    for sep in ("?", "#"):
        rest = rest.split(sep, 1)[0]
    return rest


def sign_message(key: PrivateKey, timestamp_ms: int | str, method: str, path: str) -> str:
    message = f"{timestamp_ms}{method.upper()}{path}".encode()
    if isinstance(key, Ed25519PrivateKey):
        return base64.b64encode(key.sign(message)).decode("ascii")
    return base64.b64encode(key.sign(message, _pss(), hashes.SHA256())).decode("ascii")


def verify_message(
    key: PublicKey, timestamp_ms: str, method: str, path: str, signature_b64: str
) -> bool:
    """Strict check: standard base64; RSA: PSS salt 32, SHA-256; Ed25519: RFC 8032; the
    timestamp string as received."""
    try:
        signature = base64.b64decode(signature_b64.encode("ascii"), validate=True)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        return False
    message = f"{timestamp_ms}{method.upper()}{path}".encode()
    try:
        if isinstance(key, Ed25519PublicKey):
            key.verify(signature, message)
        else:
            key.verify(signature, message, _pss(), hashes.SHA256())
    except InvalidSignature:
        return False
    return True


class Signer:
    """Holds one key id + private key and produces the three headers for a request."""

    __slots__ = ("_key", "key_id")

    def __init__(self, key_id: str, key: PrivateKey) -> None:
        self.key_id = key_id
        self._key = key

    def __repr__(self) -> str:  # never show key material
        return f"Signer(key_id={self.key_id!r})"

    def headers(self, method: str, path: str, now_ms: int | None = None) -> dict[str, str]:
        ts = int(time.time() * 1000) if now_ms is None else now_ms
        return {
            HEADER_KEY: self.key_id,
            HEADER_TIMESTAMP: str(ts),
            HEADER_SIGNATURE: sign_message(self._key, ts, method, signing_path(path)),
        }


class PresignedHeaders:
    """Headers for one fixed request line, signed before they are needed.

    An RSA-PSS signature costs ~0.75 ms of CPU here, more than everything else between a frame
    and the order leaving the process (an Ed25519 key signs in a few tens of µs, but the
    pre-signing costs nothing either way). Kalshi signs only ``timestamp + METHOD + path`` (not the
    body), so the headers of the order-create endpoint can be made before any order exists and
    used within ``max_age_ms`` of their timestamp. The real venue rejects past skew somewhere
    between 5 and 30 s (venues.md §1.2); 2 s stays far inside that. The owner calls
    :meth:`refresh` off the tick path (a timer) so :meth:`get` normally returns at once;
    a stale or missing set is signed inline, which is only slower.
    """

    __slots__ = ("_headers", "_signed_ms", "inline", "max_age_ms", "method", "path", "signer")

    def __init__(self, signer: Signer, method: str, path: str, max_age_ms: int = 2_000) -> None:
        if max_age_ms <= 0:
            raise ValueError("max_age_ms must be positive")
        self.signer = signer
        self.method = method
        self.path = path
        self.max_age_ms = max_age_ms
        self._headers: dict[str, str] | None = None
        self._signed_ms = 0
        #: signatures made inside :meth:`get` because none was fresh (a refresher that fell behind)
        self.inline = 0

    def __repr__(self) -> str:
        return f"PresignedHeaders({self.method} {self.path}, max_age_ms={self.max_age_ms})"

    def refresh(self, now_ms: int | None = None) -> None:
        now = int(time.time() * 1000) if now_ms is None else now_ms
        self._headers = self.signer.headers(self.method, self.path, now)
        self._signed_ms = now

    def age_ms(self, now_ms: int | None = None) -> int | None:
        """How old the current set is (``None``: none made yet)."""
        if self._headers is None:
            return None
        return (int(time.time() * 1000) if now_ms is None else now_ms) - self._signed_ms

    def get(self, now_ms: int | None = None) -> dict[str, str]:
        now = int(time.time() * 1000) if now_ms is None else now_ms
        headers = self._headers
        # a clock that stepped back makes the age negative: sign anew rather than trust it
        if headers is None or not 0 <= now - self._signed_ms <= self.max_age_ms:
            self.inline += 1
            self.refresh(now)
            headers = self._headers
            assert headers is not None
        return headers
