# benchlib.sh: shell functions shared by scripts/bench.sh,
# scripts/targets.sh and the other benchmark scripts. Source it
# (`. scripts/benchlib.sh`), do not run it.
#
# The caller calls bench_root first (sets here and B), provides say MSG...
# and die MSG... (its own message prefix), and keeps PIDS and policy_rc (set
# up here) for its cleanup trap. Every server
# is started on 127.0.0.1 only; every wait below is bounded.
#
# The functions run under the caller's `set -euo pipefail` (repeated here so
# that they never run without it); call them as plain commands, not on the
# left of || or && or inside `if`, where bash would switch off errexit in
# them.
set -euo pipefail
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	echo "benchlib.sh: source this file, do not run it" >&2
	exit 2
fi

# bench_root: cd to the repository root, $here; B = the build directory, made absolute (default build).
bench_root() {
	here=$(cd "$(dirname "$0")/.." && pwd)
	cd "$here"
	B=${B:-build}
	case $B in /*) ;; *) B=$here/$B ;; esac
}

PIDS=()	# background servers, killed by the caller's cleanup trap
policy_rc=	# /usr/sbin/policy-rc.d while we install packages, else empty
need=()	# Debian packages to install, filled by need_cmd

# need_cmd CMD PKG: add PKG to need when CMD is not on PATH.
need_cmd() {
	command -v "$1" >/dev/null 2>&1 || need+=("$2")
}

# install_need NOAPT_TAIL: apt-get install the packages in need (if any); NOAPT_TAIL ends the no-apt-get message.
install_need() {
	[ ${#need[@]} -gt 0 ] || return 0
	command -v apt-get >/dev/null 2>&1 ||
	    die "missing ${need[*]} and no apt-get$1"
	[ "$(id -u)" -eq 0 ] ||
	    die "missing packages; as root: apt-get install ${need[*]}"
	say "installing ${need[*]} (Debian packages)"
	# Do not let the packages start their own redis/memcached services
	# while they install: the scripts start their own, on free ports.
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		policy_rc=/usr/sbin/policy-rc.d
		printf '#!/bin/sh\nexit 101\n' >"$policy_rc"
		chmod +x "$policy_rc"
	fi
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
	if [ -n "$policy_rc" ]; then rm -f "$policy_rc"; policy_rc=; fi
}

# build_bins: make the linesvr binaries in $B when missing; sets BENCH.
build_bins() {
	local prog
	for prog in linesvr linesvr-bench linesvr-gendata linesvr-index linesvr-null; do
		[ -x "$B/$prog" ] || make -s -C "$here" all >&2
		[ -x "$B/$prog" ] || die "no $B/$prog"
	done
	BENCH=$B/linesvr-bench
}

# forget_pid PID: drop PID from PIDS.
forget_pid() {
	local p keep_=()
	for p in "${PIDS[@]}"; do [ "$p" = "$1" ] || keep_+=("$p"); done
	PIDS=("${keep_[@]+"${keep_[@]}"}")
}

# stop_pid PID [BOUND_S]: SIGTERM, up to BOUND_S (default 5) seconds, then SIGKILL; reap it and forget it.
stop_pid() {
	local p=$1
	kill -TERM "$p" 2>/dev/null || true
	for _ in $(seq $((${2:-5} * 10))); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
	kill -KILL "$p" 2>/dev/null || true
	wait "$p" 2>/dev/null || true
	forget_pid "$p"
}
# bench_traps: on exit stop every server in PIDS, remove the policy-rc.d
# file and the caller's $tmp directory, and keep the exit status.
bench_traps() {
	trap bench_cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
}
# bench_stop_all: SIGTERM every server in PIDS at once, then reap each
# (SIGKILL after 3 s), and remove the policy-rc.d file.
bench_stop_all() {
	local p
	for p in "${PIDS[@]+"${PIDS[@]}"}"; do kill -TERM "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]+"${PIDS[@]}"}"; do stop_pid "$p" 3; done
	[ -z "$policy_rc" ] || rm -f "$policy_rc"
}
bench_cleanup() {
	local st=$?
	trap - EXIT INT TERM
	bench_stop_all
	[ -z "${tmp:-}" ] || rm -rf "$tmp"
	exit "$st"
}
# rss_kb PID: private memory (RssAnon) in kB; pages of a mapped file are page cache, not counted.
rss_kb() { awk '/^RssAnon:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo; }

# listening PORT: is something listening on 127.0.0.1:PORT (IPv4)?
listening() {
	local hex
	hex=$(printf '%04X' "$1")
	awk -v h=":$hex" 'NR > 1 && $4 == "0A" && substr($2, length($2) - 4) == h { f = 1 }
	    END { exit !f }' /proc/net/tcp
}

# free_port: print a port below the ephemeral range that nothing listens on.
free_port() {
	local lo p
	lo=$(awk '{ print $1 }' /proc/sys/net/ipv4/ip_local_port_range)
	[ "$lo" -gt 12000 ] || lo=32768
	for _ in $(seq 100); do
		p=$((10000 + RANDOM % (lo - 10000)))
		listening "$p" || { echo "$p"; return; }
	done
	die "no free port found"
}

# linesvr_ini INI FILE [LINES...]: write a [server] section serving FILE on 127.0.0.1 port 0, then LINES.
linesvr_ini() {
	local ini=$1 file=$2 l
	shift 2
	{
		echo "[server]"
		echo "file = $file"
		echo "bind = 127.0.0.1"
		echo "port = 0"
		for l in "$@"; do echo "$l"; done
	} >"$ini"
}

# sample_1m NAME: set F to the 1,000,000-line sample (~100-byte lines, seed
# 1) and its index in $data, reused when $keepdir is set and both exist.
sample_1m() {
	F=$data/$1
	if [ -n "$keepdir" ] && [ -s "$F" ] && [ -s "$F.lidx" ]; then
		say "reusing $F"
	else
		say "generating $F (1,000,000 lines, seed 1) and its index"
		"$B/linesvr-gendata" -n 1000000 -s 1 -o "$F"
		"$B/linesvr-index" -q "$F"
	fi
}

# launch LOG BOUND_S CMD...: run CMD in the background until its log says
# "listening on 127.0.0.1:PORT" (at most BOUND_S seconds); set SPID and PORT.
launch() {
	local log=$1 bound=$2
	shift 2
	: >"$log"	# exists before the child opens it: no race with sed below
	"$@" >>"$log" 2>&1 &
	SPID=$!
	PIDS+=("$SPID")
	PORT=
	for _ in $(seq $((bound * 100))); do
		PORT=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9][0-9]*\).*/\1/p' "$log" 2>/dev/null | head -n1 || true)
		[ -n "$PORT" ] && break
		kill -0 "$SPID" 2>/dev/null || break
		sleep 0.01
	done
	[ -n "$PORT" ] || { cat "$log" >&2; die "$1 did not start within $bound s"; }
}

