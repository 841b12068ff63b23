"""`livequiz admin create USERNAME`, `livequiz admin grant USERNAME` and `livequiz db upgrade`:
the operator's account and database commands, run with the server's settings (the same
`LIVEQUIZ_*` environment, so the same database) and audited like any other role change.

`admin create` prints the new admin's password once (generated, or read from standard input
with `--password-stdin`, so it never shows in the shell history or the process list).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from gameserver.settings import Settings
from persistence.accounts import admin
from persistence.accounts.errors import AccountError
from persistence.accounts.passwords import password_problem
from persistence.db import Database, open_database, run_upgrade

T = TypeVar("T")


async def _with_database(action: Callable[[Database], Awaitable[T]]) -> T:
    settings = Settings()
    db = await open_database(settings.database_url, settings.data_dir, schema=settings.database_schema or None)
    try:
        return await action(db)
    finally:
        await db.dispose()


def admin_create(args: argparse.Namespace) -> int:
    password: str | None = None
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
        if (problem := password_problem(password)) is not None:
            print(f"password {problem}", file=sys.stderr)
            return 2
    try:
        user, password = asyncio.run(_with_database(lambda db: admin.create_admin(db, args.username, password)))
    except AccountError as error:
        print(error.message, file=sys.stderr)
        return 1
    print(f"admin {user.username} created (id {user.id})")
    if not args.password_stdin:
        print(f"password: {password}")
    return 0


def admin_grant(args: argparse.Namespace) -> int:
    try:
        user = asyncio.run(_with_database(lambda db: admin.grant_admin(db, args.username)))
    except AccountError as error:
        print(error.message, file=sys.stderr)
        return 1
    print(f"{user.username} (id {user.id}) is an admin")
    return 0


def db_upgrade(args: argparse.Namespace) -> int:
    settings = Settings()
    revision = run_upgrade(settings.database_url, settings.data_dir, settings.database_schema or None)
    print(f"database at revision {revision}")
    return 0


def add_admin_commands(commands: Any) -> None:
    """Register `admin` and `db` on the `livequiz` sub-command parser."""
    p_admin = commands.add_parser("admin", help="accounts: make admins (uses the server's settings)")
    admin_commands = p_admin.add_subparsers(dest="admin_command", required=True)
    p_create = admin_commands.add_parser("create", help="create a new admin account (prints its password)")
    p_create.add_argument("username")
    p_create.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    p_create.set_defaults(func=admin_create)
    p_grant = admin_commands.add_parser("grant", help="make an existing user an admin")
    p_grant.add_argument("username")
    p_grant.set_defaults(func=admin_grant)

    p_db = commands.add_parser("db", help="the SQL database")
    db_commands = p_db.add_subparsers(dest="db_command", required=True)
    p_upgrade = db_commands.add_parser("upgrade", help="apply the migrations up to the newest")
    p_upgrade.set_defaults(func=db_upgrade)
