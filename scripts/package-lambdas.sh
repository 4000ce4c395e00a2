#!/usr/bin/env bash
# Build build/lambda/: the code asset of every Lambda function (amplify/backend/paths.ts reads it).
#
#   gateway/ channels/ policies/   the project's code and the reviewed policy bundle (policies/ sits
#                                  beside the package: gateway/bootstrap.py's default_policy_dir)
#   <the rest>                     [project].dependencies of pyproject.toml, as CPython 3.12 manylinux
#                                  x86_64 wheels (the functions' runtime and architecture)
#
# Run it before `ampx pipeline-deploy` / `ampx sandbox` (docs/deployment.md). Only wheels are accepted
# (--only-binary=:all:): nothing is compiled on the build machine, so what is packaged is what AWS runs.
set -euo pipefail
cd "$(dirname "$0")/.."

out=${WECARE_LAMBDA_BUILD_DIR:-build/lambda}
PY=${PYTHON:-}
if [ -z "$PY" ]; then
  if [ -x .venv/bin/python ]; then PY=.venv/bin/python; else PY=python3; fi
fi
if ! "$PY" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
  echo "package-lambdas: Python 3.11 or newer is needed to read pyproject.toml ($PY)" >&2
  exit 1
fi

mapfile -t deps < <("$PY" - <<'PYEOF'
import tomllib

with open("pyproject.toml", "rb") as f:
    print("\n".join(tomllib.load(f)["project"]["dependencies"]))
PYEOF
)
if [ "${#deps[@]}" -eq 0 ]; then
  echo "package-lambdas: no [project].dependencies in pyproject.toml" >&2
  exit 1
fi

rm -rf "$out"
mkdir -p "$out"
echo "package-lambdas: installing ${#deps[@]} runtime dependencies into $out" >&2
"$PY" -m pip install --quiet --disable-pip-version-check --no-compile \
  --platform manylinux2014_x86_64 --platform manylinux_2_28_x86_64 --platform manylinux_2_34_x86_64 \
  --implementation cp --python-version 3.12 --abi cp312 --abi abi3 --abi none \
  --only-binary=:all: --target "$out" "${deps[@]}"

for package in gateway channels policies; do
  cp -R "$package" "$out/$package"
done
# Byte code and caches of the build machine are not shipped (Lambda compiles on first import).
find "$out" -name __pycache__ -type d -prune -exec rm -rf {} +
find "$out" -name '*.pyc' -delete

if [ ! -f "$out/gateway/lambdas.py" ]; then
  echo "package-lambdas: $out/gateway/lambdas.py missing" >&2
  exit 1
fi
size=$(du -sm "$out" | cut -f1)
echo "package-lambdas: $out ready (${size} MB unzipped; Lambda allows 250 MB)" >&2
if [ "$size" -ge 250 ]; then
  echo "package-lambdas: too large for a Lambda code package" >&2
  exit 1
fi
