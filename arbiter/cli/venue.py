"""Operator commands that drive one venue account by hand, plus the local venue simulators.

``arbiter check-connectivity``, ``arbiter order place|cancel|list``, ``arbiter balance``,
``arbiter positions`` and ``arbiter sim VENUE``. The commands are venue-neutral: they speak
:class:`~arbiter.venues.base.ExchangeClient` and find each venue's specifics in one adapter module
listed in :data:`VENUES` (``arbiter.cli.<venue>``, imported explicitly), which provides:

* ``add_arguments(parser)``: the venue's own flags (environment, URL overrides), added to every
  command so ``arbiter order place --venue kalshi --kalshi-demo ...`` reads naturally;
* ``make_client(args) -> ExchangeClient``: credentials from the environment, never from flags;
* ``async check_connectivity(args) -> list[Check]``: the venue's connectivity steps.

Simulators register through :data:`SIM_MODULES` (modules with ``register_sim(subparsers)``).
Adding a venue is one import and one entry in each; a module that fails to import fails the
command line loudly, never by dropping its commands. User mistakes (bad price, missing credentials) end as
one line on stderr with exit 2; venue refusals (auth, unknown market, rejected order) exit 1.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from types import ModuleType
from typing import Any, TypeVar

from arbiter.cli import kalshi as kalshi_cli
from arbiter.cli import polymarket as polymarket_cli
from arbiter.cli import sim_joint, sim_kalshi, sim_polymarket
from arbiter.cli.checks import Check
from arbiter.cli.errors import UsageError
from arbiter.core.book import Outcome
from arbiter.core.units import Money, UnitError, money_str, parse_price, parse_size, price_str, size_str
from arbiter.venues.base import (
    Action,
    DryRunClient,
    ExchangeClient,
    FillReport,
    OrderAck,
    OrderRequest,
    PositionReport,
    TimeInForce,
    VenueError,
    unwrap,
)

__all__ = ["SIM_MODULES", "VENUES", "Check", "register"]

#: venue name -> adapter module (see module docstring)
VENUES: dict[str, ModuleType] = {"kalshi": kalshi_cli, "polymarket": polymarket_cli}

#: venue name -> simulator CLI module exposing ``register_sim(subparsers)``
SIM_MODULES: tuple[ModuleType, ...] = (sim_kalshi, sim_polymarket, sim_joint)

T = TypeVar("T")


def _adapter(venue: str) -> ModuleType:
    try:
        return VENUES[venue]
    except KeyError:
        raise UsageError(f"unknown venue {venue!r} (known: {', '.join(VENUES)})") from None


def _adapters() -> dict[str, ModuleType]:
    return dict(VENUES)


def _common(parser: argparse.ArgumentParser, venue_required: bool = True) -> None:
    parser.add_argument(
        "--venue", choices=sorted(VENUES), required=venue_required,
        help="which venue" + ("" if venue_required else " (default: all)"),
    )
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument(
        "--dry-run", action="store_true",
        help="log orders instead of sending them (reads still go to the venue)",
    )
    for module in _adapters().values():
        module.add_arguments(parser)


def _run(args: argparse.Namespace, work: Callable[[ExchangeClient], Awaitable[T]]) -> T:
    adapter = _adapter(args.venue)

    async def go() -> T:
        try:
            client: ExchangeClient = adapter.make_client(args)
        except ValueError as exc:  # CredentialError, key file problems
            raise UsageError(str(exc)) from None
        if args.dry_run:
            client = DryRunClient(client, emit=lambda text: print(text, file=sys.stderr))
        try:
            return await work(client)
        finally:
            await client.close()

    return asyncio.run(go())


def _venue_error(args: argparse.Namespace, exc: VenueError) -> int:
    if getattr(args, "json", False):
        print(json.dumps({"ok": False, "venue": args.venue, "error": exc.code,
                          "message": exc.message, "status": exc.status}))
    print(f"arbiter: {args.venue}: {exc}", file=sys.stderr)
    return 1


# -- rendering ---------------------------------------------------------------------------------


def _ack_dict(ack: OrderAck) -> dict[str, Any]:
    return {
        "venue": ack.venue, "order_id": ack.order_id, "client_order_id": ack.client_order_id,
        "market": ack.market, "outcome": ack.outcome.value, "side": ack.action.value,
        "price": price_str(ack.price), "size": size_str(ack.size),
        "filled": size_str(ack.filled), "remaining": size_str(ack.remaining),
        "status": ack.status.value,
        "avg_fill_price": price_str(ack.avg_fill_price) if ack.avg_fill_price else None,
        "fees": money_str(ack.fees), "simulated": ack.simulated,
    }


def _ack_line(ack: OrderAck) -> str:
    dry = " (dry run)" if ack.simulated else ""
    return (
        f"{ack.order_id}  {ack.status.value:<8} {ack.action.value} {size_str(ack.size)} "
        f"{ack.market} {ack.outcome.value} @ {price_str(ack.price)}  filled {size_str(ack.filled)}"
        f" remaining {size_str(ack.remaining)}{dry}"
    )


def _position_dict(p: PositionReport) -> dict[str, Any]:
    d: dict[str, Any] = {"venue": p.venue, "market": p.market, "outcome": p.outcome.value,
                         "size": size_str(p.size)}
    for name in ("cost", "realized_pnl", "fees_paid"):
        value = getattr(p, name)
        d[name] = money_str(value) if value is not None else None
    return d


def _fill_dict(f: FillReport) -> dict[str, Any]:
    return {"fill_id": f.fill_id, "order_id": f.order_id, "market": f.market,
            "outcome": f.outcome.value, "side": f.action.value, "price": price_str(f.price),
            "size": size_str(f.size), "fee": money_str(f.fee), "is_taker": f.is_taker,
            "ts_ms": f.ts_ms}


# -- commands ----------------------------------------------------------------------------------


def _order_place(args: argparse.Namespace) -> int:
    try:
        price = parse_price(args.price)
    except UnitError as exc:
        raise UsageError(f"bad price: {exc}") from None
    try:
        size = parse_size(args.size)
    except UnitError as exc:
        raise UsageError(f"bad size: {exc}") from None
    if size <= 0:
        raise UsageError("bad size: must be positive")
    if args.outcome is None and args.venue != "polymarket":
        # a Kalshi ticker has both outcomes on one book: guessing one would trade the wrong side
        raise UsageError(f"--outcome yes|no is required for --venue {args.venue}")
    request = OrderRequest(
        market=args.market,
        # on Polymarket the token id (--market) is the outcome; the field only labels the ack
        outcome=Outcome(args.outcome or "yes"),
        action=Action(args.side),
        price=price,
        size=size,
        client_order_id=args.client_order_id or f"arbiter-cli-{uuid.uuid4()}",
        tif=TimeInForce(args.tif),
        post_only=args.post_only,
    )
    try:
        ack = _run(args, lambda c: c.place_order(request))
    except VenueError as exc:
        return _venue_error(args, exc)
    print(json.dumps(_ack_dict(ack)) if args.json else _ack_line(ack))
    return 0


def _order_cancel(args: argparse.Namespace) -> int:
    try:
        ack = _run(args, lambda c: c.cancel_order(args.order_id))
    except VenueError as exc:
        return _venue_error(args, exc)
    print(json.dumps(_ack_dict(ack)) if args.json else _ack_line(ack))
    return 0


def _order_list(args: argparse.Namespace) -> int:
    try:
        acks = _run(args, lambda c: c.open_orders(args.market))
    except VenueError as exc:
        return _venue_error(args, exc)
    if args.json:
        print(json.dumps([_ack_dict(a) for a in acks]))
    else:
        for ack in acks:
            print(_ack_line(ack))
        print(f"{len(acks)} open order(s)")
    return 0


def _balance(args: argparse.Namespace) -> int:
    async def read(c: ExchangeClient) -> tuple[Money, dict[int, Money] | None]:
        # collateral per exchange shard where the venue has shards (Kalshi, docs
        # /getting_started/exchange_sharding): an order can only use its market's shard
        shards = getattr(unwrap(c), "shard_balances", None)
        return await c.balance(), (await shards() if shards is not None else None)

    try:
        amount, shards = _run(args, read)
    except VenueError as exc:
        return _venue_error(args, exc)
    if args.json:
        out: dict[str, Any] = {"venue": args.venue, "balance": money_str(amount)}
        if shards is not None:
            out["shards"] = {str(k): money_str(v) for k, v in sorted(shards.items())}
        print(json.dumps(out))
    else:
        per = "" if not shards or len(shards) < 2 else " (" + ", ".join(
            f"shard {k}: ${money_str(v)}" for k, v in sorted(shards.items())) + ")"
        print(f"{args.venue} balance: ${money_str(amount)}{per}")
    return 0


def _positions(args: argparse.Namespace) -> int:
    try:
        positions = _run(args, lambda c: c.positions())
    except VenueError as exc:
        return _venue_error(args, exc)
    if args.json:
        print(json.dumps([_position_dict(p) for p in positions]))
    else:
        for p in positions:
            cost = f"  cost ${money_str(p.cost)}" if p.cost is not None else ""
            print(f"{p.market}  {p.outcome.value:<3} {size_str(p.size)}{cost}")
        print(f"{len(positions)} position(s)")
    return 0


def _fills(args: argparse.Namespace) -> int:
    try:
        fills = _run(args, lambda c: c.fills())
    except VenueError as exc:
        return _venue_error(args, exc)
    if args.json:
        print(json.dumps([_fill_dict(f) for f in fills]))
    else:
        for f in fills:
            print(f"{f.fill_id}  {f.action.value} {size_str(f.size)} {f.market} {f.outcome.value}"
                  f" @ {price_str(f.price)}  fee ${money_str(f.fee)}")
        print(f"{len(fills)} fill(s)")
    return 0


def _check(args: argparse.Namespace) -> int:
    adapters = _adapters()
    venues = [args.venue] if args.venue else list(adapters)

    async def go() -> list[Check]:
        out: list[Check] = []
        for venue in venues:
            try:
                out.extend(await adapters[venue].check_connectivity(args))
            except ValueError as exc:  # credentials
                out.append(Check(venue, "credentials", False, None, str(exc)))
        return out

    checks = asyncio.run(go())
    ok = bool(checks) and all(c.ok for c in checks)
    if args.json:
        print(json.dumps({"ok": ok, "checks": [asdict(c) for c in checks]}))
    else:
        for c in checks:
            latency = f"{c.latency_ms:8.1f} ms" if c.latency_ms is not None else "        -"
            print(f"{c.venue:<11} {c.step:<14} {'ok ' if c.ok else 'FAIL'} {latency}  {c.detail}")
        print("all checks passed" if ok else "connectivity check FAILED")
    return 0 if ok else 1


# -- registration ------------------------------------------------------------------------------


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("check-connectivity",
                       help="check DNS/TCP/TLS, REST auth and WebSocket per venue")
    _common(p, venue_required=False)
    p.set_defaults(func=_check)

    order = sub.add_parser("order", help="place, cancel or list orders by hand")
    osub = order.add_subparsers(dest="order_command", metavar="ACTION")
    osub.required = True
    place = osub.add_parser("place", help="place one limit order")
    _common(place)
    place.add_argument("--market", required=True, help="ticker (Kalshi) or token id")
    place.add_argument("--outcome", choices=["yes", "no"],
                       help="required for kalshi; not used for polymarket (the token id is the outcome)")
    place.add_argument("--side", choices=["buy", "sell"], required=True)
    place.add_argument("--price", required=True, help="dollars, e.g. 0.45")
    place.add_argument("--size", required=True, help="contracts, e.g. 10")
    place.add_argument("--tif", choices=[t.value for t in TimeInForce], default="gtc")
    place.add_argument("--post-only", action="store_true")
    place.add_argument("--client-order-id", help="idempotency key (default: a fresh UUID)")
    place.set_defaults(func=_order_place)
    cancel = osub.add_parser("cancel", help="cancel one order")
    _common(cancel)
    cancel.add_argument("order_id")
    cancel.set_defaults(func=_order_cancel)
    lst = osub.add_parser("list", help="list open orders")
    _common(lst)
    lst.add_argument("--market")
    lst.set_defaults(func=_order_list)

    bal = sub.add_parser("balance", help="show the account's available balance")
    _common(bal)
    bal.set_defaults(func=_balance)
    pos = sub.add_parser("positions", help="show the account's positions")
    _common(pos)
    pos.set_defaults(func=_positions)
    fills = sub.add_parser("fills", help="show the account's fills")
    _common(fills)
    fills.set_defaults(func=_fills)

    sim = sub.add_parser("sim", help="run a local venue simulator")
    ssub = sim.add_subparsers(dest="sim_venue", metavar="VENUE")
    ssub.required = True
    for module in SIM_MODULES:
        module.register_sim(ssub)
