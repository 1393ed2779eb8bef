#!/usr/bin/env bash
# The browser tests drive Debian's Chromium (Playwright cannot download its own here).
set -euo pipefail
# A CJK font too: without one the console's screenshots show empty boxes instead of Chinese.
if [ -x /usr/bin/chromium ] && fc-list :lang=zh 2>/dev/null | grep -q .; then exit 0; fi
if [ "$(id -u)" != 0 ]; then
  echo "chromium or a CJK font is missing: run 'sudo apt-get install -y chromium fonts-wqy-microhei' (browser tests skip without chromium)" >&2
  exit 0
fi
apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-wqy-microhei >/dev/null
