#!/usr/bin/env bash
# Installs the pinned test tools of package.json (Redocly CLI, Portman,
# Newman) into test/tools/node_modules with `npm ci`, once per lock file:
# a later run with the same package-lock.json does nothing. Fails loudly
# when Node.js or npm is missing and cannot be installed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
	if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
		echo "Node.js or npm is missing: installing the Debian packages nodejs and npm"
		apt-get update -qq
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
	fi
fi
for tool in node npm; do
	command -v "$tool" >/dev/null || { echo "test/tools/install.sh: $tool is required (install Node.js 20 or newer)" >&2; exit 1; }
done

stamp=node_modules/.focal-lock
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [[ -f $stamp && $(cat "$stamp") == "$want" ]]; then
	exit 0
fi
npm ci --no-audit --no-fund --loglevel=error
echo "$want" >"$stamp"
