#!/usr/bin/env bash
# bench/run.sh: locus and Kamailio side by side under the same sipp load.
#
# Builds locus, installs sipp and Kamailio from Debian when missing, starts
# both servers on loopback and drives the same sipp scenarios against each,
# alternating them at every offered rate, then prints one table with the
# ratios locus/Kamailio. Every load step is bounded in calls and in time.
#
#   bench/run.sh                        the default run (about 5 minutes on 2 cores)
#   STORE=sqlite bench/run.sh           locus on a SQLite store in the run's temp dir
#   MEM_AORS=1000000 bench/run.sh       memory per binding with a million AoRs
#
# Knobs (environment):
#   STORE=memory:            locus store DSN; "sqlite" = sqlite:TMPDIR/locus.db
#   SERVERS="locus kamailio" which servers to run
#   SCENARIOS="noauth auth refresh"
#   RATES="1000 2000 4000 8000"   offered calls/s of the fixed-rate steps
#   REPEAT=1                 runs of each step per server, alternating; the ratios
#                            are then the median of the paired runs (and their range)
#   STEP_SECS=5              seconds per fixed-rate step (calls = rate * STEP_SECS)
#   SAT_RATE=20000 SAT_SECS=4     the saturation step (SAT_RATE=0 skips it)
#   USERS=100000             users of the auth scenario (userN / pwN)
#   REFRESH_USERS=2000       users that re-register over and over in "refresh"
#   MEM_AORS=100000 MEM_RATE=8000 distinct AoRs of the memory step (0 skips it)
#   RELOAD_SECS=10 RELOAD_RATE=2000   script reload under load (0 skips it)
#   LAT_SECS=5 LAT_RATE=2000 latency from a capture on lo (tcpdump), noauth and auth (0 skips it)
#   PORT=5290                locus SIP port; admin PORT+1, Kamailio PORT+2, sipp PORT+3..
#   KAMAILIO_ANCHOR=DIR      Kamailio anchor (default ../shared/anchors/kamailio); when it
#                            is absent, bench/kamailio/registrar.cfg is used
#   KAM_OPTS="-x fm"         extra kamailio options (fm: the tuned shm allocator)
#   KAM_CHILDREN=2           Kamailio UDP worker processes
#   KAM_LUA=0                1: Kamailio routes with KEMI Lua (app_lua) instead of its
#                            native script: the anchor's registrar.lua for "auth",
#                            bench/kamailio/noauth.lua otherwise (needs the anchor)
#   LOCUS_ENV=""             environment for locus, e.g. "GOGC=200"
#   LOCUS_CONFIG=""          top-level YAML added to locus's configuration,
#                            e.g. "sip: {udp_max_queue_delay: 200ms}"
#   RESULTS=FILE             also write the tables (markdown) to FILE
#   SIPP_CPUS=""             pin sipp to these CPUs (taskset list, e.g. 0); the servers stay
#                            free. Unset, the kernel places sipp beside the server as it likes
#   KEEP=1                   keep the temp dir (logs, sipp files)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BENCH=$ROOT/bench
STORE=${STORE:-memory:}
SERVERS=${SERVERS:-locus kamailio}
SCENARIOS=${SCENARIOS:-noauth auth refresh}
RATES=${RATES:-1000 2000 4000 8000}
REPEAT=${REPEAT:-1}
STEP_SECS=${STEP_SECS:-5}
SAT_RATE=${SAT_RATE:-20000}
SAT_SECS=${SAT_SECS:-4}
USERS=${USERS:-100000}
REFRESH_USERS=${REFRESH_USERS:-2000}
MEM_AORS=${MEM_AORS:-100000}
MEM_RATE=${MEM_RATE:-8000}
RELOAD_SECS=${RELOAD_SECS:-10}
RELOAD_RATE=${RELOAD_RATE:-2000}
LAT_SECS=${LAT_SECS:-5}
LAT_RATE=${LAT_RATE:-2000}
PORT=${PORT:-5290}
ANCHOR=${KAMAILIO_ANCHOR:-$ROOT/../shared/anchors/kamailio}
KAM_OPTS=${KAM_OPTS:--x fm}
KAM_CHILDREN=${KAM_CHILDREN:-2}
KAM_LUA=${KAM_LUA:-0}
LOCUS_ENV=${LOCUS_ENV:-}
LOCUS_CONFIG=${LOCUS_CONFIG:-}
SIPP_CPUS=${SIPP_CPUS:-}
DOMAIN=bench.local

