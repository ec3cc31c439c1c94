#!/bin/sh
# cluster.sh: N linesvr replicas of one file behind HAProxy, on this machine.
#
#   scripts/cluster.sh [options] start [N]        N replicas (default 3)
#   scripts/cluster.sh [options] status           each replica's state and pid
#   scripts/cluster.sh [options] restart-rolling [R ...]
#                                                 restart replicas R (default
#                                                 all) in turn, each drained
#   scripts/cluster.sh [options] stop             stop everything, by PID
#
# Options (or environment):
#   -f FILE   file to serve (CLUSTER_FILE; default data/sample.txt, generated
#             like `make run` when missing). Its index (FILE.lidx) is built
#             once here and shared read-only: replicas run with build = never.
#   -r DIR    run directory: configs, logs, pidfiles, stats socket
#             (CLUSTER_RUN; default build/cluster)
#   -p PORT   HAProxy's port (CLUSTER_PORT; default 10497)
#   -b BASE   replicas listen on 127.0.0.1:BASE+1..BASE+N (CLUSTER_BASE;
#             default 10500)
#   -w N      worker threads per replica (CLUSTER_WORKERS; default 1)
#   -d S      linesvr drain_timeout (CLUSTER_DRAIN_TIMEOUT; default 5)
#   -W S      restart-rolling: wait at most S seconds for a drained
#             replica's sessions to end before SIGTERM (CLUSTER_DRAIN_WAIT;
#             default: the drain timeout)
#   --tls-crt PEM   also serve TLS (certificate chain + key in PEM) on
#   --tls-port P    port P (default 10496)
#   --allow "CIDR ..."  source allow-list (default 127.0.0.0/8)
# Binaries: $B (default build)/linesvr, linesvr-index, linesvr-gendata, or
# LINESVR_BIN, LINESVR_INDEX_BIN, LINESVR_GENDATA_BIN; haproxy from PATH
# or HAPROXY_BIN. status, restart-rolling and stop need only -r: start
# records its settings in DIR/cluster.env.
#
# restart-rolling, per replica: `set server linesvr/rI state drain` (no new
# connections), wait until its sessions are 0 or -W has passed, `state
# maint` (health checks stop, so HAProxy does not cut the sessions that
# linesvr is still answering), SIGTERM (linesvr closes its listener,
# answers every request it has received, closes within drain_timeout),
# wait for it to exit, start it again, wait for "listening on", `state
# ready`, wait until HAProxy sees it UP (rise x inter), then the next.
set -eu

me=cluster.sh
root=$(cd "$(dirname "$0")/.." && pwd)

