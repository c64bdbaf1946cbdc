#!/usr/bin/env bash
# Drives sipp REGISTERs at a fixed rate against a locus it starts on
# loopback and prints the server's CPU time per REGISTER (utime+stime from
# /proc, before and after), successes, failures and RSS.
#
#   bench/register.sh [STORE_DSN] [RATE] [CALLS]      e.g. bench/register.sh sqlite:/tmp/b.db 2000 20000
set -euo pipefail
cd "$(dirname "$0")/.."
store=${1:-memory:}
rate=${2:-2000}
calls=${3:-20000}
port=${PORT:-5073}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

command -v sipp >/dev/null || { echo "sipp (Debian sip-tester) is required" >&2; exit 1; }
go build -o "$out/locus" ./cmd/locus
{ echo SEQUENTIAL; for ((i = 0; i < calls; i++)); do echo "user$i;pw$i"; done; } > "$out/users.csv"
printf 'modules:\n  registrar: {domains: ["127.0.0.1"]}\n' > "$out/locus.yaml"

(cd "$out" && exec ./locus run -c locus.yaml --script "$OLDPWD/bench/route.lua" \
	--listen "udp:127.0.0.1:$port" --admin off --store "$store" --log-level warn) 2> "$out/locus.log" &
pid=$!
trap 'kill $pid 2>/dev/null || true; cat "$out/locus.log" >&2; rm -rf "$out"' EXIT
sleep 1
ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
hz=$(getconf CLK_TCK)
t0=$(ticks)
# sipp exits non-zero when a call failed; the counts below say so.
sipp "127.0.0.1:$port" -sf bench/register.xml -inf "$out/users.csv" -key domain 127.0.0.1 \
	-r "$rate" -m "$calls" -i 127.0.0.1 -p $((port + 1)) -timeout $((calls / rate + 30))s \
	-trace_stat -stf "$out/stat.csv" -nostdin >/dev/null 2>&1 || true
t1=$(ticks)
row=$(tail -1 "$out/stat.csv")
ok=$(cut -d';' -f16 <<<"$row")
failed=$(cut -d';' -f18 <<<"$row")
rss=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
echo "store=$store rate=$rate calls=$calls ok=$ok failed=$failed" \
	"cpu_us_per_register=$(( (t1 - t0) * 1000000 / hz / calls ))" "rss_kb=$rss"
