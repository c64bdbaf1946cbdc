#!/usr/bin/env bash
# bench/calls/run.sh: calls through locus and through Kamailio, side by side.
#
# A sipp callee registers through the proxy, then a sipp caller places
# calls to it at fixed rates (INVITE/100/180/200/ACK/BYE/200, every
# request through the proxy, record-routed). For each server and rate it
# prints the achieved rate, failed calls, retransmissions, the proxy's CPU
# per call (utime+stime of every server process from /proc, before and
# after, divided by successful calls), p50/p99 of INVITE→200 as the caller
# saw it, and the ratios locus/Kamailio. Each step is bounded in calls and
# time. At every rate the two servers take turns on the same cores, each
# started afresh (the callee registers again), the one that goes first
# alternating; with REPEAT=N every rate runs N times per server and the
# summary gives the medians, and the median (and range) of the ratios of
# the runs paired in order.
#
#   bench/calls/run.sh
#   RATES="100 300" STEP_SECS=5 REPEAT=3 bench/calls/run.sh
#
# Knobs: RATES (calls/s, default "200 500"), STEP_SECS (5), REPEAT (1),
# SERVERS ("locus kamailio"), KAM_CHILDREN (2), PORT (5380; the proxy,
# callee and caller use PORT..PORT+3), KEEP=1 keeps the temp dir.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
HERE=$ROOT/bench/calls
DATA=$ROOT/cmd/locus/testdata
RATES=${RATES:-200 500}
STEP_SECS=${STEP_SECS:-5}
REPEAT=${REPEAT:-1}
SERVERS=${SERVERS:-locus kamailio}
KAM_CHILDREN=${KAM_CHILDREN:-2}
PORT=${PORT:-5380}
UAS_PORT=$((PORT + 1))
UAC_PORT=$((PORT + 2))
REG_PORT=$((PORT + 3))
HZ=$(getconf CLK_TCK)

need() { command -v "$1" >/dev/null 2>&1; }
if ! need sipp || { [[ " $SERVERS " == *" kamailio "* ]] && ! need kamailio; }; then
	pkgs=()
	need sipp || pkgs+=(sip-tester)
	[[ " $SERVERS " == *" kamailio "* ]] && ! need kamailio && pkgs+=(kamailio)
	SUDO=$([ "$(id -u)" = 0 ] || echo sudo)
	$SUDO apt-get update -qq && $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
fi

OUT=$(mktemp -d /tmp/locus-calls.XXXXXX)
SERVER_PID=""
UAS_PID=""
cleanup() {
	[ -n "$UAS_PID" ] && kill "$UAS_PID" 2>/dev/null || true
	stop_server
	[ "${KEEP:-}" = 1 ] && echo "kept $OUT" >&2 || rm -rf "$OUT"
}
trap cleanup EXIT

(cd "$ROOT" && go build -o "$OUT/locus" ./cmd/locus)

# cpu_ticks PID...: utime+stime of the processes and their children alive now.
cpu_ticks() {
	local t=0 p
	for p in "$@" $(for q in "$@"; do pgrep -P "$q" || true; done); do
		[ -r /proc/"$p"/stat ] || continue
		t=$((t + $(awk '{print $14 + $15}' /proc/"$p"/stat)))
	done
	echo "$t"
}

start_server() { # start_server locus|kamailio
	if [ "$1" = locus ]; then
		"$OUT/locus" run --listen "udp:127.0.0.1:$PORT" --script "$HERE/route.lua" --store memory: \
			--admin off --log-level warn >"$OUT/locus.log" 2>&1 &
		SERVER_PID=$!
	else
		kamailio -f "$HERE/proxy.cfg" -DD -E -m 256 -M 16 -x fm -A "PORT=$PORT" -A "CHILDREN=$KAM_CHILDREN" \
			>"$OUT/kamailio.log" 2>&1 &
		SERVER_PID=$!
	fi
	for _ in $(seq 50); do
		if ss -Hlun "sport = :$PORT" | grep -q .; then return; fi
		sleep 0.1
	done
	echo "$1 did not start" >&2
	exit 1
}

stop_server() {
	[ -n "$SERVER_PID" ] || return 0
	kill "$SERVER_PID" 2>/dev/null || true
	wait "$SERVER_PID" 2>/dev/null || true
	SERVER_PID=""
}

# pct FILE P: the P-th percentile of the numbers in FILE (one per line);
# sipp measures response times in whole milliseconds.
pct() { sort -n "$1" | awk -v p="$2" '{a[NR] = $1} END {if (NR == 0) {print "-"; exit} i = int(NR * p / 100 + 0.5); if (i < 1) i = 1; if (i > NR) i = NR; printf "%.2f", a[i]}'; }

# stat FILE FIELD: the last value of a sipp -trace_stat column.
stat() { awk -F';' -v f="$2" 'NR == 1 {for (i = 1; i <= NF; i++) if ($i == f) c = i; next} {v = $c} END {print v + 0}' "$1"; }

ROWS=$OUT/rows.tsv
: >"$ROWS"

