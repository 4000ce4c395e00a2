"""``wecare inbound ingest FILE...``: replay captured event files through the inbound pipeline.

Each file may hold an SNS->Lambda event, an SNS HTTPS notification, a bare EUM Social envelope, a Meta
webhook body, or a JSON list of those. Exactly what the Lambda does happens to each event (same
dedupe, same dead-lettering), so ingesting a file twice stores nothing new.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from gateway.bootstrap import build_embedded, wired
from gateway.config import load_settings
from gateway.inbound.service import InboundService, IngestResult


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("inbound", help="inbound WhatsApp events")
    commands = parser.add_subparsers(dest="inbound_command", metavar="COMMAND", required=True)
    ingest = commands.add_parser(
        "ingest", help="feed SNS/EUM event files through the same inbound pipeline as the Lambda"
    )
    ingest.add_argument("files", nargs="+", type=Path, metavar="FILE")
    ingest.add_argument("--data-dir", default=os.environ.get("WECARE_DATA_DIR", ".wecare"))
    ingest.add_argument("--format", choices=("text", "json"), default="text")
    ingest.set_defaults(func=run_ingest)


def run_ingest(args: argparse.Namespace) -> int:
    settings = load_settings("embedded", WECARE_DATA_DIR=Path(args.data_dir))
    container = build_embedded(settings)
    try:
        return ingest_files(wired(container.inbound, "inbound"), args.files, out=sys.stdout, fmt=args.format)
    finally:
        container.close()


def ingest_files(inbound: InboundService, paths: Sequence[Path], *, out: TextIO, fmt: str = "text") -> int:
    """Ingest each file; exit code 0 when every event was stored (or already was), 1 otherwise."""
    total = IngestResult()
    per_file: list[dict[str, Any]] = []
    failed = False
    for path in paths:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            failed = True
            per_file.append({"file": str(path), "error": f"cannot read: {exc}"})
            continue
        result = inbound.ingest_text(text)
        total.merge(result)
        failed = failed or result.deadLettered > 0
        per_file.append({"file": str(path), **result.to_dict()})
    if fmt == "json":
        out.write(json.dumps({"files": per_file, "total": total.to_dict()}, indent=2) + "\n")
    else:
        for row in per_file:
            if "error" in row:
                out.write(f"{row['file']}: {row['error']}\n")
                continue
            out.write(
                f"{row['file']}: {row['messages']} stored, {row['duplicates']} duplicate, "
                f"{row['statuses']} status, {row['pendingStatuses']} pending status, "
                f"{row['deadLettered']} dead-lettered\n"
            )
            for error in row["errors"]:
                out.write(f"  error: {error}\n")
        out.write(
            f"total: {total.messages} stored, {total.duplicates} duplicate, {total.statuses} status, "
            f"{total.pendingStatuses} pending status, {total.deadLettered} dead-lettered to inbound-dlq\n"
        )
    return 1 if failed else 0
