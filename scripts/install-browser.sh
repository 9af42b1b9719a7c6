#!/usr/bin/env bash
# Makes sure a Chromium for the browser tests (test/browser) is installed:
# the Debian package `chromium`, installed with apt-get when missing. Fails
# loudly when it cannot be installed.
set -euo pipefail

for name in chromium chromium-browser; do
	if command -v "$name" >/dev/null; then
		exit 0
	fi
done
if [[ $(id -u) != 0 ]] || ! command -v apt-get >/dev/null; then
	echo "scripts/install-browser.sh: Chromium is missing; install it (Debian: apt-get install chromium) and run again" >&2
	exit 1
fi
echo "Chromium is missing: installing the Debian package chromium"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
command -v chromium >/dev/null || { echo "scripts/install-browser.sh: apt-get installed no chromium binary" >&2; exit 1; }
