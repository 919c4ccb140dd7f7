"""Which tenant takes an opportunity several tenants could take (ADR 0147).

One opportunity is the liquidity the books show *now*. Splitting it between tenants would send
several first legs into the same levels (the later ones find them gone, or pay more fees: a
Kalshi fee is rounded up per order) and put a per-tenant minimum size under each piece; handing
the whole of it to every tenant would have them race each other for it. So each opportunity goes
**whole to one tenant**, and fairness is kept over the stream of opportunities by **start-time
fair queuing** (SFQ, Goyal, Vin & Cheng, "Start-time Fair Queuing", SIGCOMM 1996) on the
contracts allotted, weighted by the tenants' ``TierLimits.fair_share_weight``:

- every tenant has a virtual tag ``served / weight`` (contracts over weight);
- an opportunity is offered to the eligible tenants in order of their tag (ties: tenant id), and
  the first that accepts it (its own risk book admits it) is charged its size: its tag moves on
  by ``size / weight``;
- a tenant that was not eligible (paused, killed, benched, busy, not trading the pair) banks no
  credit: its tag is raised to the system's virtual time (the tag of the last allotment), as SFQ
  does for a flow that was idle. A tenant therefore never gets a burst after a pause.

The bound (SFQ's fairness theorem): over any stretch in which tenants *i* and *j* are both
eligible for every opportunity, ``|served_i / w_i - served_j / w_j| <= S / w_i + S / w_j``, *S*
being the largest opportunity so far (one allotted before the stretch may still count in it).
Tags are exact: integers in units of ``1 / L``, *L* the least common multiple of the weights
(no float drift, no rounding, and integer compares on the tick path); the state is a few
numbers per tenant and the order is a pure function of it: two engines fed the same opportunities allot them
identically.

:class:`Bench` is the other half of isolation: a tenant whose venue refused its credentials or
whose saga stalled is taken out of the rotation for a backoff that doubles per strike, so the
others get its turns instead of watching it fail them. Time is an argument (``now_ns``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction
from math import lcm

__all__ = ["AllocationError", "Bench", "FairShare", "Strike"]


class AllocationError(ValueError):
    """A bad weight, a duplicate or unknown tenant: the rotation is left as it was."""


class FairShare:
    """Start-time fair queuing of opportunities over tenants, by contracts allotted."""

    def __init__(self) -> None:
        self._weight: dict[str, int] = {}
        #: finish tags, in units of 1 / ``_scale`` (served / weight, exactly)
        self._tag: dict[str, int] = {}
        #: a common multiple of every weight seen, so ``size * _scale // weight`` is exact
        self._scale = 1
        #: contracts (core size units) allotted to each tenant since it joined
        self.served: dict[str, int] = {}
        #: opportunities allotted to each tenant since it joined
        self.allotted: dict[str, int] = {}
        #: the system virtual time: the start tag of the latest allotment
        self._vtime = 0

    def __contains__(self, tenant: object) -> bool:
        return tenant in self._weight

    @property
    def tenants(self) -> list[str]:
        return list(self._weight)

    def weight(self, tenant: str) -> int:
        return self._weight[tenant]

    def add(self, tenant: str, weight: int) -> None:
        """A tenant joins at the current virtual time: no credit for the time it was away."""
        if tenant in self._weight:
            raise AllocationError(f"tenant {tenant!r} is already in the rotation")
        self._rescale(_positive(weight, tenant))
        self._weight[tenant] = weight
        self._tag[tenant] = self._vtime
        self.served[tenant] = 0
        self.allotted[tenant] = 0

    def set_weight(self, tenant: str, weight: int) -> None:
        """A tier change: the new weight counts from the next allotment on."""
        if tenant not in self._weight:
            raise AllocationError(f"unknown tenant {tenant!r}")
        self._rescale(_positive(weight, tenant))
        self._weight[tenant] = weight

    def _rescale(self, weight: int) -> None:
        """Grow the common multiple to cover ``weight``; every tag is scaled alike (exact)."""
        scale = lcm(self._scale, weight)
        if scale != self._scale:
            factor = scale // self._scale
            self._tag = {t: tag * factor for t, tag in self._tag.items()}
            self._vtime *= factor
            self._scale = scale

    def remove(self, tenant: str) -> None:
        if tenant not in self._weight:
            raise AllocationError(f"unknown tenant {tenant!r}")
        for table in (self._weight, self._tag, self.served, self.allotted):
            del table[tenant]

    def start_tag(self, tenant: str) -> Fraction:
        """Where ``tenant`` stands if it is eligible now (its tag, never behind the system), in
        contracts per unit of weight."""
        return Fraction(self._start(tenant), self._scale)

    def _start(self, tenant: str) -> int:
        tag = self._tag[tenant]
        return tag if tag >= self._vtime else self._vtime

    def rank(self, eligible: Iterable[str]) -> list[str]:
        """The eligible tenants in the order the opportunity is offered to them."""
        known = [t for t in eligible if t in self._weight]
        return sorted(known, key=lambda t: (self._start(t), t))

    def charge(self, tenant: str, size: int) -> None:
        """``tenant`` took an opportunity of ``size`` contracts (core size units)."""
        if tenant not in self._weight:
            raise AllocationError(f"unknown tenant {tenant!r}")
        if size < 0:
            raise AllocationError(f"negative size {size}")
        start = self._start(tenant)
        self._vtime = start
        self._tag[tenant] = start + size * (self._scale // self._weight[tenant])
        self.served[tenant] += size
        self.allotted[tenant] += 1

    def share(self, tenant: str) -> Fraction:
        """``served / weight``: the normalised service SFQ keeps level between tenants."""
        return Fraction(self.served[tenant], self._weight[tenant])


def _positive(weight: int, tenant: str) -> int:
    if isinstance(weight, bool) or not isinstance(weight, int) or weight <= 0:
        raise AllocationError(f"weight of {tenant!r} must be a positive integer, got {weight!r}")
    return weight


@dataclass(frozen=True, slots=True)
class Strike:
    """Why a tenant is out of the rotation, and until when."""

    reason: str
    until_ns: int
    strikes: int
    #: when the latest strike was given
    at_ns: int = 0


class Bench:
    """Tenants out of the rotation for a while: bad credentials, a stalled venue.

    Each strike doubles the time out (``base_ns`` · 2^(strikes-1), at most ``max_ns``); a
    saga that completes with no strike during it clears the record. While benched a tenant is
    simply not offered opportunities: its open sagas, its journal and the other tenants carry on.
    """

    def __init__(self, base_ns: int = 5_000_000_000, max_ns: int = 600_000_000_000) -> None:
        if base_ns <= 0 or max_ns < base_ns:
            raise AllocationError("bench: need 0 < base_ns <= max_ns")
        self.base_ns = base_ns
        self.max_ns = max_ns
        self._out: dict[str, Strike] = {}

    def strike(self, tenant: str, reason: str, now_ns: int) -> Strike:
        last = self._out.get(tenant)
        strikes = 1 if last is None else last.strikes + 1
        hold = min(self.max_ns, self.base_ns << min(strikes - 1, 40))
        out = Strike(reason, now_ns + hold, strikes, now_ns)
        self._out[tenant] = out
        return out

    def benched(self, tenant: str, now_ns: int) -> str | None:
        """The reason ``tenant`` is out of the rotation at ``now_ns``, or None."""
        out = self._out.get(tenant)
        if out is None or now_ns >= out.until_ns:
            return None
        return out.reason

    def clear(self, tenant: str) -> bool:
        """A clean saga (or an operator) ends the record; True if there was one."""
        return self._out.pop(tenant, None) is not None

    def record(self, tenant: str) -> Strike | None:
        return self._out.get(tenant)
