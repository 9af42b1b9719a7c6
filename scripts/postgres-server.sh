#!/usr/bin/env bash
# Start/stop a throwaway PostgreSQL server for the tests (like mongo-server.sh).
#
#   scripts/postgres-server.sh start <statedir>   # prints the connection URL on stdout
#   scripts/postgres-server.sh stop  <statedir>   # idempotent; keeps the data
#   scripts/postgres-server.sh restart <statedir> # the same data on a new port; prints the URL
#
# It installs the Debian package `postgresql` when no initdb is found (apt-get
# update first), creates a cluster in <statedir>/data owned by the postgres
# user (initdb and pg_ctl refuse to run as root), and starts it on a free
# loopback port with its unix socket in <statedir>/socket. Trust
# authentication, user and database `focal`: for tests only.
set -euo pipefail

usage() {
	echo "usage: $0 start|stop|restart <statedir>" >&2
	exit 2
}

[[ $# -eq 2 ]] || usage
cmd=$1
mkdir -p "$2"
statedir=$(cd "$2" && pwd)
data=$statedir/data
socket=$statedir/socket
logfile=$statedir/server.log
urlfile=$statedir/url

# pgbin finds the directory of the installed server's programs (not on PATH
# on Debian).
pgbin() {
	local initdb
	initdb=$(ls -d /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort -V | tail -n 1 || true)
	[[ -n $initdb ]] && dirname "$initdb"
}

# as_owner runs a command as the owner of the cluster: the postgres user
# when this script runs as root, else the caller.
as_owner() {
	if [[ $(id -u) -eq 0 ]]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

install() {
	if [[ -n $(pgbin) ]]; then
		return
	fi
	echo "postgres-server: installing the postgresql package..." >&2
	if [[ $(id -u) -ne 0 ]]; then
		echo "postgres-server: PostgreSQL is not installed and this user cannot apt-get install it" >&2
		exit 1
	fi
	DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
	[[ -n $(pgbin) ]] || {
		echo "postgres-server: initdb not found after installing postgresql" >&2
		exit 1
	}
}

stop() {
	local bin
	bin=$(pgbin || true)
	if [[ -n $bin && -f $data/postmaster.pid ]]; then
		as_owner "$bin/pg_ctl" -D "$data" -m immediate -w -t 30 stop >/dev/null 2>&1 || true
	fi
	rm -f "$urlfile"
}

free_port() {
	python3 - <<'EOF' 2>/dev/null || echo $((20000 + RANDOM % 20000))
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
EOF
}

start() {
	stop
	install
	local bin
	bin=$(pgbin)
	rm -rf "$data" "$socket"
	mkdir -p "$data" "$socket"
	if [[ $(id -u) -eq 0 ]]; then
		chown postgres: "$statedir" "$data" "$socket"
		chmod 700 "$data"
		# The server runs as postgres, which must reach the state directory
		# through every directory above it.
		runuser -u postgres -- test -w "$statedir" || {
			echo "postgres-server: the postgres user cannot reach $statedir: a directory above it is not searchable by others (a mktemp -d directory is mode 700); chmod o+x it, or use another directory" >&2
			exit 1
		}
	fi
	as_owner "$bin/initdb" -D "$data" -A trust -U focal -E UTF8 --no-sync >"$statedir/initdb.log" 2>&1 || {
		cat "$statedir/initdb.log" >&2
		exit 1
	}
	touch "$logfile"
	[[ $(id -u) -eq 0 ]] && chown postgres: "$logfile"
	launch
	as_owner "$bin/createdb" -h "$socket" -p "$port" -U focal focal >&2
	cat "$urlfile"
}

restart() {
	stop
	[[ -f $data/PG_VERSION ]] || {
		echo "postgres-server: no cluster in $data: start one first" >&2
		exit 1
	}
	launch
	cat "$urlfile"
}

# launch starts the cluster in $data on a free port, sets port and writes
# the URL file.
launch() {
	local bin
	bin=$(pgbin)
	# The port is picked here and handed to the server; a clash (another
	# process took it meanwhile) fails the start, which is tried again.
	for _ in 1 2 3 4 5; do
		port=$(free_port)
		if as_owner "$bin/pg_ctl" -D "$data" -l "$logfile" -w -t 60 \
			-o "-p $port -k $socket -c listen_addresses=127.0.0.1 -c max_connections=300 -c fsync=on" start >/dev/null 2>&1; then
			echo "postgres://focal@127.0.0.1:$port/focal?sslmode=disable" >"$urlfile"
			return
		fi
	done
	echo "postgres-server: the server did not start; last lines of $logfile:" >&2
	tail -n 30 "$logfile" >&2
	exit 1
}

case $cmd in
start) start ;;
stop) stop ;;
restart) restart ;;
*) usage ;;
esac
