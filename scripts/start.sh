#!/usr/bin/env bash
# One command: set up (first run) and start the embedded default on http://127.0.0.1:8000
# (SQLite store, local queue, local identity, DRY_RUN). The first start prints an Admin login.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/wecare serve "$@"