abspath() {
	case $1 in
	/*) printf '%s\n' "$1" ;;
	*) printf '%s\n' "$PWD/$1" ;;
	esac
}

die() {
	echo "$me: $*" >&2
	exit 1
}

usage() {
	sed -n '2,/^set -eu/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
	exit 2
}

B=${B:-build}
FILE=${CLUSTER_FILE:-}
RUN=${CLUSTER_RUN:-}
PORT=${CLUSTER_PORT:-10497}
BASE=${CLUSTER_BASE:-10500}
WORKERS=${CLUSTER_WORKERS:-1}
DRAIN_TIMEOUT=${CLUSTER_DRAIN_TIMEOUT:-5}
DRAIN_WAIT=${CLUSTER_DRAIN_WAIT:-}
TLS_CRT=${CLUSTER_TLS_CRT:-}
TLS_PORT=${CLUSTER_TLS_PORT:-10496}
ALLOW=${CLUSTER_ALLOW:-127.0.0.0/8}

while [ $# -gt 0 ]; do
	case $1 in
	-f) FILE=$(abspath "$2"); shift 2 ;;
	-r) RUN=$(abspath "$2"); shift 2 ;;
	-p) PORT=$2; shift 2 ;;
	-b) BASE=$2; shift 2 ;;
	-w) WORKERS=$2; shift 2 ;;
	-d) DRAIN_TIMEOUT=$2; shift 2 ;;
	-W) DRAIN_WAIT=$2; shift 2 ;;
	--tls-crt) TLS_CRT=$(abspath "$2"); shift 2 ;;
	--tls-port) TLS_PORT=$2; shift 2 ;;
	--allow) ALLOW=$2; shift 2 ;;
	-h | --help) usage ;;
	-*) echo "$me: unknown option $1" >&2; usage ;;
	*) break ;;
	esac
done
[ $# -ge 1 ] || usage
cmd=$1
shift

[ -n "$RUN" ] || RUN=$root/build/cluster
case $RUN in /*) ;; *) RUN=$(abspath "$RUN") ;; esac
[ -n "$FILE" ] && FILE=$(abspath "$FILE")
[ -n "$TLS_CRT" ] && TLS_CRT=$(abspath "$TLS_CRT")
LINESVR=$(abspath "${LINESVR_BIN:-$root/$B/linesvr}")
INDEXER=$(abspath "${LINESVR_INDEX_BIN:-$root/$B/linesvr-index}")
GENDATA=$(abspath "${LINESVR_GENDATA_BIN:-$root/$B/linesvr-gendata}")
HAPROXY=${HAPROXY_BIN:-haproxy}
SOCK=$RUN/haproxy.sock

# ---- processes ----

# Alive: exists and is not a zombie (an orphan's parent may never reap it).
alive() {
	[ -r "/proc/$1/stat" ] || return 1
	st=$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1) || return 1
	[ -n "$st" ] && [ "$st" != Z ]
}

# The pid in pidfile $1 if that process is alive and its command line holds
# $2 (our config file): a recycled pid is never signalled.
ours() {
	[ -f "$1" ] || return 1
	p=$(cat "$1")
	alive "$p" || return 1
	tr '\0' ' ' < "/proc/$p/cmdline" 2>/dev/null | grep -qF -- "$2" ||
	    return 1
	echo "$p"
}

# Monotonic time in tenths of a second (Linux: /proc/uptime).
now_ds() {
	awk '{ printf "%d\n", $1 * 10 }' /proc/uptime
}

# Wait until pid $1 has exited, at most $2 tenths of a second.
wait_gone() {
	end=$(($(now_ds) + $2))
	while alive "$1"; do
		[ "$(now_ds)" -lt "$end" ] || return 1
		sleep 0.05
	done
}

# ---- the runtime API ----

cli() {
	if command -v socat >/dev/null 2>&1; then
		printf '%s\n' "$1" | socat -t 2 - "UNIX-CONNECT:$SOCK"
	elif nc -h 2>&1 | grep -q -- '-U'; then
		printf '%s\n' "$1" | nc -N -U "$SOCK"
	else
		python3 - "$SOCK" "$1" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(2)
s.connect(sys.argv[1])
s.sendall(sys.argv[2].encode() + b"\n")
while True:
    b = s.recv(65536)
    if not b:
        break
    sys.stdout.buffer.write(b)
PY
	fi
}

# "name|status|scur" per server of backend linesvr, from `show stat`
# (a status may hold a space: "UP 1/3" is UP with a failed check).
servers() {
	cli "show stat linesvr 4 -1" 2>/dev/null | awk -F, '
	    /^# / { sub(/^# /, ""); for (i = 1; i <= NF; i++) col[$i] = i; next }
	    NF > 1 && $col["svname"] != "BACKEND" {
		print $col["svname"] "|" $col["status"] "|" $col["scur"] }'
}

# Field $2 (2 status, 3 sessions) of server $1.
server_field() {
	servers | awk -F'|' -v s="$1" -v f="$2" '$1 == s { print $f }'
}

# Wait until server $1's status is $2, at most $3 tenths of a second.
wait_status() {
	end=$(($(now_ds) + $3))
	while [ "$(server_field "$1" 2)" != "$2" ]; do
		[ "$(now_ds)" -lt "$end" ] || return 1
		sleep 0.05
	done
}

set_state() {
	out=$(cli "set server linesvr/$1 state $2")
	[ -z "$out" ] || die "set server linesvr/$1 state $2: $out"
}

# ---- replicas ----

write_ini() {
	cat > "$RUN/r$1.ini" <<EOF
; replica r$1, written by cluster.sh
[server]
file = $FILE
bind = 127.0.0.1
port = $((BASE + $1))
workers = $WORKERS
drain_timeout = $DRAIN_TIMEOUT
; HAProxy connects from loopback: a client through it must not be able to
; stop a replica with SHUTDOWN (cluster.sh stops them by signal).
shutdown = off

[index]
path = $FILE.lidx
; built once by cluster.sh, shared read-only by every replica
build = never

[log]
file = -
EOF
}

# Start replica $1 and wait until it logs "listening on" (at most 30 s).
start_replica() {
	log=$RUN/r$1.log
	[ -f "$log" ] && cat "$log" >> "$log.old"
	: > "$log"
	"$LINESVR" -c "$RUN/r$1.ini" < /dev/null >> "$log" 2>&1 &
	echo $! > "$RUN/r$1.pid"
	p=$!
	end=$(($(now_ds) + 300))
	while ! grep -q "listening on" "$log"; do
		if ! alive "$p" || [ "$(now_ds)" -ge "$end" ]; then
			echo "$me: replica r$1 did not start (port $((BASE + $1))):" >&2
			tail -n 5 "$log" >&2
			return 1
		fi
		sleep 0.05
	done
}

# SIGTERM replica $1 (a graceful drain) and wait, bounded by drain_timeout.
stop_replica() {
	p=$(ours "$RUN/r$1.pid" "$RUN/r$1.ini") || { rm -f "$RUN/r$1.pid"; return 0; }
	kill -TERM "$p" 2>/dev/null || true
	if ! wait_gone "$p" $(((DRAIN_TIMEOUT + 3) * 10)); then
		echo "$me: r$1 (pid $p) still running after drain_timeout: SIGKILL" >&2
		kill -KILL "$p" 2>/dev/null || true
		wait_gone "$p" 50 || true
	fi
	rm -f "$RUN/r$1.pid"
}

# ---- HAProxy ----

# The runtime config: conf/haproxy.cfg with this cluster's front port,
# stats socket, allow-list, servers and, with a certificate, the #tls lines.
write_haproxy_cfg() {
	awk -v port="$PORT" -v sock="$SOCK" -v n="$N" -v base="$BASE" \
	    -v allow="$ALLOW" -v crt="$TLS_CRT" -v tlsport="$TLS_PORT" '
	    /^#tls / { if (crt == "") { print; next } sub(/^#tls /, "") }
	    /^[ \t]*stats socket / { sub(/socket [^ ]+/, "socket " sock) }
	    /^[ \t]*bind .* ssl crt / {
		sub(/bind [^ ]+/, "bind 127.0.0.1:" tlsport)
		sub(/crt [^ ]+/, "crt " crt)
	    }
	    /^[ \t]*bind 127\.0\.0\.1:10497/ { sub(/:10497/, ":" port) }
	    /^[ \t]*acl allowed_src src / { sub(/ src .*/, " src " allow) }
	    /^[ \t]*server r[0-9]+ / {
		if (!done)
			for (i = 1; i <= n; i++)
				printf "    server r%d 127.0.0.1:%d\n", i, base + i
		done = 1
		next
	    }
	    { print }' "$root/conf/haproxy.cfg" > "$RUN/haproxy.cfg"
}