LPORT=$PORT
APORT=$((PORT + 1))
KPORT=$((PORT + 2))
SPORT=$((PORT + 3))
HZ=$(getconf CLK_TCK)
has() { [[ " $SERVERS " == *" $1 "* ]]; }

if [ -d "$ANCHOR/cfg" ] && [ -f "$ANCHOR/cfg/kamailio-bench.cfg" ]; then
	KAM_MODE=anchor
else
	KAM_MODE=own
fi
if [ "$KAM_LUA" = 1 ] && has kamailio && [ "$KAM_MODE" != anchor ]; then
	echo "KAM_LUA=1 needs the Kamailio anchor ($ANCHOR)" >&2
	exit 2
fi

OUT=$(mktemp -d /tmp/locus-bench.XXXXXX)
LOCUS_PID="" KAM_PID="" SIPP_PID="" SAMPLER_PID=""
cleanup() {
	for p in $SAMPLER_PID $SIPP_PID; do kill "$p" 2>/dev/null || true; done
	stop_locus
	stop_kamailio
	if [ "${KEEP:-0}" = 1 ]; then echo "kept $OUT" >&2; else rm -rf "$OUT"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { echo "# $*" >&2; }

# ---- dependencies ---------------------------------------------------------


install_missing() {
	local pkgs=()
	command -v sipp >/dev/null || pkgs+=(sip-tester)
	command -v curl >/dev/null || pkgs+=(curl)
	command -v python3 >/dev/null || pkgs+=(python3)
	[ "$LAT_SECS" -gt 0 ] && ! command -v tcpdump >/dev/null && pkgs+=(tcpdump)
	if has kamailio; then
		command -v kamailio >/dev/null || pkgs+=(kamailio)
		if [ "$KAM_MODE" = anchor ]; then
			ls /usr/lib/*/kamailio/modules/db_sqlite.so >/dev/null 2>&1 || pkgs+=(kamailio-sqlite-modules)
			command -v sqlite3 >/dev/null || pkgs+=(sqlite3)
		fi
		if [ "$KAM_LUA" = 1 ]; then
			ls /usr/lib/*/kamailio/modules/app_lua.so >/dev/null 2>&1 || pkgs+=(kamailio-lua-modules)
		fi
	fi
	[ ${#pkgs[@]} -eq 0 ] && return
	log "installing from Debian: ${pkgs[*]}"
	local sudo=""
	[ "$(id -u)" = 0 ] || sudo=sudo
	$sudo apt-get update -qq
	$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
}
install_missing
# Debian's kamailio package may start a system service; the bench runs its
# own instance on its own ports, so a service does not get in the way.

log "building locus"
(cd "$ROOT" && go build -o "$OUT/locus" ./cmd/locus)

# ---- data -----------------------------------------------------------------

log "generating users in $OUT"
awk -v n="$USERS" 'BEGIN { print "SEQUENTIAL"; for (i = 0; i < n; i++) printf "user%d;pw%d;[authentication username=user%d password=pw%d]\n", i, i, i, i }' > "$OUT/users.csv"
awk -v n="$REFRESH_USERS" 'BEGIN { print "SEQUENTIAL"; for (i = 0; i < n; i++) printf "user%d;pw%d\n", i, i }' > "$OUT/refresh.csv"
# locus's credentials file: user:realm:MD5 HA1, as "locus users add" writes it.
python3 - "$USERS" "$DOMAIN" > "$OUT/users.htdigest" <<'EOF'
import hashlib, sys
n, realm = int(sys.argv[1]), sys.argv[2]
for i in range(n):
    u = "user%d" % i
    print("%s:%s:%s" % (u, realm, hashlib.md5(("%s:%s:pw%d" % (u, realm, i)).encode()).hexdigest()))
EOF
chmod 600 "$OUT/users.htdigest"
if has kamailio && [ "$KAM_MODE" = anchor ]; then
	# The anchor's auth_db reads a SQLite subscriber table (plain passwords).
	{
		echo "CREATE TABLE version (table_name VARCHAR(32) NOT NULL PRIMARY KEY, table_version INTEGER DEFAULT 0 NOT NULL);"
		echo "INSERT INTO version VALUES ('subscriber', 7);"
		echo "CREATE TABLE subscriber (id INTEGER PRIMARY KEY, username VARCHAR(64) NOT NULL, domain VARCHAR(64) NOT NULL, password VARCHAR(64) NOT NULL, ha1 VARCHAR(128) DEFAULT '' NOT NULL, ha1b VARCHAR(128) DEFAULT '' NOT NULL, UNIQUE (username, domain));"
		echo "BEGIN;"
		awk -v n="$USERS" -v d="$DOMAIN" 'BEGIN { for (i = 0; i < n; i++) printf "INSERT INTO subscriber (username, domain, password) VALUES (\047user%d\047, \047%s\047, \047pw%d\047);\n", i, d, i }'
		echo "COMMIT;"
	} | sqlite3 "$OUT/subscriber.db"
fi
NEXT_AOR=0 # distinct AoRs of the noauth steps: each step gets fresh ones
new_aors() { # new_aors COUNT FILE
	awk -v s="$NEXT_AOR" -v n="$1" 'BEGIN { print "SEQUENTIAL"; for (i = s; i < s + n; i++) printf "new%d;x\n", i }' > "$2"
	NEXT_AOR=$((NEXT_AOR + $1))
}

# ---- servers --------------------------------------------------------------

locus_store() {
	case "$STORE" in
	sqlite | sqlite:) echo "sqlite:$OUT/locus.db" ;;
	*) echo "$STORE" ;;
	esac
}

start_locus() { # start_locus noauth|auth
	local script=$BENCH/route.lua
	[ "$1" = auth ] && script=$BENCH/route-auth.lua
	cp "$script" "$OUT/route.lua"
	rm -f "$OUT"/locus.db*
	cat > "$OUT/locus.yaml" <<-EOF
		admin: 127.0.0.1:$APORT
		modules:
		  registrar: {domains: [$DOMAIN]}
		  admin: {pprof: true}
		  auth_db: {db_url: "file:$OUT/users.htdigest"}
		  auth: {algorithms: [MD5], secret: "locus-bench-secret-0123456789"}
	EOF
	if [ -n "$LOCUS_CONFIG" ]; then printf '%s\n' "$LOCUS_CONFIG" >> "$OUT/locus.yaml"; fi
	(cd "$OUT" && exec env $LOCUS_ENV ./locus run -c locus.yaml --script "$OUT/route.lua" \
		--listen "udp:127.0.0.1:$LPORT" --store "$(locus_store)" --log-level warn) 2>> "$OUT/locus.log" &
	LOCUS_PID=$!
	for _ in $(seq 100); do
		curl -sf "http://127.0.0.1:$APORT/readyz" >/dev/null 2>&1 && return
		kill -0 "$LOCUS_PID" 2>/dev/null || break
		sleep 0.1
	done
	tail -20 "$OUT/locus.log" >&2
	echo "locus did not start" >&2
	exit 1
}

stop_locus() {
	[ -n "$LOCUS_PID" ] || return 0
	kill "$LOCUS_PID" 2>/dev/null || true
	wait "$LOCUS_PID" 2>/dev/null || true
	LOCUS_PID=""
}

kamcmd_() { kamcmd -s "unix:$OUT/kam.ctl" "$@"; }

start_kamailio() { # start_kamailio noauth|auth [shm_mb]
	local shm=${2:-1024} cfg defs
	if [ "$KAM_MODE" = anchor ]; then
		cfg=$ANCHOR/cfg/kamailio-bench.cfg
		defs=(-A "CHILDREN=$KAM_CHILDREN" -A "KPORT=$KPORT" -A "CTLSOCK=\"unix:$OUT/kam.ctl\""
			-A "DBURL=\"sqlite://$OUT/subscriber.db\"")
	else
		cfg=$BENCH/kamailio/registrar.cfg
		defs=(-A "CHILDREN=$KAM_CHILDREN" -A "PORT=$KPORT" -A "CTL=\"unix:$OUT/kam.ctl\"")
	fi
	if [ "$KAM_LUA" = 1 ]; then
		# WITH_LUA defines WITH_AUTH itself (the modules); the script decides.
		local lua=$BENCH/kamailio/noauth.lua
		[ "$1" = auth ] && lua=$ANCHOR/cfg/registrar.lua
		defs+=(-A WITH_LUA -A "LUASCRIPT=\"$lua\"")
	elif [ "$1" = auth ]; then
		defs+=(-A WITH_AUTH)
	fi
	# shellcheck disable=SC2086
	kamailio -f "$cfg" -DD -E -m "$shm" -M 16 -P "$OUT/kam.pid" $KAM_OPTS "${defs[@]}" >> "$OUT/kamailio.log" 2>&1 &
	KAM_PID=$!
	for _ in $(seq 100); do
		kamcmd_ core.uptime >/dev/null 2>&1 && { sleep 0.3; return; }
		kill -0 "$KAM_PID" 2>/dev/null || break
		sleep 0.1
	done
	tail -20 "$OUT/kamailio.log" >&2
	echo "kamailio did not start" >&2
	exit 1
}

stop_kamailio() {
	[ -n "$KAM_PID" ] || return 0
	kill "$KAM_PID" 2>/dev/null || true
	for _ in $(seq 50); do kill -0 "$KAM_PID" 2>/dev/null || break; sleep 0.1; done
	kill -KILL "$KAM_PID" 2>/dev/null || true
	wait "$KAM_PID" 2>/dev/null || true
	KAM_PID=""
}

descendants() {
	echo "$1"
	local c
	for c in $(cat /proc/"$1"/task/*/children 2>/dev/null); do descendants "$c"; done
}

server_pids() { if [ "$1" = locus ]; then echo "$LOCUS_PID"; else descendants "$KAM_PID"; fi; }

cpu_ticks() { # utime+stime of the processes, threads included
	local s=0 p
	for p in "$@"; do s=$((s + $(awk '{print $14 + $15}' /proc/"$p"/stat 2>/dev/null || echo 0))); done
	echo "$s"
}

preemptions() { # involuntary context switches of the processes' threads
	local s=0 p
	for p in "$@"; do
		s=$((s + $({ cat /proc/"$p"/task/*/status 2>/dev/null || true; } | awk '/^nonvoluntary_ctxt_switches:/ {n += $2} END {print n + 0}')))
	done
	echo "$s"
}

