"""JWT bearer tokens for the control API: who is calling (tenant) and what they may do (role).

Keys are identified by ``kid`` so they can rotate without a flag day: the signing key is the
``active`` one, every key still listed verifies, and retiring a key (deleting it from the set)
invalidates the tokens it signed. Each key pins its algorithm, and verification only accepts that
algorithm for that kid, so a token cannot pick a weaker algorithm (or "none") for itself.
"""

from __future__ import annotations

import json
import secrets
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import jwt

from arbiter.core.accounts import TenancyError, validate_tenant_id

__all__ = ["ADMIN", "AuthError", "Key", "KeySet", "Principal", "Role"]

ISSUER = "arbiter-control"
AUDIENCE = "arbiter-control"


class Role(StrEnum):
    #: read-only view of one tenant
    VIEWER = "viewer"
    #: operate one tenant: pause, resume, kill switch, cancel orders, limits
    OPERATOR = "operator"
    #: every tenant, global actions
    ADMIN = "admin"


ADMIN = Role.ADMIN


class AuthError(Exception):
    """A token that must be refused; ``str()`` is safe to return to the caller."""


@dataclass(frozen=True, slots=True)
class Principal:
    subject: str
    tenant: str
    role: Role
    expires: int

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN

    def can_operate(self) -> bool:
        return self.role in (Role.OPERATOR, Role.ADMIN)

    def may_see(self, tenant: str) -> bool:
        return self.is_admin or tenant == self.tenant


@dataclass(frozen=True, slots=True)
class Key:
    kid: str
    alg: str
    #: HMAC secret, or a PEM private key (for signing) / public key (verify only)
    signing: str | bytes | None
    verifying: str | bytes

    @staticmethod
    def hmac(kid: str, secret: str | None = None) -> Key:
        value = secret or secrets.token_urlsafe(32)
        return Key(kid, "HS256", value, value)


@dataclass(slots=True)
class KeySet:
    keys: dict[str, Key] = field(default_factory=dict)
    active: str | None = None
    #: seconds of clock skew tolerated on ``exp``/``iat``
    leeway: int = 5

    def add(self, key: Key, activate: bool = True) -> None:
        self.keys[key.kid] = key
        if activate:
            self.active = key.kid

    def retire(self, kid: str) -> None:
        self.keys.pop(kid, None)
        if self.active == kid:
            self.active = None

    def issue(self, subject: str, tenant: str, role: Role, ttl_s: int, now_s: int) -> str:
        if self.active is None:
            raise AuthError("no active signing key")
        key = self.keys[self.active]
        if key.signing is None:
            raise AuthError(f"key {key.kid} can only verify")
        claims = {
            "sub": subject, "tenant": tenant, "role": role.value, "iss": ISSUER, "aud": AUDIENCE,
            "iat": now_s, "nbf": now_s, "exp": now_s + ttl_s, "jti": uuid.uuid4().hex,
        }
        return jwt.encode(claims, key.signing, algorithm=key.alg, headers={"kid": key.kid})

    def verify(self, token: str, now_s: int | None = None) -> Principal:
        """Decode and check signature, kid, issuer, audience, expiry and the claims' shape."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise AuthError(f"malformed token: {exc}") from None
        kid = header.get("kid")
        key = self.keys.get(kid) if isinstance(kid, str) else None
        if key is None:
            raise AuthError(f"unknown key id {kid!r}")
        options: Any = {"require": ["exp", "iat", "sub", "aud", "iss"]}
        try:
            if now_s is None:
                claims = jwt.decode(token, key.verifying, algorithms=[key.alg], audience=AUDIENCE,
                                    issuer=ISSUER, leeway=self.leeway, options=options)
            else:
                # an explicit clock (tests, replay): check times ourselves against it
                options["verify_exp"] = False
                options["verify_nbf"] = False
                options["verify_iat"] = False
                claims = jwt.decode(token, key.verifying, algorithms=[key.alg], audience=AUDIENCE,
                                    issuer=ISSUER, options=options)
                if int(claims["exp"]) + self.leeway <= now_s:
                    raise jwt.ExpiredSignatureError("Signature has expired")
        except jwt.ExpiredSignatureError:
            raise AuthError("token expired") from None
        except jwt.InvalidSignatureError:
            raise AuthError("bad token signature") from None
        except jwt.PyJWTError as exc:
            raise AuthError(f"invalid token: {exc}") from None
        tenant, role = claims.get("tenant"), claims.get("role")
        if not isinstance(tenant, str) or not tenant:
            raise AuthError("token has no tenant claim")
        try:
            validate_tenant_id(tenant)
        except TenancyError:
            raise AuthError(f"invalid tenant claim {tenant!r}") from None
        try:
            parsed_role = Role(str(role))
        except ValueError:
            raise AuthError(f"unknown role {role!r}") from None
        return Principal(str(claims["sub"]), tenant, parsed_role, int(claims["exp"]))

    # -- persistence ----------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        def text(value: str | bytes | None) -> str | None:
            return value.decode() if isinstance(value, bytes) else value

        return {"active": self.active, "keys": [
            {"kid": k.kid, "alg": k.alg, "signing": text(k.signing), "verifying": text(k.verifying)}
            for k in self.keys.values()
        ]}

    @staticmethod
    def from_json(data: Mapping[str, Any]) -> KeySet:
        ks = KeySet()
        for item in data.get("keys", []):
            alg = str(item["alg"])
            if alg == "none":
                raise AuthError("algorithm 'none' is not allowed")
            verifying = item.get("verifying") or item.get("signing")
            if not verifying:
                raise AuthError(f"key {item.get('kid')!r} has no key material")
            ks.add(Key(str(item["kid"]), alg, item.get("signing"), verifying), activate=False)
        active = data.get("active")
        if active is not None and active not in ks.keys:
            raise AuthError(f"active key {active!r} is not in the key set")
        ks.active = active
        return ks

    @staticmethod
    def load(path: Path) -> KeySet:
        try:
            return KeySet.from_json(json.loads(path.read_text()))
        except (OSError, ValueError, KeyError) as exc:
            raise AuthError(f"cannot read key set {path}: {exc}") from None
