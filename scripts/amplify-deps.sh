#!/usr/bin/env bash
# Make amplify/node_modules match amplify/package-lock.json, and fast when it already can:
#
#   1. node_modules carries a stamp of the lock's sha256: when it matches, nothing to do;
#   2. else a copy saved earlier for that lock hash, in
#      ${WECARE_AMPLIFY_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/wecare/amplify-node_modules}/<sha256>/node_modules,
#      is hard-linked into place (cp -al; a plain copy when the cache is on another filesystem);
#   3. else `npm ci` (from the registry, or npm's own cache), and the result is saved to that cache.
#
# A fresh clone (CI) therefore pays for npm ci once per lock per machine. The hard links share files
# with the cache: never edit files inside amplify/node_modules by hand (npm itself replaces files, so
# `npm install` after this script is fine: it changes the lock and the stamp no longer matches).
set -euo pipefail
cd "$(dirname "$0")/../amplify"

for tool in node npm sha256sum; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "amplify-deps: $tool not found; the Amplify backend needs Node.js 20 or newer with npm" >&2
    exit 1
  fi
done
major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$major" -lt 20 ]; then
  echo "amplify-deps: Node.js 20 or newer is required (found $(node --version))" >&2
  exit 1
fi

want=$(sha256sum package-lock.json | cut -d' ' -f1)
stamp_name=.wecare-lock-sha256
stamp=node_modules/$stamp_name
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -f node_modules/.package-lock.json ]; then
  exit 0
fi

cache_root=${WECARE_AMPLIFY_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/wecare/amplify-node_modules}
cached=$cache_root/$want/node_modules
if [ -f "$cached/$stamp_name" ]; then
  rm -rf node_modules
  if ! cp -al "$cached" node_modules 2>/dev/null; then
    rm -rf node_modules
    cp -a "$cached" node_modules
  fi
  echo "amplify-deps: node_modules restored from $cached" >&2
  exit 0
fi

echo "amplify-deps: npm ci (package-lock.json $want)" >&2
rm -rf node_modules
npm ci --no-audit --no-fund --prefer-offline --loglevel=error
echo "$want" > "$stamp"

# Save a copy for the next checkout; built aside and renamed, so a half-written cache is never used.
if mkdir -p "$cache_root" 2>/dev/null; then
  tmp=$(mktemp -d "$cache_root/.partial.XXXXXX")
  if cp -al node_modules "$tmp/node_modules" 2>/dev/null || { rm -rf "$tmp/node_modules" && cp -a node_modules "$tmp/node_modules"; }; then
    if mv -T "$tmp" "$cache_root/$want" 2>/dev/null; then
      echo "amplify-deps: saved to $cached" >&2
    fi
  fi
  rm -rf "$tmp"
  # Keep the three most recent locks' copies; older ones only take space.
  ls -1dt "$cache_root"/*/ 2>/dev/null | tail -n +4 | xargs -r rm -rf
fi