mem_kb() { # locus: RSS; Kamailio: PSS summed over its processes (the shm segment once)
	local s=0 p
	if [ "$1" = locus ]; then
		awk '/^VmRSS/ {print $2}' /proc/"$LOCUS_PID"/status
		return
	fi
	for p in $(server_pids kamailio); do s=$((s + $(awk '/^Pss:/ {print $2}' /proc/"$p"/smaps_rollup 2>/dev/null || echo 0))); done
	echo "$s"
}

metric() { # metric NAME: a locus gauge from /metrics
	curl -sf "http://127.0.0.1:$APORT/metrics" | awk -v m="$1" '$1 == m {printf "%d", $2}'
}

heap_mb() { # locus: Go heap in use; Kamailio: shm in use (real_used)
	if [ "$1" = locus ]; then
		awk -v b="$(metric go_memstats_heap_inuse_bytes)" 'BEGIN {printf "%.1f", b / 1048576}'
	else
		kamcmd_ core.shmmem | awk '$1 == "real_used:" {printf "%.1f", $2 / 1048576}'
	fi
}

goroutines() { if [ "$1" = locus ]; then metric go_goroutines; else echo -; fi; }

# sampler SERVER SECS FILE: max memory every 0.5 s, heap and goroutines once
# at mid-step (a scrape costs the server CPU, so only once).
sampler() {
	local srv=$1 half=$(($2 * 2 / 2)) i=0 max=0 m heap=- gor=-
	while :; do
		m=$(mem_kb "$srv" 2>/dev/null || echo 0)
		[ "${m:-0}" -gt "$max" ] && max=$m
		if [ "$i" -eq "$half" ]; then heap=$(heap_mb "$srv"); gor=$(goroutines "$srv"); fi
		# Replaced whole: a sampler stopped mid-write leaves the last sample.
		echo "$max $heap $gor" > "$3.tmp" && mv -f "$3.tmp" "$3"
		i=$((i + 1))
		sleep 0.5
	done
}