# ---- commands ----

save_env() {
	q() { printf "%s='%s'\n" "$1" "$(printf '%s' "$2" | sed "s/'/'\\\\''/g")"; }
	{
		q N "$N"; q FILE "$FILE"; q PORT "$PORT"; q BASE "$BASE"
		q WORKERS "$WORKERS"; q DRAIN_TIMEOUT "$DRAIN_TIMEOUT"
		q DRAIN_WAIT "$DRAIN_WAIT"; q TLS_CRT "$TLS_CRT"
		q TLS_PORT "$TLS_PORT"; q ALLOW "$ALLOW"; q LINESVR "$LINESVR"
		q HAPROXY "$HAPROXY"
	} > "$RUN/cluster.env"
}

load_env() {
	[ -f "$RUN/cluster.env" ] || die "no cluster in $RUN (start one first)"
	drain_wait_opt=$DRAIN_WAIT
	# shellcheck disable=SC1091
	. "$RUN/cluster.env"
	[ -z "$drain_wait_opt" ] || DRAIN_WAIT=$drain_wait_opt
	[ -n "$DRAIN_WAIT" ] || DRAIN_WAIT=$DRAIN_TIMEOUT
}

do_start() {
	N=${1:-3}
	case $N in '' | *[!0-9]*) die "start: N must be a number" ;; esac
	[ "$N" -ge 1 ] || die "start: N must be at least 1"
	command -v "$HAPROXY" >/dev/null 2>&1 ||
	    die "haproxy not found (apt-get install haproxy)"
	mkdir -p "$RUN"
	if [ -f "$RUN/haproxy.pid" ] &&
	    ours "$RUN/haproxy.pid" "$RUN/haproxy.cfg" >/dev/null; then
		die "a cluster already runs in $RUN (stop it first)"
	fi
	if [ -z "$FILE" ]; then
		FILE=$root/data/sample.txt
		if [ ! -f "$FILE" ]; then
			echo "$me: generating $FILE (1,000,000 lines)"
			mkdir -p "$root/data"
			"$GENDATA" -n 1000000 -s 1 --numbered -o "$FILE"
		fi
	fi
	[ -f "$FILE" ] || die "no file $FILE"
	if ! "$INDEXER" --check "$FILE" > /dev/null 2>&1; then
		"$INDEXER" "$FILE"
	fi
	[ -n "$DRAIN_WAIT" ] || DRAIN_WAIT=$DRAIN_TIMEOUT
	save_env
	i=1
	while [ "$i" -le "$N" ]; do
		write_ini "$i"
		if ! start_replica "$i"; then
			do_stop > /dev/null
			exit 1
		fi
		i=$((i + 1))
	done
	write_haproxy_cfg
	if ! "$HAPROXY" -c -q -f "$RUN/haproxy.cfg"; then
		do_stop > /dev/null
		die "invalid $RUN/haproxy.cfg"
	fi
	rm -f "$SOCK"
	"$HAPROXY" -db -f "$RUN/haproxy.cfg" < /dev/null > "$RUN/haproxy.log" 2>&1 &
	echo $! > "$RUN/haproxy.pid"
	i=1
	while [ "$i" -le "$N" ]; do
		if ! wait_status "r$i" UP 100; then
			echo "$me: r$i not UP in HAProxy after 10 s:" >&2
			tail -n 5 "$RUN/haproxy.log" >&2
			do_stop > /dev/null
			exit 1
		fi
		i=$((i + 1))
	done
	echo "$me: $N replicas of $FILE behind HAProxy on 127.0.0.1:$PORT" \
	    "(pid $(cat "$RUN/haproxy.pid"))"
	[ -z "$TLS_CRT" ] || echo "$me: TLS on 127.0.0.1:$TLS_PORT"
	do_status
}

