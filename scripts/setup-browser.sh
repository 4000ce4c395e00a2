#!/usr/bin/env bash
# The UI tests drive Debian's Chromium (Playwright with executable_path; Playwright's own browser
# downloads are not used). Install it when missing and we may.
set -euo pipefail
if command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ]; then
  exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "setup: installing Debian's chromium for the UI tests" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
else
  echo "setup: the UI tests need Chromium at /usr/bin/chromium; on Debian: sudo apt-get install chromium" >&2
  exit 1
fi
