"""Types that hold secret material and refuse to show it.

A secret reaches logs through the boring paths: an f-string in a log line, a dataclass repr in an
exception, a traceback's locals, a pickled object in a Ray task spec. Every one of those goes
through ``repr``/``str``/``format``/``__reduce__``, so :class:`Secret` answers all of them with a
fixed placeholder and the only way to the bytes is the explicit, greppable :meth:`Secret.reveal`.

The bytes live in a ``bytearray`` so :meth:`Secret.wipe` can overwrite them once the holder is
done (Python may still have copied them elsewhere, e.g. when the caller built a ``str``; wiping
shortens the window, it does not promise erasure).
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, NoReturn

__all__ = [
    "REDACTED",
    "KalshiCredentials",
    "PolymarketCredentials",
    "Secret",
    "SecretWiped",
]

#: What every secret prints as, whatever the formatting path.
REDACTED = "<redacted>"


class SecretWiped(RuntimeError):
    """The secret was wiped; reading it again is a bug in the holder's lifetime handling."""


class Secret:
    """Opaque secret bytes: never printed, never pickled, compared in constant time."""

    __slots__ = ("_buf", "_label", "_wiped")

    def __init__(self, value: bytes | bytearray | str, label: str = "secret") -> None:
        raw = value.encode("utf-8") if isinstance(value, str) else bytes(value)
        self._buf = bytearray(raw)
        self._label = label
        self._wiped = False

    @property
    def label(self) -> str:
        """A non-secret name for messages (``"kalshi.private_key"``), never the value."""
        return self._label

    def reveal(self) -> bytes:
        """The secret bytes. Call sites of this method are the audit list for secret use."""
        if self._wiped:
            raise SecretWiped(f"secret {self._label!r} was wiped")
        return bytes(self._buf)

    def reveal_str(self) -> str:
        return self.reveal().decode("utf-8")

    def wipe(self) -> None:
        """Overwrite the held bytes; later :meth:`reveal` calls raise :class:`SecretWiped`."""
        for i in range(len(self._buf)):
            self._buf[i] = 0
        self._buf = bytearray()
        self._wiped = True

    @property
    def wiped(self) -> bool:
        return self._wiped

    def __enter__(self) -> Secret:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.wipe()

    def __repr__(self) -> str:
        return f"Secret({self._label}={REDACTED})"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return repr(self)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self.reveal(), other.reveal())

    # Equal secrets must not be usable as dict keys: a hash would leak equality cheaply.
    __hash__ = None  # type: ignore[assignment]

    def __reduce__(self) -> NoReturn:
        raise TypeError(
            f"Secret {self._label!r} cannot be pickled; pass a CredentialRef and decrypt where it is used"
        )

    def __reduce_ex__(self, protocol: Any) -> NoReturn:
        self.__reduce__()

    def __copy__(self) -> Secret:
        return Secret(self.reveal(), self._label)

    def __deepcopy__(self, memo: dict[int, Any]) -> Secret:
        return self.__copy__()


@dataclass(frozen=True, slots=True)
class KalshiCredentials:
    """One Kalshi account: the key id is sent in every request header, so it is not secret."""

    key_id: str
    private_key_pem: Secret = field(repr=False)

    def wipe(self) -> None:
        self.private_key_pem.wipe()


@dataclass(frozen=True, slots=True)
class PolymarketCredentials:
    """One Polymarket wallet plus its optional L2 API triple (all but nothing is public)."""

    private_key: Secret = field(repr=False)
    api_key: Secret | None = field(default=None, repr=False)
    api_secret: Secret | None = field(default=None, repr=False)
    passphrase: Secret | None = field(default=None, repr=False)
    funder: str | None = None
    #: the order ``signatureType`` (0 EOA, 1 proxy, 2 Safe, 3 deposit wallet); None = not stated,
    #: read as ``POLYMARKET_SIGNATURE_TYPE``'s documented default (2 with a funder, else 0)
    signature_type: int | None = None

    def wipe(self) -> None:
        for s in (self.private_key, self.api_key, self.api_secret, self.passphrase):
            if s is not None:
                s.wipe()