# ---- one load step --------------------------------------------------------

ROWS=$OUT/rows.tsv
: > "$ROWS"

# run_sipp SERVER XML CSV RATE CALLS DIR: sipp bounded in calls and time.
run_sipp() {
	local srv=$1 xml=$2 csv=$3 rate=$4 calls=$5 dir=$6 port=$LPORT sport=$SPORT
	[ "$srv" = kamailio ] && { port=$KPORT; sport=$((SPORT + 1)); }
	local limit=$((calls / rate + 10))
	mkdir -p "$dir"
	# sipp exits non-zero when a call failed; the counts say so.
	local pin=()
	[ -n "$SIPP_CPUS" ] && pin=(taskset -c "$SIPP_CPUS")
	(cd "$dir" && exec timeout $((limit + 10)) "${pin[@]}" sipp "127.0.0.1:$port" -sf "$xml" -inf "$csv" -key domain "$DOMAIN" \
		-r "$rate" -m "$calls" -i 127.0.0.1 -p "$sport" -timeout "${limit}s" -max_recv_loops 100000 \
		-trace_stat -stf stat.csv -trace_rtt -rtt_freq 1000 -nostdin >/dev/null 2>&1) &
	SIPP_PID=$!
	wait "$SIPP_PID" || true
	SIPP_PID=""
}

