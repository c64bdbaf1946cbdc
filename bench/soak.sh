#!/usr/bin/env bash
# bench/soak.sh: memory under sustained load. locus on loopback takes
# REGISTERs at a fixed rate for a while from a bounded user base (every
# REGISTER refreshes one of USERS bindings after the first round), and its
# RSS is sampled every 5 s: before, during and after the load.
#
#   bench/soak.sh                          2,000/s for 300 s, 20,000 users, memory: store
#   RATE=2000 SECS=300 USERS=20000 STORE=sqlite bench/soak.sh
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
RATE=${RATE:-2000}
SECS=${SECS:-300}
USERS=${USERS:-20000}
STORE=${STORE:-memory:}
PORT=${PORT:-5470}
REST=${REST:-30}
out=$(mktemp -d /tmp/locus-soak.XXXXXX)
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$out"; }
trap cleanup EXIT

command -v sipp >/dev/null || { echo "sipp (Debian sip-tester) is required" >&2; exit 1; }
(cd "$ROOT" && go build -o "$out/locus" ./cmd/locus)
[ "$STORE" = sqlite ] && STORE="sqlite:$out/locus.db"
{ echo SEQUENTIAL; for ((i = 0; i < USERS; i++)); do echo "soak$i"; done; } >"$out/users.csv"
printf 'modules:\n  registrar: {domains: ["127.0.0.1"]}\n' >"$out/locus.yaml"
"$out/locus" run -c "$out/locus.yaml" --script "$ROOT/bench/route.lua" --listen "udp:127.0.0.1:$PORT" \
	--admin off --store "$STORE" --log-level warn 2>"$out/locus.log" &
pid=$!
sleep 1
rss() { awk '/VmRSS/ {print int($2 / 1024)}' "/proc/$pid/status"; }
base=$(rss)
calls=$((RATE * SECS))
sipp "127.0.0.1:$PORT" -sf "$ROOT/bench/register.xml" -inf "$out/users.csv" -key domain 127.0.0.1 \
	-r "$RATE" -m "$calls" -i 127.0.0.1 -p $((PORT + 1)) -timeout $((SECS + 60))s \
	-trace_stat -stf "$out/stat.csv" -nostdin >/dev/null 2>&1 &
sp=$!
samples=()
while kill -0 "$sp" 2>/dev/null; do
	samples+=("$(rss)")
	sleep 5
done
wait "$sp" || true
end=$(rss)
sleep "$REST"
rest=$(rss)
row=$(tail -1 "$out/stat.csv")
ok=$(awk -F';' 'NR == 1 {for (i = 1; i <= NF; i++) if ($i == "SuccessfulCall(C)") c = i; next} {v = $c} END {print v + 0}' "$out/stat.csv")
failed=$(awk -F';' 'NR == 1 {for (i = 1; i <= NF; i++) if ($i == "FailedCall(C)") c = i; next} {v = $c} END {print v + 0}' "$out/stat.csv")
max=$(printf '%s\n' "${samples[@]}" | sort -n | tail -1)
echo "store=$STORE rate=$RATE secs=$SECS users=$USERS ok=$ok failed=$failed"
echo "RSS MB: before $base, during max $max, at the end $end, ${REST}s after $rest"
echo "RSS MB every 5 s: ${samples[*]}"
