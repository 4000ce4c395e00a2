#!/usr/bin/env bash
# The UI tests drive Debian's Chromium (Playwright with executable_path; Playwright's own browser
# downloads are not used). Install it when missing and we may.
#
# The UI's own Latin face ships with it (gateway/ui/fonts/); CJK and emoji fall back to the system's
# fonts, so the browser tests also install Debian's Noto CJK and colour emoji fonts when missing, so
# that the screenshots show those characters rather than empty boxes. A machine where they cannot be
# installed still runs the tests (nothing asserts on CJK glyphs); it only says so.
set -euo pipefail

as_root_with_apt() { [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; }

updated=0
apt_install() {
  if [ "$updated" = 0 ]; then
    apt-get update -qq
    updated=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

if ! command -v chromium >/dev/null 2>&1 && [ ! -x /usr/bin/chromium ]; then
  if as_root_with_apt; then
    echo "setup: installing Debian's chromium for the UI tests" >&2
    apt_install chromium
  else
    echo "setup: the UI tests need Chromium at /usr/bin/chromium; on Debian: sudo apt-get install chromium" >&2
    exit 1
  fi
fi

# fonts-noto-cjk: "Noto Sans CJK SC/TC/JP/KR"; fonts-noto-color-emoji: "Noto Color Emoji".
missing=()
for pkg in fonts-noto-cjk fonts-noto-color-emoji; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done
if [ ${#missing[@]} -gt 0 ]; then
  if as_root_with_apt && apt_install "${missing[@]}"; then
    echo "setup: installed ${missing[*]} for the UI's CJK and emoji fallback" >&2
  else
    echo "setup: could not install ${missing[*]} (CJK / emoji will render with whatever fonts this" \
      "machine has); on Debian: sudo apt-get install ${missing[*]}" >&2
  fi
fi