# step SCENARIO RATE_LABEL RATE CALLS SERVER XML CSV REQUESTS_PER_CALL
step() {
	local scen=$1 label=$2 rate=$3 calls=$4 srv=$5 xml=$6 csv=$7 per=$8
	local dir="$OUT/$scen-$label-$srv" pids t0 t1 w0 w1 c0 c1
	pids=$(server_pids "$srv")
	rm -f "$OUT/sample"
	sampler "$srv" "$((calls / rate))" "$OUT/sample" &
	SAMPLER_PID=$!
	# shellcheck disable=SC2086
	t0=$(cpu_ticks $pids) c0=$(preemptions $pids)
	w0=$(date +%s%N)
	run_sipp "$srv" "$xml" "$csv" "$rate" "$calls" "$dir"
	w1=$(date +%s%N)
	# shellcheck disable=SC2086
	t1=$(cpu_ticks $pids) c1=$(preemptions $pids)
	kill "$SAMPLER_PID" 2>/dev/null || true
	wait "$SAMPLER_PID" 2>/dev/null || true
	SAMPLER_PID=""
	mem_max="" heap_mid="" gor_mid=""
	read -r mem_max heap_mid gor_mid < "$OUT/sample" 2>/dev/null || true
	sleep 1
	local mem_rest heap_rest gor_rest
	mem_rest=$(mem_kb "$srv")
	heap_rest=$(heap_mb "$srv")
	gor_rest=$(goroutines "$srv")
	local row ok failed retrans
	row=$(tail -1 "$dir/stat.csv" 2>/dev/null || echo "")
	ok=$(cut -d';' -f16 <<<"$row")
	failed=$(cut -d';' -f18 <<<"$row")
	retrans=$(cut -d';' -f58 <<<"$row")
	ok=${ok:-0} failed=${failed:-$calls} retrans=${retrans:-0}
	local pct
	pct=$(cat "$dir"/*_rtt.csv 2>/dev/null | awk -F';' 'NR > 1 && $2 ~ /^[0-9.]+$/ {print $2}' | sort -n |
		awk 'function at(q,  i) { i = int(NR * q + 0.5); if (i < 1) i = 1; return v[i] }
			{v[NR] = $1} END { if (NR == 0) {print "- - -"; exit}; printf "%d %d %d\n", at(0.50), at(0.95), at(0.99) }')
	awk -v scen="$scen" -v label="$label" -v srv="$srv" -v ok="$ok" -v failed="$failed" -v retrans="$retrans" \
		-v ticks=$((t1 - t0)) -v hz="$HZ" -v per="$per" -v ns=$((w1 - w0)) -v pct="$pct" \
		-v mmax="${mem_max:-0}" -v mrest="${mem_rest:-0}" -v hmid="${heap_mid:--}" -v hrest="${heap_rest:--}" \
		-v gmid="${gor_mid:--}" -v grest="${gor_rest:--}" -v load="$(cut -d' ' -f1 /proc/loadavg)" \
		-v invol=$((c1 - c0)) 'BEGIN {
		split(pct, p, " ")
		cpu = ok > 0 ? ticks * 1e6 / hz / (ok * per) : 0
		pre = ok > 0 ? invol / (ok * per) : 0
		printf "%s\t%s\t%s\t%.0f\t%d\t%d\t%.1f\t%s\t%s\t%s\t%.0f\t%.0f\t%s\t%s\t%s\t%s\t%s\t%.2f\n", scen, label, srv,
			ok / (ns / 1e9), failed, retrans, cpu, p[1], p[2], p[3], mmax / 1024, mrest / 1024, hmid, hrest, gmid, grest, load, pre
	}' >> "$ROWS"
	tail -1 "$ROWS" | awk -F'\t' '{printf "# %-8s %-6s %-8s %6s/s failed %s retrans %s cpu %s us/req preempted %s/req p99 %s ms mem %s MB load %s\n", $1, $2, $3, $4, $5, $6, $7, $18, $10, $11, $17}' >&2
}

scenario_files() { # sets XML, PER
	case "$1" in
	auth) XML=$BENCH/register-auth.xml PER=2 ;;
	*) XML=$BENCH/register.xml PER=1 ;;
	esac
}

run_scenario() {
	local scen=$1 variant=noauth srv order i=0 csv
	[ "$scen" = auth ] && variant=auth
	scenario_files "$scen"
	log "scenario $scen"
	has locus && start_locus "$variant"
	has kamailio && start_kamailio "$variant"
	# Every REGISTER of "auth" and "refresh" refreshes a binding: register the users once first.
	if [ "$scen" != noauth ]; then
		csv=$OUT/users.csv
		[ "$scen" = refresh ] && csv=$OUT/refresh.csv
		local n=$USERS
		[ "$scen" = refresh ] && n=$REFRESH_USERS
		[ "$n" -gt 20000 ] && n=20000
		for srv in $SERVERS; do run_sipp "$srv" "$XML" "$csv" 4000 "$n" "$OUT/warm-$scen-$srv"; done
	fi
	local steps=()
	for r in $RATES; do steps+=("$r:$r:$((r * STEP_SECS))"); done
	[ "$SAT_RATE" -gt 0 ] && steps+=("sat:$SAT_RATE:$((SAT_RATE * SAT_SECS))")
	for s in "${steps[@]}"; do
		IFS=: read -r label rate calls <<<"$s"
		for _ in $(seq "$REPEAT"); do
			# ABBA: the server that goes first alternates from one run to the next.
			order=$SERVERS
			[ $((i % 2)) = 1 ] && order=$(echo "$SERVERS" | awk '{for (i = NF; i > 0; i--) printf "%s ", $i}')
			i=$((i + 1))
			for srv in $order; do
				case "$scen" in
				noauth) csv=$OUT/new.csv; new_aors "$calls" "$csv" ;;
				auth) csv=$OUT/users.csv ;;
				refresh) csv=$OUT/refresh.csv ;;
				esac
				step "$scen" "$label" "$rate" "$calls" "$srv" "$XML" "$csv" "$PER"
			done
		done
	done
	if [ "$LAT_SECS" -gt 0 ] && [ "$scen" != refresh ]; then
		for srv in $SERVERS; do
			csv=$OUT/users.csv
			[ "$scen" = noauth ] && { csv=$OUT/new.csv; new_aors "$((LAT_RATE * LAT_SECS))" "$csv"; }
			latency_step "$scen" "$srv" "$XML" "$csv"
		done
	fi
	stop_locus
	stop_kamailio
}

# ---- latency from a capture -----------------------------------------------

LATROWS=$OUT/latency.tsv
: > "$LATROWS"
# latency_step SCENARIO SERVER XML CSV: sipp at LAT_RATE while tcpdump
# records the server's port; bench/latency.py matches requests and replies.
latency_step() {
	local scen=$1 srv=$2 port=$LPORT sudo="" cap="$OUT/$1-$2.pcap" tpid
	[ "$srv" = kamailio ] && port=$KPORT
	[ "$(id -u)" = 0 ] || sudo="sudo -n"
	$sudo tcpdump -i lo -n -s 0 -B 16384 -w "$cap" "udp port $port" 2> "$OUT/tcpdump.log" &
	tpid=$!
	sleep 1
	run_sipp "$srv" "$3" "$4" "$LAT_RATE" "$((LAT_RATE * LAT_SECS))" "$OUT/lat-$scen-$srv"
	sleep 0.5
	$sudo kill -INT "$tpid" 2>/dev/null || true
	wait "$tpid" 2>/dev/null || true
	printf "%s\t%s\t%s\n" "$scen" "$srv" "$(python3 "$BENCH/latency.py" "$cap" 2>/dev/null || echo "0 - - - -")" >> "$LATROWS"
	rm -f "$cap"
	tail -1 "$LATROWS" | awk '{printf "# latency %-8s %-8s n=%s p50 %s us p95 %s us p99 %s us max %s us\n", $1, $2, $3, $4, $5, $6, $7}' >&2
}

# ---- memory per binding ---------------------------------------------------

MEMROWS=$OUT/mem.tsv
: > "$MEMROWS"
memory_step() {
	[ "$MEM_AORS" -gt 0 ] || return 0
	log "memory: $MEM_AORS distinct AoRs at $MEM_RATE/s"
	awk -v n="$MEM_AORS" 'BEGIN { print "SEQUENTIAL"; for (i = 0; i < n; i++) printf "mem%d;x\n", i }' > "$OUT/mem.csv"
	local secs=$((MEM_AORS / MEM_RATE)) a0 a1 b0 b1 n
	if has locus; then
		start_locus noauth
		gc() { curl -sf -o /dev/null "http://127.0.0.1:$APORT/debug/pprof/heap?gc=1"; }
		gc
		a0=$(mem_kb locus) b0=$(metric go_memstats_heap_alloc_bytes)
		run_sipp locus "$BENCH/register.xml" "$OUT/mem.csv" "$MEM_RATE" "$MEM_AORS" "$OUT/mem-locus"
		sleep 2
		gc
		a1=$(mem_kb locus) b1=$(metric go_memstats_heap_alloc_bytes)
		n=$(curl -sf "http://127.0.0.1:$APORT/api/v1/stats" | python3 -c 'import json,sys; print(json.load(sys.stdin).get("bindings", 0))')
		printf "locus\t%s\t%s\t%s\t%s\t%s\n" "$n" "$(( (a1 - a0) * 1024 / (n > 0 ? n : 1) ))" \
			"$(( (b1 - b0) / (n > 0 ? n : 1) ))" "$((a1 / 1024))" "$(((b1 - b0) / 1048576))" >> "$MEMROWS"
		stop_locus
	fi
	if has kamailio; then
		local shm=$((1024 + MEM_AORS * 2 / 1024))
		start_kamailio noauth "$shm"
		a0=$(mem_kb kamailio) b0=$(kamcmd_ core.shmmem | awk '$1 == "real_used:" {print $2}')
		local u0 u1
		u0=$(kamcmd_ core.shmmem | awk '$1 == "used:" {print $2}')
		run_sipp kamailio "$BENCH/register.xml" "$OUT/mem.csv" "$MEM_RATE" "$MEM_AORS" "$OUT/mem-kamailio"
		sleep 2
		a1=$(mem_kb kamailio) b1=$(kamcmd_ core.shmmem | awk '$1 == "real_used:" {print $2}')
		u1=$(kamcmd_ core.shmmem | awk '$1 == "used:" {print $2}')
		n=$(kamcmd_ stats.get_statistics location_contacts | awk -F'= ' '{print $2}')
		printf "kamailio\t%s\t%s\t%s\t%s\t%s\t%s\n" "$n" "$(( (a1 - a0) * 1024 / (n > 0 ? n : 1) ))" \
			"$(( (b1 - b0) / (n > 0 ? n : 1) ))" "$((a1 / 1024))" "$(((b1 - b0) / 1048576))" "$(( (u1 - u0) / (n > 0 ? n : 1) ))" >> "$MEMROWS"
		stop_kamailio
	fi
	: "$secs"
}

# ---- reload under load (locus) --------------------------------------------

RELOADROW=""
reload_step() {
	[ "$RELOAD_SECS" -gt 0 ] && has locus || return 0
	log "reload under load: $RELOAD_RATE/s for ${RELOAD_SECS}s, two reloads"
	start_locus noauth
	local calls=$((RELOAD_RATE * RELOAD_SECS)) g0 g1
	new_aors "$calls" "$OUT/reload.csv"
	g0=$(curl -sf "http://127.0.0.1:$APORT/api/v1/script" | python3 -c 'import json,sys; print(json.load(sys.stdin)["generation"])')
	(
		for k in 1 2; do
			sleep $((RELOAD_SECS / 3))
			{ cat "$BENCH/route.lua"; echo "-- reload $k"; } > "$OUT/route.lua.new"
			mv "$OUT/route.lua.new" "$OUT/route.lua"
		done
	) &
	local editor=$!
	step reload "$RELOAD_RATE" "$RELOAD_RATE" "$calls" locus "$BENCH/register.xml" "$OUT/reload.csv" 1
	wait "$editor" || true
	g1=$(curl -sf "http://127.0.0.1:$APORT/api/v1/script" | python3 -c 'import json,sys; print(json.load(sys.stdin)["generation"])')
	RELOADROW="generations $g0 -> $g1"
	stop_locus
}

# ---- run ------------------------------------------------------------------

START=$(date +%s)
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
for scen in $SCENARIOS; do run_scenario "$scen"; done
reload_step
memory_step
LOAD1=$(cut -d' ' -f1-3 /proc/loadavg)

report() {
	echo "locus $(cd "$ROOT" && git describe --tags --always --dirty 2>/dev/null || echo devel), store $STORE;" \
		"Kamailio $(kamailio -v 2>/dev/null | awk 'NR == 1 {print $3}') ($KAM_MODE config$([ "$KAM_LUA" = 1 ] && echo ", KEMI Lua"), $KAM_CHILDREN children, ${KAM_OPTS:-no options});" \
		"$(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'));" \
		"$([ -n "$SIPP_CPUS" ] && echo "sipp pinned to CPU $SIPP_CPUS, the servers free" || echo "sipp on the same CPUs")"
	echo "$(date -u +%FT%TZ), $(($(date +%s) - START)) s, load average before $LOAD0, after $LOAD1"
	echo
	echo "| scenario | offered/s | server | achieved/s | failed | retrans | CPU µs/req | preempted/req | p50/p95/p99 ms | mem MB max/rest | heap MB mid/rest | goroutines mid/rest | load |"
	echo "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | --- | --- | --- | --- | ---: |"
	awk -F'\t' '{printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s/%s/%s | %s/%s | %s/%s | %s/%s | %s |\n",
		$1, $2, $3, $4, $5, $6, $7, $18, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17}' "$ROWS"
	if has locus && has kamailio; then
		echo
		echo "| scenario | offered/s | CPU/req locus/Kamailio | achieved locus/Kamailio | preempted/req locus vs Kamailio | p99 ms locus vs Kamailio | mem MB locus vs Kamailio |"
		echo "| --- | --- | ---: | ---: | --- | --- | --- |"
		# With REPEAT > 1: the median of the ratios of the runs paired in
		# order (the first of locus with the first of Kamailio, ...), and
		# their range; preemptions, p99 and memory are the medians of each
		# server's runs.
		awk -F'\t' 'function med(x, m,   i, j, t) {
				for (i = 2; i <= m; i++) for (j = i; j > 1 && x[j - 1] > x[j]; j--) {t = x[j]; x[j] = x[j - 1]; x[j - 1] = t}
				return m % 2 ? x[(m + 1) / 2] : (x[m / 2] + x[m / 2 + 1]) / 2 }
			function ratio(v, k, m,   j, x, lo, hi, r) {
				for (j = 1; j <= m; j++) {r = v[k, "kamailio", j] > 0 ? v[k, "locus", j] / v[k, "kamailio", j] : 0
					x[j] = r; if (j == 1 || r < lo) lo = r; if (j == 1 || r > hi) hi = r}
				return m > 1 ? sprintf("%.2f (%.2f–%.2f)", med(x, m), lo, hi) : sprintf("%.2f", x[1]) }
			{k = $1 "|" $2; if (!(k in seen)) {seen[k] = 1; keys[++n] = k}
			c = ++cnt[k, $3]; cpu[k, $3, c] = $7; ach[k, $3, c] = $4; p99[k, $3, c] = $10; mem[k, $3, c] = $11; pre[k, $3, c] = $18}
			function mid(v, k, s, m,   j, x) {for (j = 1; j <= m; j++) {if (v[k, s, j] == "-") return "-"; x[j] = v[k, s, j] + 0}
				return med(x, m)}
			END {for (i = 1; i <= n; i++) {k = keys[i]; split(k, a, "|")
				m = cnt[k, "locus"] < cnt[k, "kamailio"] ? cnt[k, "locus"] : cnt[k, "kamailio"]
				if (m == 0) continue
				printf "| %s | %s | %s | %s | %.2f vs %.2f | %s vs %s | %s vs %s |\n", a[1], a[2], ratio(cpu, k, m), ratio(ach, k, m),
					mid(pre, k, "locus", m), mid(pre, k, "kamailio", m),
					mid(p99, k, "locus", m), mid(p99, k, "kamailio", m), mid(mem, k, "locus", m), mid(mem, k, "kamailio", m)}}' "$ROWS"
	fi
	if [ -s "$LATROWS" ]; then
		echo
		echo "| latency at $LAT_RATE/s (capture on lo) | server | requests | p50 µs | p95 µs | p99 µs | max µs |"
		echo "| --- | --- | ---: | ---: | ---: | ---: | ---: |"
		awk '{printf "| %s | %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5, $6, $7}' "$LATROWS"
	fi
	if [ -s "$MEMROWS" ]; then
		echo
		echo "| memory ($MEM_AORS AoRs) | bindings | RSS/PSS bytes per binding | heap or shm bytes per binding | RSS/PSS MB | heap/shm growth MB |"
		echo "| --- | ---: | ---: | ---: | ---: | ---: |"
		awk -F'\t' '{if ($1 == "locus") x = $4 " (Go heap, live)"; else x = $4 " (shm real_used; " $7 " used)"
			printf "| %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, x, $5, $6}' "$MEMROWS"
	fi
	[ -n "$RELOADROW" ] && echo && echo "Reload under load (locus, two script rewrites during the reload row above): $RELOADROW."
	echo
	echo "CPU µs/req: utime+stime of the server's processes (all of Kamailio's) over successful SIP requests" \
		"(auth: 2 per registration). preempted/req: involuntary context switches of the server's threads per request" \
		"(sipp, woken by a reply on the server's CPU, taking it over; it drives much of the run-to-run spread)." \
		"mem: locus RSS, Kamailio PSS summed over its processes." \
		"p50/p95/p99: sipp response times, 1 ms resolution (0 = under 1 ms)."
}
report > "$OUT/report.md"
cat "$OUT/report.md"
[ -n "${RESULTS:-}" ] && cp "$OUT/report.md" "$RESULTS"
exit 0