do_status() {
	load_env
	if hp=$(ours "$RUN/haproxy.pid" "$RUN/haproxy.cfg"); then
		echo "haproxy 127.0.0.1:$PORT pid $hp"
		st=$(servers)
	else
		echo "haproxy not running"
		st=
	fi
	bad=0
	i=1
	while [ "$i" -le "$N" ]; do
		if p=$(ours "$RUN/r$i.pid" "$RUN/r$i.ini"); then
			pid="pid $p"
		else
			pid="not running"
			bad=1
		fi
		line=$(printf '%s\n' "$st" | awk -F'|' -v s="r$i" '$1 == s')
		state=$(printf '%s\n' "$line" | cut -d'|' -f2)
		sess=$(printf '%s\n' "$line" | cut -d'|' -f3)
		printf 'r%d 127.0.0.1:%d %-8s sessions %-5s %s\n' "$i" \
		    $((BASE + i)) "${state:-?}" "${sess:-?}" "$pid"
		i=$((i + 1))
	done
	[ -n "${hp:-}" ] && [ "$bad" -eq 0 ]
}

do_restart_rolling() {
	load_env
	ours "$RUN/haproxy.pid" "$RUN/haproxy.cfg" > /dev/null ||
	    die "haproxy is not running in $RUN"
	list=$*
	[ -n "$list" ] || list=$(seq 1 "$N")
	for i in $list; do
		case $i in '' | *[!0-9]*) die "restart-rolling: bad replica $i" ;; esac
		if [ "$i" -lt 1 ] || [ "$i" -gt "$N" ]; then
			die "restart-rolling: no replica r$i"
		fi
		t0=$(now_ds)
		set_state "r$i" drain
		end=$((t0 + DRAIN_WAIT * 10))
		while [ "$(server_field "r$i" 3)" != 0 ] &&
		    [ "$(now_ds)" -lt "$end" ]; do
			sleep 0.05
		done
		left=$(server_field "r$i" 3)
		# Health checks stop in maint: HAProxy will not mark the
		# replica DOWN and cut sessions linesvr is still answering.
		set_state "r$i" maint
		stop_replica "$i"
		t1=$(now_ds)
		if ! start_replica "$i"; then
			set_state "r$i" ready
			die "r$i failed to restart: left in HAProxy's rotation as DOWN"
		fi
		set_state "r$i" ready
		wait_status "r$i" UP 100 || die "r$i not UP after 10 s"
		t2=$(now_ds)
		awk -v i="$i" -v l="$left" -v a="$t0" -v b="$t1" -v c="$t2" \
		    'BEGIN { printf "r%d restarted: drained and stopped in %.1f s (%s sessions left after the wait), UP again %.1f s later\n", i, (b - a) / 10, l, (c - b) / 10 }'
	done
}

