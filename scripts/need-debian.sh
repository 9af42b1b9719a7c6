#!/usr/bin/env bash
# need-debian.sh COMMAND PACKAGE: makes sure COMMAND is on PATH, installing
# the Debian PACKAGE with apt-get when it is missing. Fails loudly when it
# cannot be installed; a test that needs the command never falls back.
set -euo pipefail
command=$1 package=$2

command -v "$command" >/dev/null && exit 0
if [[ $(id -u) != 0 ]] || ! command -v apt-get >/dev/null; then
	echo "scripts/need-debian.sh: $command is missing; install it (Debian: apt-get install $package) and run again" >&2
	exit 1
fi
echo "$command is missing: installing the Debian package $package"
apt-get -o DPkg::Lock::Timeout=300 update -qq
DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq "$package" >/dev/null
command -v "$command" >/dev/null || { echo "scripts/need-debian.sh: apt-get installed no $command" >&2; exit 1; }
