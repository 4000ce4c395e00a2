#!/usr/bin/env bash
# A demo to look around in: seeds .wecare-demo once (contacts in every consent state, a conversation
# dated now, a template, a refused send, a dead letter; DRY_RUN) and starts it on http://127.0.0.1:8000.
# The Admin login is printed when the demo is seeded; options go to `wecare serve` (e.g. --port 8080).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
dir=.wecare-demo
if [ ! -e "$dir/wecare.db" ]; then
  .venv/bin/wecare demo --data-dir "$dir"
fi
exec .venv/bin/wecare serve --data-dir "$dir" "$@"
