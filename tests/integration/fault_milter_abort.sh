#!/bin/bash
# tests/integration/fault_milter_abort.sh SYNC MILTER CTL GRAPHSIM FAULTS INSPECT TAMPER
#
# The MTA dropping milter connections mid-transaction, FAULT_DROP_SESSIONS (20,000) times:
# m365gate-milter-faults drop breaks sessions off at ten points (before and after option
# negotiation, after connect, after MAIL, after 1-5 RCPTs, inside a packet header, inside a
# packet body, after an abort, with a reset instead of a close, between a RCPT's macros and the
# RCPT itself), four at a time. No leak: the milter's RSS, open file descriptors and threads
# (/proc/PID/status, /proc/PID/fd) after the last session are those after the first 1,000
# (printed; allowed: 2 fds, 2 threads, FAULT_RSS_SLACK_KB = 1024 KiB of RSS: malloc keeps
# freed memory in its arenas, a leak of even 200 bytes a session would pass that), and it
# still answers correctly. Every session is counted, and the milter must never refuse one.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/fault_lib.sh"
hardening_args "$@"
command -v curl >/dev/null || { echo "SKIP: curl not installed"; exit 77; }
hardening_setup

SESSIONS=${FAULT_DROP_SESSIONS:-20000}
sanitized && SESSIONS=${FAULT_DROP_SESSIONS:-6000}
WARMUP=1000
RSS_SLACK=${FAULT_RSS_SLACK_KB:-1024}
start_sim --users 1000 --groups 0 || { bad "simulator did not start"; finish; }
write_secret "$T/etc/gen.secret" "$GEN_SECRET"
gen_config "$T/etc/m365gate.toml"
cfg=$T/etc/m365gate.toml
run_sync "$cfg" "$T/log/sync.log" --once || { bad "sync failed"; finish; }
sock=$T/sock/milter.sock
start_milter "$cfg" "$T/log/milter.log" "$sock" || { bad "milter did not start"; finish; }
pid=$MILTER_PID

answers_right() {
    [ "$(probe_one "unix:$sock" user17@gen.example)" = continue ] &&
        probe_one "unix:$sock" nouser17@gen.example | grep -q '^reply 550 5.1.1 '
}
answers_right && ok "the milter answers before" || bad "before: $(probe_one "unix:$sock" user17@gen.example)"
threads() { awk '/^Threads:/ {print $2}' "/proc/$pid/status"; }
base_threads=$(threads)
# After a batch, libmilter's session threads notice the closed connections and end: wait
# until the thread count is back where it was at rest.
settled() { [ "$(threads)" -le $((base_threads + 1)) ]; }
figures() { printf 'rss_kb=%s fds=%s threads=%s' "$(proc_rss "$pid")" "$(proc_fds "$pid")" "$(threads)"; }

out1=$("$FAULTS" drop --socket "unix:$sock" --sessions "$WARMUP" --seed 1 2>&1) || bad "warm-up: $out1"
wait_for 30 settled || bad "threads after the warm-up: $(threads) (at rest: $base_threads)"
early=$(figures)
note "after $WARMUP dropped sessions: $early"
out2=$("$FAULTS" drop --socket "unix:$sock" --sessions "$SESSIONS" --seed 2 2>&1) || bad "drop run: $out2"
note "$out2"
wait_for 30 settled || bad "threads after the run: $(threads) (at rest: $base_threads)"
late=$(figures)
note "after $((WARMUP + SESSIONS)) dropped sessions: $late"

errors=$(($(field "$out1" errors) + $(field "$out2" errors)))
[ "$errors" = 0 ] && ok "the milter took every session ($((WARMUP + SESSIONS)), 0 refused or unanswered)" ||
    bad "$errors sessions failed"
e_rss=$(field "$early" rss_kb) l_rss=$(field "$late" rss_kb)
e_fds=$(field "$early" fds) l_fds=$(field "$late" fds)
e_thr=$(field "$early" threads) l_thr=$(field "$late" threads)
[ "$l_fds" -le $((e_fds + 2)) ] && ok "open fds flat: $e_fds -> $l_fds" || bad "fds grew: $e_fds -> $l_fds"
[ "$l_thr" -le $((e_thr + 2)) ] && ok "threads flat: $e_thr -> $l_thr" || bad "threads grew: $e_thr -> $l_thr"
if sanitized; then
    note "RSS $e_rss -> $l_rss KiB: not judged under a sanitizer (ASan's quarantine grows)"
elif [ "$l_rss" -le $((e_rss + RSS_SLACK)) ]; then
    ok "RSS flat: $e_rss -> $l_rss KiB (allowed +$RSS_SLACK)"
else
    bad "RSS grew: $e_rss -> $l_rss KiB"
fi
answers_right && ok "and it still answers correctly" || bad "after: $(probe_one "unix:$sock" user17@gen.example)"
kill -0 "$pid" && ok "the milter is still running" || bad "the milter died"
internal=$(grep -c 'event=internal_error' "$T/log/milter.log" || true)
[ "$internal" = 0 ] && ok "no internal error logged" || bad "$internal internal errors logged"

summary fault_milter_abort "sessions_dropped=$((WARMUP + SESSIONS)) modes=10 refused=$errors rss_kb=$e_rss->$l_rss fds=$e_fds->$l_fds threads=$e_thr->$l_thr answers_after=$(answers_right && echo right || echo WRONG)"
finish
