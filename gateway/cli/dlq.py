"""``wecare dlq list|replay [--queue NAME] [--max N]``: the dead-letter queues from the command line."""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from pathlib import Path
from typing import Any, TextIO

from gateway.bootstrap import build_embedded, wired
from gateway.config import load_settings
from gateway.dlq import DLQ_QUEUES, DLQ_STATUSES, MAX_REPLAY_BATCH, DlqService


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("dlq", help="dead-letter queues: list and replay")
    commands = parser.add_subparsers(dest="dlq_command", metavar="COMMAND", required=True)
    data_dir = os.environ.get("WECARE_DATA_DIR", ".wecare")

    listing = commands.add_parser("list", help="what failed, why, and how often")
    listing.add_argument("--queue", choices=DLQ_QUEUES)
    listing.add_argument("--status", choices=DLQ_STATUSES)
    listing.add_argument("--limit", type=int, default=50)
    listing.add_argument("--data-dir", default=data_dir)
    listing.add_argument("--format", choices=("text", "json"), default="text")
    listing.set_defaults(func=run_list)

    replay = commands.add_parser("replay", help="replay dead letters through their original handler")
    replay.add_argument("--queue", choices=DLQ_QUEUES, help="default: every queue with a replay handler")
    replay.add_argument("--max", type=int, default=10, help=f"per queue, 1 to {MAX_REPLAY_BATCH}")
    replay.add_argument("--data-dir", default=data_dir)
    replay.add_argument("--format", choices=("text", "json"), default="text")
    replay.set_defaults(func=run_replay)


def _with_dlq(args: argparse.Namespace, action: Any) -> int:
    settings = load_settings("embedded", WECARE_DATA_DIR=Path(args.data_dir))
    container = build_embedded(settings)
    try:
        code: int = action(wired(container.dlq, "dlq"), args, sys.stdout)
        return code
    finally:
        container.close()


def run_list(args: argparse.Namespace) -> int:
    return _with_dlq(args, list_command)


def run_replay(args: argparse.Namespace) -> int:
    return _with_dlq(args, replay_command)


def list_command(dlq: DlqService, args: argparse.Namespace, out: TextIO) -> int:
    page = dlq.list_messages(queue=args.queue, status=args.status, limit=args.limit)
    if args.format == "json":
        out.write(json.dumps(page, indent=2, default=str) + "\n")
        return 0
    for name, depth in page["depth"].items():
        out.write(f"{name}: {depth} message(s) on the queue\n")
    for item in page["items"]:
        out.write(
            f"{item['dlqMessageId']}  {item['queueName']}  {item['status']}"
            f"  retries={item.get('retryCount', 0)}  attempts={item.get('attempts', 0)}"
            f"  {str(item.get('error', ''))[:120]}\n"
        )
    if not page["items"]:
        out.write("no dead letters\n")
    return 0


def replay_command(dlq: DlqService, args: argparse.Namespace, out: TextIO) -> int:
    queues = [args.queue] if args.queue else [q for q in DLQ_QUEUES if dlq.handler(q) is not None]
    actor = "cli:" + getpass.getuser()
    reports = [dlq.replay(queue, args.max, actor=actor).to_dict() for queue in queues]
    if args.format == "json":
        out.write(json.dumps(reports, indent=2) + "\n")
    else:
        for r in reports:
            out.write(
                f"{r['queue']}: {r['received']} taken, {r['replayed']} replayed, {r['failed']} failed, "
                f"{r['parked']} parked, {r['skipped']} skipped, {r['busy']} busy\n"
            )
            for result in r["results"]:
                if result["outcome"] in ("failed", "parked"):
                    out.write(f"  {result['dlqMessageId']} {result['outcome']}: {result['detail'][:200]}\n")
    return 1 if any(r["failed"] or r["parked"] for r in reports) else 0