# launch_linesvr INI LOG WHAT: start linesvr with INI on 127.0.0.1 port 0; set SPID and PORT.
launch_linesvr() {
	launch "$2" 10 "$B/linesvr" -c "$1" -p 0 -b 127.0.0.1
}

# start_kv NAME LOG CMD...: run CMD (@PORT@ replaced by a free port) in the background until it listens, up to 5 ports; set SPID and PORT.
start_kv() {
	local name=$1 log=$2 try p a args
	shift 2
	for try in 1 2 3 4 5; do
		p=$(free_port)
		args=()
		for a in "$@"; do args+=("${a//@PORT@/$p}"); done
		: >"$log"
		"${args[@]}" >>"$log" 2>&1 &
		SPID=$!
		PIDS+=("$SPID")
		for _ in $(seq 500); do
			listening "$p" && break
			kill -0 "$SPID" 2>/dev/null || break
			sleep 0.01
		done
		if kill -0 "$SPID" 2>/dev/null && listening "$p"; then
			PORT=$p
			return 0
		fi
		stop_pid "$SPID"
	done
	cat "$log" >&2
	die "$name did not start"
}

# start_redis LOG [ARGS...]: a Redis without persistence on a free port of
# 127.0.0.1 (ARGS added to its command line); set SPID and PORT.
start_redis() {
	local log=$1
	shift
	start_kv redis-server "$log" redis-server --port @PORT@ --bind 127.0.0.1 \
	    --save '' --appendonly no --daemonize no "$@"
}

# start_memcached LOG [ARGS...]: memcached on a free port of 127.0.0.1, TCP
# only, 1 GB of memory, items up to 2 MB; set SPID and PORT.
start_memcached() {
	local log=$1
	shift
	start_kv memcached "$log" memcached -u nobody -l 127.0.0.1 -p @PORT@ -U 0 \
	    -m 1024 -I 2m "$@"
}

# load_kv NAME FILE: store FILE's lines as keys 1..N in the Redis or
# memcached (NAME) at $PORT, pid $SPID (scripts/load-kv.sh).
load_kv() {
	say "$1: loading $(basename "$2") as keys 1..N"
	LINESVR_BENCH_BIN=$BENCH timeout -k 5 300 "$here/scripts/load-kv.sh" "$2" \
	    --"$1" "$PORT" >&2 || die "$1: loading failed"
	say "$1: pid $SPID, 127.0.0.1:$PORT, RssAnon after loading: $(rss_kb "$SPID") kB"
}
