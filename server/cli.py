"""ops-server: serve, openapi, token create/list/revoke, migrate, audit verify/prune, evidence verify."""

import argparse
import asyncio
import contextlib
import logging
import signal
import sqlite3
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import web

from server.app import create_app
from server.clock import SystemClock
from server.errors import OpsError
from server.http.log_redaction import install_log_redaction
from server.http.malformed_requests import OpsAppRunner
from server.http.openapi import encode, openapi_document
from server.services.tokens import TokenService
from server.settings import Settings, load_settings
from server.storage.audit_checkpoints import head_file_for, prune
from server.storage.audit_keys import key_file, load_audit_key
from server.storage.audit_verify import verify_file
from server.storage.database import Database
from server.storage.evidence import head_file_for as evidence_head_file_for
from server.storage.evidence_verify import verify_evidence_file
from server.storage.tokens import TokenRepository


def _settings(args: argparse.Namespace) -> Settings:
    overrides: dict[str, Any] = {}
    for name in ("host", "port", "data_dir"):
        value = getattr(args, name, None)
        if value is not None:
            overrides[name] = value
    if getattr(args, "no_controller", False):
        overrides["controller_enabled"] = False
    return load_settings(getattr(args, "config", None), **overrides)


async def _with_db(settings: Settings, action: Callable[[Database], Awaitable[int]]) -> int:
    db = Database(settings.database_path)
    await db.open()
    try:
        await db.migrate()
        return await action(db)
    finally:
        await db.close()


