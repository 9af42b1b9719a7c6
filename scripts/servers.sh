# Sourced by test.sh, bench.sh and chaos.sh: the test servers a run uses.
#
# use_server VAR SCRIPT DIR: unless VAR is set already, starts a test
# server with SCRIPT (scripts/mongo-server.sh or scripts/postgres-server.sh)
# in DIR and exports its address as VAR. A server that does not start ends
# the run, saying which and how to use another instead.
#
# stop_servers stops the servers use_server started; callers run it on EXIT.
started_servers=()
use_server() {
	local var=$1 script=$2 dir=$3 addr
	if [[ -n ${!var:-} ]]; then return 0; fi
	started_servers+=("$script $dir") # stopped even if its start fails half-way
	addr=$("$script" start "$dir") || {
		echo "$script did not start a server in $dir (its output is above); set $var to use another" >&2
		exit 1
	}
	export "$var=$addr"
}
stop_servers() {
	local s script dir
	for s in "${started_servers[@]}"; do
		read -r script dir <<<"$s"
		"$script" stop "$dir" >/dev/null 2>&1 || true
	done
}
