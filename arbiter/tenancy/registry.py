"""The live registry of tenants, with add/remove hooks the engine follows to start and stop one
tenant (``Arbiter.follow``; the tenant's rate-limit budget comes with its start,
:func:`arbiter.app.build.limiter_for`).
Tenant ids, tiers and limits are :mod:`arbiter.core.accounts`.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable

from arbiter.core.accounts import TenancyError, UserContext

__all__ = [
    "TenantRegistry",
]

TenantCallback = Callable[[UserContext], None]


class TenantRegistry:
    """The live set of tenants, with hooks so the engine can follow adds and removes.

    Callbacks run synchronously after the change, outside the lock, in subscription order. If an
    ``on_add`` callback fails the tenant is taken out again (already-run add callbacks get the
    matching ``on_remove``) and the error propagates: a tenant is either fully started or absent.
    """

    def __init__(self, tenants: list[UserContext] | None = None) -> None:
        self._lock = threading.RLock()
        self._tenants: dict[str, UserContext] = {}
        self._on_add: list[TenantCallback] = []
        self._on_remove: list[TenantCallback] = []
        for ctx in tenants or []:
            self._tenants[ctx.tenant_id] = ctx

    def subscribe(
        self, on_add: TenantCallback | None = None, on_remove: TenantCallback | None = None,
        *, replay: bool = True,
    ) -> None:
        """Register hooks; with ``replay`` the current tenants are announced to ``on_add`` at once."""
        with self._lock:
            if on_add is not None:
                self._on_add.append(on_add)
            if on_remove is not None:
                self._on_remove.append(on_remove)
            current = list(self._tenants.values())
        if on_add is not None and replay:
            for ctx in current:
                on_add(ctx)

    def add(self, ctx: UserContext) -> None:
        with self._lock:
            if ctx.tenant_id in self._tenants:
                raise TenancyError(f"tenant {ctx.tenant_id!r} already exists")
            self._tenants[ctx.tenant_id] = ctx
            hooks = list(self._on_add)
            undo = list(self._on_remove)
        done = 0
        try:
            for hook in hooks:
                hook(ctx)
                done += 1
        except BaseException:
            with self._lock:
                self._tenants.pop(ctx.tenant_id, None)
            if done:
                for hook in undo:
                    # Best effort: the add already failed and that error is what propagates.
                    with contextlib.suppress(Exception):
                        hook(ctx)
            raise

    def remove(self, tenant_id: str) -> UserContext:
        with self._lock:
            ctx = self._tenants.pop(tenant_id, None)
            hooks = list(self._on_remove)
        if ctx is None:
            raise TenancyError(f"unknown tenant {tenant_id!r}")
        for hook in hooks:
            hook(ctx)
        return ctx

    def get(self, tenant_id: str) -> UserContext:
        with self._lock:
            ctx = self._tenants.get(tenant_id)
        if ctx is None:
            raise TenancyError(f"unknown tenant {tenant_id!r}")
        return ctx

    def __contains__(self, tenant_id: object) -> bool:
        with self._lock:
            return tenant_id in self._tenants

    def list(self) -> list[UserContext]:
        with self._lock:
            return sorted(self._tenants.values(), key=lambda c: c.tenant_id)

    def __len__(self) -> int:
        with self._lock:
            return len(self._tenants)
