"""``arbiter control …`` and ``arbiter bot``: run and use the control plane from the shell.

Heavy imports (grpc, telegram, the generated protobuf code) happen inside the command functions so
that ``arbiter --help`` and every other command stay fast.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from arbiter.cli.argtypes import count, port, seconds
from arbiter.cli.errors import UsageError

__all__ = ["register"]

DEFAULT_TARGET = "127.0.0.1:50051"


def register(sub: argparse._SubParsersAction[Any]) -> None:
    control = sub.add_parser("control", help="gRPC control API: serve it, issue tokens, call it")
    csub = control.add_subparsers(dest="control_command", metavar="ACTION")
    csub.required = True

    p = csub.add_parser("serve", help="serve the control API (+ /metrics) for an in-process engine")
    p.add_argument("--keys", type=Path, required=True, help="JWT key set (see `arbiter control keygen`)")
    p.add_argument("--tenant", action="append", default=[], help="tenant id (repeatable; not with --ray)")
    p.add_argument("--pair", action="append", default=[], help="pair name (repeatable)")
    p.add_argument("--listen", default=DEFAULT_TARGET, help="gRPC address (default %(default)s)")
    p.add_argument("--metrics-port", type=port, default=9464, help="Prometheus port (0 = any free port)")
    p.add_argument("--no-metrics", action="store_true", help="do not serve /metrics")
    p.add_argument("--metrics-host", default="127.0.0.1")
    p.add_argument("--tls-cert", type=Path, help="PEM certificate chain (with --tls-key: serve TLS)")
    p.add_argument("--tls-key", type=Path, help="PEM private key")
    p.add_argument("--ray-address", "--ray", dest="ray_address", metavar="ADDR",
                   help="operate the live Ray engine at ADDR (e.g. auto) instead of an in-process one")
    p.add_argument("--namespace", default="arbiter", help="the Ray engine's namespace (default %(default)s)")
    p.set_defaults(func=_serve)

    p = csub.add_parser("keygen", help="create a key set, or rotate: add a new active key")
    p.add_argument("--keys", type=Path, required=True)
    p.add_argument("--kid", help="id of the new key (default: k<unix time>)")
    p.add_argument("--retire", metavar="KID", help="remove this key (its tokens stop working)")
    p.set_defaults(func=_keygen)

    p = csub.add_parser("token", help="issue a bearer token")
    p.add_argument("--keys", type=Path, required=True)
    p.add_argument("--tenant", required=True)
    p.add_argument("--role", default="viewer", choices=["viewer", "operator", "admin"])
    p.add_argument("--subject", default=os.environ.get("USER", "operator"))
    p.add_argument("--ttl", type=count(1, 366 * 24 * 3600), default=3600,
                   help="seconds (default %(default)s)")
    p.set_defaults(func=_token)

    for name, help_ in (("status", "engine status"), ("pause", "pause a tenant or pair"),
                        ("resume", "resume a tenant or pair"), ("kill", "trip the kill switch"),
                        ("reset", "reset the kill switch"), ("pnl", "PnL"), ("positions", "open positions")):
        p = csub.add_parser(name, help=help_)
        p.add_argument("--target", default=DEFAULT_TARGET)
        p.add_argument("--token", default=None, help="bearer token (default: $ARBITER_TOKEN)")
        p.add_argument("--tenant", default=None)
        p.add_argument("--tls-ca", type=Path, help="PEM CA bundle: connect with TLS")
        if name in ("pause", "resume"):
            p.add_argument("--pair", default=None)
        if name == "kill":
            p.add_argument("--reason", default="manual (cli)")
        p.set_defaults(func=_call, action=name)

    bot = sub.add_parser("bot", help="run the Telegram bot against a control API")
    bot.add_argument("--chat", action="append", required=True,
                     help="CHAT_ID=TENANT[:viewer|operator|admin] (repeatable)")
    bot.add_argument("--target", default=DEFAULT_TARGET, help="control API address")
    bot.add_argument("--tls-ca", type=Path, help="PEM CA bundle: connect to the control API with TLS")
    bot.add_argument("--control-token-env", default="ARBITER_TOKEN",
                     help="env var holding the bot's control API token (default %(default)s)")
    bot.add_argument("--telegram-token-env", default="TELEGRAM_BOT_TOKEN",
                     help="env var holding the Telegram bot token (default %(default)s)")
    bot.add_argument("--api-base", default=None, help="Bot API base URL (a local Bot API server)")
    bot.add_argument("--alert-poll", type=seconds(), default=5.0, help="seconds between alert polls")
    bot.set_defaults(func=_bot)


# -- serve ----------------------------------------------------------------------------------------
def _load_keys(path: Path) -> Any:
    from arbiter.control.auth import AuthError, KeySet

    try:
        return KeySet.load(path)
    except AuthError as exc:
        raise UsageError(str(exc)) from None


def _serve(args: argparse.Namespace) -> int:
    from arbiter.control.engine import InProcessEngine
    from arbiter.control.service import build_server
    from arbiter.telemetry.metrics import Metrics, serve_metrics

    keys = _load_keys(args.keys)
    if not args.ray_address and not args.tenant:
        raise UsageError("give --tenant (in-process engine) or --ray-address (live Ray engine)")
    if args.ray_address and args.tenant:
        raise UsageError("--tenant comes from the Ray engine's config; drop it with --ray-address")
    engine: Any = None if args.ray_address else InProcessEngine(args.tenant, args.pair)
    credentials = None
    if args.tls_cert or args.tls_key:
        if not (args.tls_cert and args.tls_key):
            raise UsageError("--tls-cert and --tls-key go together")
        import grpc

        credentials = grpc.ssl_server_credentials([(_read(args.tls_key), _read(args.tls_cert))])

    async def main() -> None:
        nonlocal engine
        in_process = engine is not None
        if not in_process:
            engine = await _connect_ray(args.ray_address, args.namespace)
        try:
            server = await build_server(engine, keys, args.listen, credentials=credentials)
        except RuntimeError as exc:
            raise UsageError(f"cannot listen on {args.listen}: {exc}") from None
        metrics = Metrics()
        # the Ray engine's arbiter actor serves its own /metrics (its port is in its status)
        http = (None if args.no_metrics or not in_process
                else serve_metrics(metrics, args.metrics_host, args.metrics_port))
        print(f"control API on {args.listen.rsplit(':', 1)[0]}:{server.port}"
              + (f", metrics on {http.url}" if http else ""), flush=True)
        mtime = args.keys.stat().st_mtime_ns
        try:
            while True:
                if in_process:
                    metrics.export_engine(engine)
                await asyncio.sleep(1)
                # key rotation without a restart: `arbiter control keygen` rewrites the file
                current = args.keys.stat().st_mtime_ns
                if current != mtime:
                    mtime = current
                    try:
                        server.servicer.keys = _load_keys(args.keys)
                        print(f"reloaded key set {args.keys}", flush=True)
                    except UsageError as exc:
                        print(f"keeping old key set: {exc}", file=sys.stderr, flush=True)
        finally:
            if http is not None:
                http.close()
            await server.stop()

    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        return 0
    return 0


async def _connect_ray(address: str, namespace: str) -> Any:
    import ray

    from arbiter.control.ray_engine import RayEngineControl

    try:
        ray.init(address=address, namespace=namespace, log_to_driver=False)
        return await RayEngineControl.connect(namespace)
    except (ConnectionError, ValueError) as exc:
        raise UsageError(f"no Ray engine at {address} (namespace {namespace}): {exc}") from None


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from None


def _channel_credentials(ca: Path | None) -> Any:
    if ca is None:
        return None
    import grpc

    return grpc.ssl_channel_credentials(root_certificates=_read(ca))


# -- keys and tokens --------------------------------------------------------------------------------
def _keygen(args: argparse.Namespace) -> int:
    from arbiter.control.auth import Key, KeySet

    keys = _load_keys(args.keys) if args.keys.exists() else KeySet()
    if args.retire:
        if args.retire not in keys.keys:
            raise UsageError(f"no key {args.retire!r} in {args.keys}")
        keys.retire(args.retire)
        print(f"retired {args.retire}; tokens it signed are now refused")
    else:
        kid = args.kid or f"k{int(time.time())}"
        if kid in keys.keys:
            raise UsageError(f"key {kid!r} already exists")
        keys.add(Key.hmac(kid))
        print(f"added and activated {kid}; older keys still verify until retired")
    args.keys.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.keys.with_suffix(".tmp")
    tmp.write_text(json.dumps(keys.to_json(), indent=2))
    os.chmod(tmp, 0o600)
    tmp.replace(args.keys)
    return 0


def _token(args: argparse.Namespace) -> int:
    from arbiter.control.auth import AuthError, Role

    keys = _load_keys(args.keys)
    if args.ttl <= 0:
        raise UsageError("--ttl must be positive")
    try:
        print(keys.issue(args.subject, args.tenant, Role(args.role), args.ttl, int(time.time())))
    except AuthError as exc:
        raise UsageError(str(exc)) from None
    return 0


# -- client calls -----------------------------------------------------------------------------------
def _call(args: argparse.Namespace) -> int:
    from arbiter.control.client import ControlError, RemoteEngine
    from arbiter.control.engine import UnknownTenant
    from arbiter.core.units import MONEY_DECIMALS, SIZE_DECIMALS, format_decimal

    token = args.token or os.environ.get("ARBITER_TOKEN")
    if not token:
        raise UsageError("no token: pass --token or set ARBITER_TOKEN")

    async def main() -> int:
        rc = RemoteEngine(args.target, token, credentials=_channel_credentials(args.tls_ca))
        try:
            action = args.action
            if action == "status":
                st = await rc.status(args.tenant)
                for t in st.tenants:
                    print(json.dumps({"tenant": t.tenant, "running": t.running, "paused_all": t.paused_all,
                                      "paused_pairs": list(t.paused_pairs), "kill_switch": t.kill_reason,
                                      "open_sagas": t.open_sagas, "open_orders": t.open_orders,
                                      "daily_pnl": format_decimal(t.daily_pnl, MONEY_DECIMALS)}))
            elif action == "pnl":
                for r in await rc.pnl(args.tenant):
                    print(json.dumps({"tenant": r.tenant, "net": format_decimal(r.pnl.net, MONEY_DECIMALS),
                                      "daily": format_decimal(r.daily, MONEY_DECIMALS)}))
            elif action == "positions":
                for tenant, p in await rc.positions(args.tenant):
                    print(json.dumps({"tenant": tenant, "venue": p.venue, "market": p.market,
                                      "outcome": p.outcome.value,
                                      "size": format_decimal(p.size, SIZE_DECIMALS)}))
            else:
                if action == "pause":
                    result = await rc.pause(args.tenant, args.pair)
                elif action == "resume":
                    result = await rc.resume(args.tenant, args.pair)
                elif action == "kill":
                    result = await rc.trip_kill_switch(args.tenant, args.reason)
                else:
                    if not args.tenant:
                        raise UsageError("reset needs --tenant")
                    result = await rc.reset_kill_switch(args.tenant)
                print(result.detail + ("" if result.changed else " (no change)"))
            return 0
        except ControlError as exc:
            raise UsageError(str(exc)) from None
        except UnknownTenant as exc:
            raise UsageError(f"unknown {exc.args[0]}") from None
        finally:
            await rc.close()

    return asyncio.run(main())


# -- bot --------------------------------------------------------------------------------------------
def _bot(args: argparse.Namespace) -> int:
    from arbiter.control.client import RemoteEngine
    from arbiter.control.telegram import ArbiterBot, parse_chat_map

    try:
        chats = parse_chat_map(args.chat)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    tg_token = os.environ.get(args.telegram_token_env)
    control_token = os.environ.get(args.control_token_env)
    if not tg_token:
        raise UsageError(f"set ${args.telegram_token_env} to the Telegram bot token")
    if not control_token:
        raise UsageError(f"set ${args.control_token_env} to a control API token")
    engine = RemoteEngine(args.target, control_token, credentials=_channel_credentials(args.tls_ca))
    bot = ArbiterBot(engine, chats)
    app = bot.build(tg_token, base_url=args.api_base)

    async def start_watch(application: Any) -> None:
        application.create_task(bot.watch_alerts(args.alert_poll))

    app.post_init = start_watch
    print(f"bot polling; {len(chats)} chat(s) authorised; control API {args.target}", file=sys.stderr)
    app.run_polling()
    return 0