def cmd_serve(args: argparse.Namespace) -> int:
    settings = _settings(args)
    app = create_app(settings)
    print(f"ops-server on http://{settings.host}:{settings.port} (data in {settings.data_dir})", flush=True)
    install_log_redaction()
    try:
        asyncio.run(_serve(app, settings.host, settings.port))
    except OSError as exc:  # the port is taken, the address is not ours, the data dir is not writable
        print(f"error: cannot serve on {settings.host}:{settings.port}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    except RuntimeError as exc:  # start-up refused, e.g. no playbook
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


async def _serve(app: web.Application, host: str, port: int) -> None:
    """Serve `app` until SIGINT or SIGTERM, then shut down as `web.run_app` does; that one cannot be given the
    runner that answers malformed requests itself (server/http/malformed_requests.py)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    runner = OpsAppRunner(app, access_log=None, keepalive_timeout=75.0)  # run_app's keep-alive
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
        await stop.wait()
    finally:
        await runner.cleanup()


def cmd_openapi(args: argparse.Namespace) -> int:
    """Write the OpenAPI document of every route (no server started, nothing opened) to --output, or stdout."""
    body = encode(openapi_document(create_app(_settings(args))))
    if args.output is None:
        sys.stdout.buffer.write(body)
    else:
        args.output.write_bytes(body)
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    settings = _settings(args)

    async def migrate() -> int:
        db = Database(settings.database_path)
        await db.open()
        try:
            applied = await db.migrate()
        finally:
            await db.close()
        print("applied: " + ", ".join(applied) if applied else "database is up to date")
        return 0

    return asyncio.run(migrate())


def cmd_token_create(args: argparse.Namespace) -> int:
    async def run(db: Database) -> int:
        token = await TokenService(TokenRepository(db), SystemClock()).create(args.name, args.scopes)
        print(f"created token '{args.name}' with scopes {args.scopes}; it is shown only once:")
        print(token)
        return 0

    return asyncio.run(_with_db(_settings(args), run))


def cmd_token_list(args: argparse.Namespace) -> int:
    async def run(db: Database) -> int:
        rows = await TokenService(TokenRepository(db), SystemClock()).list()
        print(f"{'NAME':<24} {'STATE':<8} {'CREATED':<26} SCOPES")
        for row in rows:
            state = "revoked" if row.revoked_at else "active"
            print(
                f"{row.name:<24} {state:<8} {row.created_at.isoformat(timespec='seconds'):<26} "
                f"{','.join(sorted(row.scopes))}"
            )
        return 0

    return asyncio.run(_with_db(_settings(args), run))


def cmd_token_revoke(args: argparse.Namespace) -> int:
    async def run(db: Database) -> int:
        await TokenService(TokenRepository(db), SystemClock()).revoke(args.name)
        print(f"revoked token '{args.name}'")
        return 0

    return asyncio.run(_with_db(_settings(args), run))


def cmd_audit_verify(args: argparse.Namespace) -> int:
    settings = _settings(args)
    if not settings.database_path.is_file():
        # Verifying a database that is not there must not create an empty one and report that it holds.
        print(f"error: no database at {settings.database_path}", file=sys.stderr)
        return 2
    asyncio.run(_with_db(settings, _nothing))  # migrated first: a log from before checkpoints verifies too
    key = load_audit_key(_configured_audit_key(settings), settings.data_dir, create=False)
    result = verify_file(settings.database_path, key, head_file_for(settings.database_path))
    if result.broken is not None:
        where, reason = result.broken.entry_id, result.broken.reason
        print(f"audit chain broken at entry {where}: {reason} ({result.checked} entries hold before it)")
        return 1
    print(f"audit chain holds: {result.checked} entries verified, {result.checkpoints} signed checkpoints")
    if result.unsigned:
        print(f"the newest {result.unsigned} entries are not signed by a checkpoint yet")
    if result.checkpoints and not result.signatures_checked:
        missing = key_file(settings.data_dir)
        print(f"error: signatures NOT checked: no OPS_AUDIT_KEY and no {missing}", file=sys.stderr)
        return 2
    return 0


def cmd_evidence_verify(args: argparse.Namespace) -> int:
    settings = _settings(args)
    if not settings.database_path.is_file():
        print(f"error: no database at {settings.database_path}", file=sys.stderr)
        return 2
    asyncio.run(_with_db(settings, _nothing))  # migrated first: a database from before the evidence verifies too
    key = load_audit_key(_configured_audit_key(settings), settings.data_dir, create=False)
    result = verify_evidence_file(settings.database_path, key, evidence_head_file_for(settings.database_path))
    if result.broken is not None:
        where, reason = result.broken.evidence_id, result.broken.reason
        print(f"evidence chain broken at evidence {where}: {reason} ({result.checked} records hold before it)")
        return 1
    print(f"evidence chain holds: {result.checked} records verified, {result.checkpoints} signed checkpoints")
    if result.checkpoints and not result.signatures_checked:
        print(f"error: signatures NOT checked: no OPS_AUDIT_KEY and no {key_file(settings.data_dir)}", file=sys.stderr)
        return 2
    return 0


def cmd_audit_prune(args: argparse.Namespace) -> int:
    settings = _settings(args)
    if not settings.database_path.is_file():
        print(f"error: no database at {settings.database_path}", file=sys.stderr)
        return 2
    asyncio.run(_with_db(settings, _nothing))
    key = load_audit_key(_configured_audit_key(settings), settings.data_dir, create=True)
    assert key is not None
    with contextlib.closing(sqlite3.connect(settings.database_path, isolation_level=None)) as conn:
        conn.execute("PRAGMA busy_timeout=5000")
        conn.execute("PRAGMA synchronous=FULL")
        deleted = 0
        while pruned := prune(conn, key, args.before.timestamp(), head_file_for(settings.database_path)):
            deleted += pruned
    print(f"pruned {deleted} audit entries made before {args.before.isoformat()}; the rest verify from a signed cut")
    return 0


async def _nothing(db: Database) -> int:
    return 0


def _configured_audit_key(settings: Settings) -> str | None:
    return settings.audit_key.get_secret_value() if settings.audit_key else None


def _date_or_time(text: str) -> datetime:
    """A date (midnight UTC) or an ISO 8601 time (UTC unless it says otherwise)."""
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD) or ISO 8601 time: {text!r}") from None
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def _data_dir_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", type=Path, help="where the database lives (env OPS_DATA_DIR)")
    parser.add_argument("--config", type=Path, help="a TOML settings file")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ops-server", description="The Ops Console server.")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the HTTP server")
    serve.add_argument("--host", help="bind address (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default 8000)")
    serve.add_argument("--no-controller", action="store_true", help="read-only: /ops/command answers 501")
    _data_dir_option(serve)
    serve.set_defaults(func=cmd_serve)

    openapi = sub.add_parser("openapi", help="print the OpenAPI document (assets/openapi.json is this output)")
    openapi.add_argument("--output", type=Path, default=None, help="write it to this file instead of stdout")
    openapi.set_defaults(func=cmd_openapi)

    migrate = sub.add_parser("migrate", help="apply database migrations")
    _data_dir_option(migrate)
    migrate.set_defaults(func=cmd_migrate)

    token = sub.add_parser("token", help="manage API tokens").add_subparsers(dest="token_command", required=True)
    create = token.add_parser("create", help="create a token; prints it on the last line")
    create.add_argument("--name", required=True)
    create.add_argument("--scopes", required=True, help="comma-separated, e.g. ops:read,ops:command")
    _data_dir_option(create)
    create.set_defaults(func=cmd_token_create)
    listing = token.add_parser("list", help="list tokens (never their values)")
    _data_dir_option(listing)
    listing.set_defaults(func=cmd_token_list)
    revoke = token.add_parser("revoke", help="revoke a token by name")
    revoke.add_argument("name")
    _data_dir_option(revoke)
    revoke.set_defaults(func=cmd_token_revoke)

    audit = sub.add_parser("audit", help="audit log").add_subparsers(dest="audit_command", required=True)
    verify = audit.add_parser("verify", help="check the hash chain; non-zero exit names the first broken link")
    _data_dir_option(verify)
    verify.set_defaults(func=cmd_audit_verify)
    pruning = audit.add_parser("prune", help="delete entries made before a date; the rest still verify")
    pruning.add_argument("--before", required=True, type=_date_or_time, help="YYYY-MM-DD (UTC) or an ISO 8601 time")
    _data_dir_option(pruning)
    pruning.set_defaults(func=cmd_audit_prune)

    evidence = sub.add_parser("evidence", help="the governed agents' evidence").add_subparsers(
        dest="evidence_command", required=True
    )
    evidence_verify = evidence.add_parser("verify", help="check the evidence chain and its signed checkpoints")
    _data_dir_option(evidence_verify)
    evidence_verify.set_defaults(func=cmd_evidence_verify)
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except OpsError as exc:
        print(f"error: {exc.detail}", file=sys.stderr)
        return 2
    except ValueError as exc:  # settings that do not validate
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