# step SERVER RATE: start the server, register the callee, place RATE *
# STEP_SECS calls, stop the server; one row in $ROWS.
step() {
	local srv=$1 rate=$2 run=$3
	local calls=$((rate * STEP_SECS)) dir=$OUT/$srv-$rate-$run
	start_server "$srv"
	printf 'SEQUENTIAL\ncallee;127.0.0.1:%s\n' "$UAS_PORT" >"$OUT/reg.csv"
	sipp 127.0.0.1:"$PORT" -sf "$DATA/e2e_register.xml" -inf "$OUT/reg.csv" -m 1 -i 127.0.0.1 -p "$REG_PORT" \
		-nostdin -timeout 10s -timeout_error >/dev/null 2>&1 || { echo "$srv: the callee did not register" >&2; exit 1; }
	mkdir -p "$dir"
	(cd "$dir" && exec timeout $((STEP_SECS * 4 + 20)) sipp -sf "$DATA/e2e_call_uas.xml" -i 127.0.0.1 -p "$UAS_PORT" \
		-m "$calls" -nostdin -recv_timeout 5000 >/dev/null 2>&1) &
	UAS_PID=$!
	printf 'SEQUENTIAL\n' >"$dir/calls.csv"
	for _ in $(seq "$calls"); do echo callee; done >>"$dir/calls.csv"
	local t0 t1
	t0=$(cpu_ticks "$SERVER_PID")
	(cd "$dir" && timeout $((STEP_SECS * 4 + 15)) sipp 127.0.0.1:"$PORT" -sf "$DATA/e2e_call_uac.xml" -inf calls.csv \
		-i 127.0.0.1 -p "$UAC_PORT" -r "$rate" -m "$calls" -l $((rate * 2)) -nostdin -recv_timeout 5000 \
		-trace_stat -stf stat.csv -fd 1 -trace_rtt -rtt_freq 1 >/dev/null 2>&1) || true
	t1=$(cpu_ticks "$SERVER_PID")
	# The callee ends with the last call; it is stopped when a failed
	# call left it waiting.
	for _ in $(seq 30); do kill -0 "$UAS_PID" 2>/dev/null || break; sleep 0.1; done
	kill "$UAS_PID" 2>/dev/null || true
	wait "$UAS_PID" 2>/dev/null || true
	UAS_PID=""
	stop_server
	local ok failed retrans us
	ok=$(stat "$dir/stat.csv" "SuccessfulCall(C)")
	failed=$(stat "$dir/stat.csv" "FailedCall(C)")
	retrans=$(stat "$dir/stat.csv" "Retransmissions(C)")
	awk -F';' 'NR > 1 {print $2}' "$dir"/*_rtt.csv >"$dir/rtt.txt" 2>/dev/null || : >"$dir/rtt.txt"
	us=$(awk -v d=$((t1 - t0)) -v hz="$HZ" -v n="$ok" 'BEGIN {printf "%.0f", (n > 0 ? d * 1e6 / hz / n : 0)}')
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$srv" "$rate" "$ok" "$failed" "$retrans" "$us" \
		"$(pct "$dir/rtt.txt" 50)" "$(pct "$dir/rtt.txt" 99)" >>"$ROWS"
}

turn=0
for rate in $RATES; do
	for run in $(seq "$REPEAT"); do
		order=$SERVERS
		if [ $((turn % 2)) = 1 ]; then order=$(echo "$SERVERS" | awk '{for (i = NF; i > 0; i--) printf "%s ", $i}'); fi
		turn=$((turn + 1))
		for srv in $order; do step "$srv" "$rate" "$run"; done
	done
done

echo
echo "Calls through the proxy (INVITE/100/180/200/ACK/BYE/200), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo
printf '| server | offered calls/s | ok | failed | retransmissions | proxy CPU µs/call | INVITE→200 p50 ms | p99 ms (1 ms resolution) |\n'
printf '| --- | --- | --- | --- | --- | --- | --- | --- |\n'
awk -F'\t' '{printf "| %s | %s | %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5, $6, $7, $8}' "$ROWS"
if [[ " $SERVERS " == *" locus "* && " $SERVERS " == *" kamailio "* ]]; then
	echo
	if [ "$REPEAT" -gt 1 ]; then
		printf '| offered calls/s | CPU µs per call, locus / Kamailio (medians) | CPU per call locus/Kamailio: median of the paired runs (range) |\n| --- | --- | --- |\n'
	else
		printf '| offered calls/s | CPU µs per call, locus / Kamailio | CPU per call locus/Kamailio |\n| --- | --- | --- |\n'
	fi
	awk -F'\t' 'function med(x, m,   i, j, t) {
			for (i = 2; i <= m; i++) for (j = i; j > 1 && x[j - 1] > x[j]; j--) {t = x[j]; x[j] = x[j - 1]; x[j - 1] = t}
			return m % 2 ? x[(m + 1) / 2] : (x[m / 2] + x[m / 2 + 1]) / 2 }
		{c = ++n[$1, $2]; cpu[$1, $2, c] = $6; rates[$2] = 1}
		END {for (r in rates) {
			m = n["locus", r] < n["kamailio", r] ? n["locus", r] : n["kamailio", r]
			if (m == 0) continue
			lo = hi = 0
			for (j = 1; j <= m; j++) {
				l[j] = cpu["locus", r, j]; k[j] = cpu["kamailio", r, j]
				x[j] = k[j] > 0 ? l[j] / k[j] : 0
				if (j == 1 || x[j] < lo) lo = x[j]; if (j == 1 || x[j] > hi) hi = x[j]
			}
			ratio = m > 1 ? sprintf("%.2f (%.2f–%.2f)", med(x, m), lo, hi) : sprintf("%.2f", x[1])
			printf "| %s | %.0f / %.0f | %s |\n", r, med(l, m), med(k, m), ratio}}' "$ROWS" | sort -t'|' -k2 -n
fi
