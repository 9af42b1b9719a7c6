#!/usr/bin/env bash
# Start/stop the embedded-FerretDB MongoDB test server (test/mongoserver).
#
#   scripts/mongo-server.sh start <statedir>   # prints the MongoDB URI on stdout
#   scripts/mongo-server.sh stop  <statedir>   # idempotent
#
# State files in <statedir>: mongoserver (binary), pid, uri, server.log.
set -euo pipefail

usage() {
	echo "usage: $0 start|stop <statedir>" >&2
	exit 2
}

[[ $# -eq 2 ]] || usage
cmd=$1
statedir=$2

# Work from the repo root regardless of the caller's cwd; resolve statedir
# first so a relative path still means "relative to where we were called".
mkdir -p "$statedir"
statedir=$(cd "$statedir" && pwd)
cd "$(dirname "${BASH_SOURCE[0]}")/.."

pidfile=$statedir/pid
urifile=$statedir/uri
logfile=$statedir/server.log

# alive PID: true if the process exists and is not a zombie. The server is
# detached from this script, so once it exits it may linger as a zombie until
# init reaps it (seconds, in some containers), and kill -0 would still succeed.
alive() {
	local stat
	if [[ -r /proc/$1/stat ]]; then
		stat=$(<"/proc/$1/stat") || return 1
		stat=${stat##*) } # state is the first field after "(comm) "
		[[ $stat != Z* ]]
	else
		kill -0 "$1" 2>/dev/null
	fi
}

is_running() {
	[[ -f $pidfile ]] && alive "$(cat "$pidfile")"
}

stop() {
	if is_running; then
		local pid
		pid=$(cat "$pidfile")
		kill -TERM "$pid" 2>/dev/null || true
		# Give the server ~5 s for its graceful shutdown (FerretDB waits up to
		# 3 s for connected clients), then force it.
		for _ in $(seq 50); do
			alive "$pid" || break
			sleep 0.1
		done
		if alive "$pid"; then
			echo "mongo-server: pid $pid ignored SIGTERM, sending SIGKILL" >&2
			kill -KILL "$pid" 2>/dev/null || true
		fi
	fi
	rm -f "$pidfile" "$urifile"
}

fail() {
	echo "mongo-server: $*" >&2
	if [[ -s $logfile ]]; then
		echo "--- last lines of $logfile ---" >&2
		tail -n 30 "$logfile" >&2
	fi
	stop
	exit 1
}

start() {
	# Never leave two servers sharing one statedir, and never let a stale uri
	# file make us report a dead server as ready.
	stop

	echo "mongo-server: building test/mongoserver..." >&2
	(cd test/mongoserver && go build -o "$statedir/mongoserver" .) ||
		fail "build failed"

	"$statedir/mongoserver" -uri-file "$urifile" >"$logfile" 2>&1 &
	echo $! >"$pidfile"

	# The server writes the uri file (atomically) only once it accepts
	# connections, so its presence means ready.
	local deadline=$((SECONDS + 120))
	until [[ -s $urifile ]]; do
		is_running || fail "server exited during start-up"
		((SECONDS < deadline)) || fail "server not ready after 120 s"
		sleep 0.1
	done

	cat "$urifile"
}

case $cmd in
start) start ;;
stop) stop ;;
*) usage ;;
esac
