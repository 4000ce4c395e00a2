"""``wecare demo --data-dir D``: a data dir to look around in (see :mod:`gateway.demo`), then
``wecare serve --data-dir D``."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "demo", help="seed a fresh data dir with demo contacts, messages and a dead letter"
    )
    parser.add_argument("--data-dir", default=".wecare-demo", help="a new data dir (default: .wecare-demo)")
    parser.set_defaults(func=run_demo)


def run_demo(args: argparse.Namespace) -> int:
    from gateway.bootstrap import build_embedded, first_admin_lines, wecare_command
    from gateway.config import SendMode, load_settings
    from gateway.demo import DemoRefused, seed

    data_dir = Path(args.data_dir)
    # Always DRY_RUN: the demo's addresses are made up, and nothing of it may ever leave.
    settings = load_settings("embedded", WECARE_DATA_DIR=data_dir, SEND_MODE=SendMode.DRY_RUN)
    container = build_embedded(settings)
    try:
        try:
            report = seed(container)
        except DemoRefused as exc:
            print(f"{exc} ({data_dir.resolve()})", file=sys.stderr)
            return 1
        login = first_admin_lines(container)
    finally:
        container.close()
    print(f"demo data written to {data_dir.resolve()} (DRY_RUN):")
    for line in report.lines():
        print(line)
    for line in login:
        print(line)
    command = wecare_command()
    print(f"Start it: {command} serve --data-dir {shlex.quote(str(data_dir.resolve()))}")
    sys.stdout.flush()
    return 0
