#!/usr/bin/env bash
# One command: set up and run every check — lint, the policy suite, and the whole test suite.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh || exit 1
bash scripts/setup-browser.sh || exit 1
export PYTHONDONTWRITEBYTECODE=1

fail=0
step() { echo; echo "== $1"; shift; "$@" || { echo "!! FAILED: $*"; fail=1; }; }

step "ruff" .venv/bin/ruff check gateway channels tests benchmarks
step "mypy --strict" .venv/bin/mypy
mkdir -p reports
step "policy suite" .venv/bin/wecare policy test --min-coverage 100 --mutate --junit reports/policy-tests.xml

echo; echo "== pytest"
.venv/bin/python -m pytest -q -p no:cacheprovider "$@"
rc=$?
if [ "$rc" = 5 ]; then
  echo "!! pytest collected no tests"; fail=1
elif [ "$rc" != 0 ]; then
  echo "!! FAILED: pytest (exit $rc)"; fail=1
fi

exit $fail