do_stop() {
	[ -f "$RUN/cluster.env" ] || { echo "$me: nothing to stop in $RUN"; return 0; }
	load_env
	# HAProxy first stops accepting (soft stop, SIGUSR1); its sessions
	# end as the replicas drain them, or at hard-stop-after.
	hp=$(ours "$RUN/haproxy.pid" "$RUN/haproxy.cfg") || hp=
	[ -z "$hp" ] || kill -USR1 "$hp" 2>/dev/null || true
	i=1
	pids=
	while [ "$i" -le "$N" ]; do
		if p=$(ours "$RUN/r$i.pid" "$RUN/r$i.ini"); then
			kill -TERM "$p" 2>/dev/null || true
			pids="$pids $p"
		fi
		i=$((i + 1))
	done
	for p in $pids ${hp:+$hp}; do
		if ! wait_gone "$p" $(((DRAIN_TIMEOUT + 7) * 10)); then
			echo "$me: pid $p still running: SIGKILL" >&2
			kill -KILL "$p" 2>/dev/null || true
			wait_gone "$p" 50 || true
		fi
	done
	i=1
	while [ "$i" -le "$N" ]; do
		rm -f "$RUN/r$i.pid"
		i=$((i + 1))
	done
	rm -f "$RUN/haproxy.pid" "$SOCK"
	echo "$me: stopped"
}

case $cmd in
start) do_start "$@" ;;
status) do_status ;;
restart-rolling) do_restart_rolling "$@" ;;
stop) do_stop ;;
*) usage ;;
esac
