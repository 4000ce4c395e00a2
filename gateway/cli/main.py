"""``wecare``: the command line. Each command group lives in its own module with a ``register``."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from gateway.config import ConfigError
from gateway.errors import DomainError
from gateway.logs import configure_logging
from gateway.queue.port import QueueError
from gateway.store.port import StoreError

# Each module defines ``register(subparsers)`` adding its commands with ``set_defaults(func=...)``,
# where ``func(args) -> int`` is the exit code.
COMMAND_MODULES = (
    "gateway.cli.serve",
    "gateway.cli.users",
    "gateway.cli.policy",
    "gateway.cli.inbound",
    "gateway.cli.dlq",
    "gateway.cli.demo",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="wecare", description="WECARE.DIGITAL compliance gateway")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                continue  # command group not present in this build
            raise
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    # Commands speak to people on stdout; only warnings and errors reach stderr, as JSON lines.
    # (`serve` reconfigures with the settings' LOG_LEVEL.)
    configure_logging("WARNING")
    try:
        code: int = func(args)
        return code
    except ConfigError as exc:
        print(f"wecare: {exc}", file=sys.stderr)
        return 2
    except (StoreError, QueueError) as exc:
        print(f"wecare: storage problem: {exc}", file=sys.stderr)
        return 3
    except DomainError as exc:
        print(f"wecare: {exc.message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
