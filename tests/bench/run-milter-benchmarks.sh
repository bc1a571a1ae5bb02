#!/bin/bash
# tests/bench/run-milter-benchmarks.sh BUILD_DIR [--quick]
#
# Runs every milter benchmark against an existing build (builds nothing) and ends
# with a compact figures block:
#   1. decision_bench: decision::decide() in process, one thread, 1M-address store;
#   2. m365gate-milter-loadgen through the real m365gate-milter over a unix socket, same 1M
#      store, 1, 8 and 64 concurrent milter connections, half of the recipients unknown; every
#      answer is checked (known -> continue, unknown -> 550 5.1.1), wrong ones are counted;
#      then 8 connections against m365gate-milter and against m365gate-null-milter (the same
#      list): CPU, system calls and context switches per RCPT (the last two with perf);
#   3. postfix_compare.sh: smtp-source through Postfix with the milter vs. Postfix with the
#      same list as a native lmdb: relay_recipient_maps, and with m365gate-null-milter (one
#      epoll thread, no libmilter, no store: what Postfix's side of the protocol costs alone).
# --quick: shorter runs (a smoke test of the tooling, not figures).
# Environment: LOADGEN_SECONDS (5), COMPARE_MESSAGES (1000), COMPARE_ROUNDS (2),
# USERS (1000000), MILTER_LOG_LEVEL (info: every rejection is a log line, as in production).
# Runs as root (the milter drops to nobody; postfix -c). Figures only, no pass/fail; the exit
# status is non-zero when a benchmark failed or the load generator saw a wrong answer.
set -euo pipefail
BUILD=$(cd "${1:?usage: run-milter-benchmarks.sh BUILD_DIR [--quick]}" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
QUICK=${2:-}
LOADGEN_SECONDS=${LOADGEN_SECONDS:-5}
COMPARE_MESSAGES=${COMPARE_MESSAGES:-1000}
COMPARE_ROUNDS=${COMPARE_ROUNDS:-2}
USERS=${USERS:-1000000}
MILTER_LOG_LEVEL=${MILTER_LOG_LEVEL:-info}
DECISION_SECONDS=3
if [ "$QUICK" = --quick ]; then
    LOADGEN_SECONDS=1 COMPARE_MESSAGES=100 COMPARE_ROUNDS=1 DECISION_SECONDS=1
fi

MILTER=$BUILD/milter/m365gate-milter
STORE_FILL=$BUILD/tests/m365gate-store-fill
LOADGEN=$BUILD/tests/m365gate-milter-loadgen
DECISION_BENCH=$BUILD/tests/decision_bench
for f in "$MILTER" "$STORE_FILL" "$LOADGEN" "$DECISION_BENCH"; do
    [ -x "$f" ] || { echo "missing $f: build it first (scripts/build $BUILD)"; exit 1; }
done
[ "$(id -u)" = 0 ] || { echo "run as root"; exit 1; }

T=$(mktemp -d /tmp/m365mbench.XXXXXX)
chmod 0755 "$T"
MILTER_PID=
stop_milter() {  # the running milter (m365gate's or the null one), if any
    if [ -n "$MILTER_PID" ]; then
        kill -TERM "$MILTER_PID" 2>/dev/null || true
        for _ in $(seq 300); do kill -0 "$MILTER_PID" 2>/dev/null || break; sleep 0.1; done
    fi
    MILTER_PID=
}
cleanup() {
    stop_milter
    [ -n "${KEEP_TMP:-}" ] || rm -rf "${T:?}"
}
trap cleanup EXIT
wait_for() {  # wait_for SECONDS COMMAND...
    local deadline=$((SECONDS + $1))
    shift
    until "$@" >/dev/null 2>&1; do
        [ $SECONDS -ge $deadline ] && return 1
        sleep 0.1
    done
}
status=0
section() { printf '\n=== %s\n' "$*"; }

section "machine"
echo "$(nproc) CPUs ($(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -n 1)), load average $(cut -d' ' -f1-3 /proc/loadavg)"

# --- 1. decision_bench -------------------------------------------------------------------------
section "decision_bench: decision::decide() in process, one thread, $USERS addresses"
"$DECISION_BENCH" --addresses "$USERS" --seconds "$DECISION_SECONDS" | tee "$T/decision.out" ||
    status=1

# --- 2. the load generator through the real milter ---------------------------------------------
section "m365gate-milter-loadgen: unix socket, $USERS-address store, half unknown"
mkdir -p "$T/store" "$T/sock"
chown nobody "$T/sock"
t0=$(date +%s.%N)
awk -v n="$USERS" 'BEGIN { for (i = 0; i < n; i++) printf "user%07d@bench.example\n", i }' \
    >"$T/list"
"$STORE_FILL" --store "$T/store" --tenant bench --domain bench.example --addresses "$T/list" \
    --max-size 1G >/dev/null
chmod 0777 "$T/store"
chmod 0666 "$T/store"/*.mdb
printf 'store filled in %.1f s (data.mdb %d bytes)\n' \
    "$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { print b - a }')" "$(stat -c %s "$T/store/data.mdb")"
sock=$T/sock/milter.sock
cat >"$T/m365gate.toml" <<EOF
[store]
path = "$T/store"
max_size = "1G"
[log]
target = "file"
file = "$T/sock/milter.log"
level = "$MILTER_LOG_LEVEL"
[milter]
socket = "unix:$sock"
socket_mode = "0666"
user = "nobody"
group = "nogroup"
pid_file = ""
[[tenant]]
name = "bench"
tenant_id = "8f0c2a43-5d1e-4b7a-9c36-2e4f1d0b7a95"
client_id = "3b9d6e1f-0a42-4c8e-b5d7-61f2a9c4e803"
client_secret_file = "/nonexistent/bench.secret"
domains = ["bench.example"]
EOF
setsid -f sh -c "echo \$\$ > '$T/milter.pid'; exec '$MILTER' --config '$T/m365gate.toml'" \
    >"$T/milter.out" 2>&1 </dev/null
wait_for 10 test -s "$T/milter.pid"
MILTER_PID=$(cat "$T/milter.pid")
wait_for 20 test -S "$sock" || { echo "milter did not start"; cat "$T/milter.out"; exit 1; }
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$MILTER_PID/stat"; }
ticks0=$(cpu_ticks)
"$LOADGEN" --socket "unix:$sock" --users "$USERS" --domain bench.example \
    --connections 1,8,64 --seconds "$LOADGEN_SECONDS" --rcpts 10 | tee "$T/loadgen.out" ||
    status=1
ticks1=$(cpu_ticks)
rcpts_total=$(awk 'NR > 1 { s += $2 } END { print s + 0 }' "$T/loadgen.out")
milter_cpu=$(awk -v t="$((ticks1 - ticks0))" -v hz="$(getconf CLK_TCK)" 'BEGIN { print t / hz }')
printf 'milter CPU: %.2f s for %d RCPT = %.1f us per RCPT\n' "$milter_cpu" "$rcpts_total" \
    "$(awk -v c="$milter_cpu" -v n="$rcpts_total" 'BEGIN { print n ? c * 1e6 / n : 0 }')" |
    tee "$T/milter-cpu.out"
logged=$(grep -c 'action=reject ' "$T/sock/milter.log" || true)
echo "milter log: $logged rejection lines (log level $MILTER_LOG_LEVEL)"

# --- 2b. cost per RCPT: m365gate-milter against the null milter, 8 connections -----------------
# The same load on each; CPU per RCPT from /proc, and with perf the system calls and context
# switches per RCPT (where libmilter's cost shows: it polls before every read, and reads each
# packet's header and body separately).
per_rcpt() {  # per_rcpt NAME SOCKET: the milter of MILTER_PID
    local name=$1 sock=$2 t0 t1 n perf_pid=
    t0=$(cpu_ticks)
    if command -v perf >/dev/null; then
        perf stat -e raw_syscalls:sys_enter,context-switches -p "$MILTER_PID" -o "$T/$name.perf" \
            -- sleep "$((LOADGEN_SECONDS + 1))" 2>/dev/null &
        perf_pid=$!
        sleep 0.2
    fi
    "$LOADGEN" --socket "unix:$sock" --users "$USERS" --domain bench.example \
        --connections 8 --seconds "$LOADGEN_SECONDS" --rcpts 10 >"$T/$name.lg" || status=1
    [ -z "$perf_pid" ] || wait "$perf_pid" || true
    t1=$(cpu_ticks)
    n=$(awk 'NR > 1 { s += $2 } END { print s + 0 }' "$T/$name.lg")
    awk -v nm="$name" -v t=$((t1 - t0)) -v hz="$(getconf CLK_TCK)" -v n="$n" \
        -v r="$(awk 'NR > 1 { print $4 }' "$T/$name.lg")" \
        -v sc="$(awk '/raw_syscalls/ { gsub(",", "", $1); print $1 }' "$T/$name.perf" 2>/dev/null)" \
        -v cs="$(awk '/context-switches/ { gsub(",", "", $1); print $1 }' "$T/$name.perf" 2>/dev/null)" \
        'BEGIN { printf "per RCPT, 8 connections, %-8s %6d RCPT/s, CPU %5.1f us", nm, r, t / hz * 1e6 / n
                 if (sc != "") printf ", %.1f system calls, %.2f context switches", sc / n, cs / n
                 printf "\n" }' | tee -a "$T/per-rcpt.out"
}
per_rcpt m365gate "$sock"
stop_milter
NULL_MILTER=$BUILD/tests/m365gate-null-milter
if [ -x "$NULL_MILTER" ]; then
    setsid -f sh -c "echo \$\$ > '$T/null.pid'; exec '$NULL_MILTER' --socket '$T/sock/null.sock' \
        --known '$T/list'" >"$T/null.out" 2>&1 </dev/null
    wait_for 10 test -s "$T/null.pid"
    MILTER_PID=$(cat "$T/null.pid")  # stopped by cleanup() too
    wait_for 60 test -S "$T/sock/null.sock" || { echo "null milter did not start"; exit 1; }
    per_rcpt null "$T/sock/null.sock"
    stop_milter
fi

# --- 3. Postfix: milter vs native lmdb ---------------------------------------------------------
section "postfix_compare.sh: $COMPARE_MESSAGES msgs x 10 rcpt (half unknown), $COMPARE_ROUNDS round(s)"
if command -v smtp-source >/dev/null && command -v postfix >/dev/null; then
    bash "$HERE/postfix_compare.sh" "$BUILD" "$COMPARE_MESSAGES" "$USERS" "$COMPARE_ROUNDS" |
        tee "$T/compare.out" || status=1
else
    echo "skipped: Postfix (smtp-source) not installed" | tee "$T/compare.out"
fi

# --- figures -----------------------------------------------------------------------------------
section "figures ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, load $(cut -d' ' -f1 /proc/loadavg))"
sed -n 's/^snapshot per decision.*= *\([0-9]*\) decisions\/s (\([0-9]*\) ns.*, \([0-9]*\) rejected$/decide() in process, snapshot per decision: \1 decisions\/s, \2 ns each, \3 rejected (target >= 1M\/s)/p' \
    "$T/decision.out"
awk 'NR > 1 { printf "milter, %2d connection(s): %7d RCPT/s, p50 %.2f ms, p99 %.2f ms, wrong %d, failed conns %d%s\n",
        $1, $4, $5 / 1000, $6 / 1000, $8, $9, ($1 == 8 ? " (target >= 30000 RCPT/s, p99 <= 2 ms)" : "") }' \
    "$T/loadgen.out"
sed -n 's/^milter CPU: /milter CPU per RCPT: /p' "$T/milter-cpu.out"
sed 's/m365gate .*$/& (target <= 15 us)/' "$T/per-rcpt.out"
awk '/^(native|milter) / { n[$1]++; t[$1] += $12; c[$1] += $(NF-1); m = $2 }
     END { if (n["milter"]) printf "postfix (%d msgs x 10 rcpt, 10 sessions, best of rounds below): mean %.0f msg/s native, %.0f msg/s milter; milter CPU %.2f ms per SMTP session\n",
               m, t["native"] / n["native"], t["milter"] / n["milter"], c["milter"] / n["milter"] * 1000 / m }' \
    "$T/compare.out"
grep -E '^(best of|CPU per 1,000)' "$T/compare.out" |
    sed 's/^/postfix /; /milter\/native/s/$/ (target >= 0.85)/; /best of .*milter\/null = /s/$/ (target >= 0.95)/
         /CPU per 1,000/s/$/ (target <= 2.0)/' || true
awk '/^CHECK ok / { ok++ } /^CHECK FAIL/ { bad++; print } /^skipped/ { print }
     END { if (ok + bad) printf "postfix log checks (who rejected what, what was delivered): %d ok, %d failed\n", ok, bad }' \
    "$T/compare.out"
exit "$status"
