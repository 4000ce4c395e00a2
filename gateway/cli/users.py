"""``wecare users add EMAIL --role Viewer|Operator|Admin [--password P] [--data-dir D]``: local accounts."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path

from gateway.audit import AuditLog
from gateway.clock import SystemClock
from gateway.store.port import Tables
from gateway.users import UserService

DB_FILE = "wecare.db"


def data_dir_of(args: argparse.Namespace) -> Path:
    chosen = getattr(args, "data_dir", None) or os.environ.get("WECARE_DATA_DIR") or ".wecare"
    return Path(chosen)


def open_tables(data_dir: Path) -> Tables:
    # Imported here: only this command needs the SQLite adapter, and ``wecare --help`` must not.
    from gateway.store.sqlite import SqliteTables

    data_dir.mkdir(parents=True, exist_ok=True)
    return SqliteTables(data_dir / DB_FILE, SystemClock())


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    users = subparsers.add_parser("users", help="local user accounts (embedded identity)")
    sub = users.add_subparsers(dest="users_command", metavar="ACTION", required=True)
    add = sub.add_parser("add", help="create a local account")
    add.add_argument("email")
    add.add_argument("--role", required=True, choices=["Viewer", "Operator", "Admin"])
    add.add_argument(
        "--password", help="at least 10 characters; omitted: a random one is generated and shown once"
    )
    add.add_argument("--data-dir", help="the embedded data dir (default: $WECARE_DATA_DIR or .wecare)")
    add.set_defaults(func=add_user)
    passwd = sub.add_parser("passwd", help="set a local account's password (its sessions end)")
    passwd.add_argument("email")
    passwd.add_argument(
        "--password", help="at least 10 characters; omitted: a random one is generated and shown once"
    )
    passwd.add_argument("--data-dir", help="the embedded data dir (default: $WECARE_DATA_DIR or .wecare)")
    passwd.set_defaults(func=set_user_password)


def add_user(args: argparse.Namespace, open_store: Callable[[Path], Tables] = open_tables) -> int:
    data_dir = data_dir_of(args)
    tables = open_store(data_dir)
    try:
        clock = SystemClock()
        service = UserService(tables, clock, AuditLog(tables, clock))
        user, generated = service.create(args.email, args.role, actor="cli", password=args.password)
    finally:
        tables.close()
    print(f"created {user['role']} {user['email']} ({user['userId']}) in {data_dir}")
    if generated is not None:
        print(f"password (shown once): {generated}")
    sys.stdout.flush()
    return 0


def set_user_password(args: argparse.Namespace, open_store: Callable[[Path], Tables] = open_tables) -> int:
    data_dir = data_dir_of(args)
    tables = open_store(data_dir)
    try:
        clock = SystemClock()
        service = UserService(tables, clock, AuditLog(tables, clock))
        user = service.find_by_email(args.email)
        if user is None:
            print(f"no local account {args.email!r} in {data_dir}", file=sys.stderr)
            return 1
        if args.password is None:
            _, generated = service.reset_password(user["userId"], actor="cli")
        else:
            service.set_password(user["userId"], args.password, actor="cli")
            generated = None
    finally:
        tables.close()
    print(f"password changed for {user['email']} in {data_dir}; its sessions have ended")
    if generated is not None:
        print(f"password (shown once): {generated}")
    sys.stdout.flush()
    return 0
