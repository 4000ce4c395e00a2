"""``wecare serve``: the embedded default — API, UI and workers in one process."""

from __future__ import annotations

import argparse
import os
from pathlib import Path


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("serve", help="run the embedded default (API + UI + workers)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--data-dir", default=os.environ.get("WECARE_DATA_DIR", ".wecare"))
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from gateway.api.app import create_app
    from gateway.bootstrap import build_embedded, first_start
    from gateway.config import load_settings
    from gateway.logs import configure_logging

    settings = load_settings("embedded", WECARE_DATA_DIR=Path(args.data_dir))
    configure_logging(settings.LOG_LEVEL)
    container = build_embedded(settings)
    try:
        for line in first_start(container):
            print(line, flush=True)
        print(
            f"WECARE.DIGITAL is running on http://{args.host}:{args.port}/ "
            f"(data in {settings.WECARE_DATA_DIR}, send mode {settings.SEND_MODE.value})",
            flush=True,
        )
        container.start_workers()
        uvicorn.run(create_app(container), host=args.host, port=args.port, log_config=None, access_log=False)
    finally:
        container.stop_workers()
        container.close()
    return 0
