#!/bin/bash
# tests/integration/load_postfix_sync.sh SYNC MILTER CTL GRAPHSIM FAULTS INSPECT TAMPER
#
# Load: LOAD_SESSIONS (64) concurrent SMTP sessions through a real Postfix on loopback with
# m365gate-milter, for LOAD_SECONDS (40 at CI size, 120 with M365GATE_TEST_SIZE=full), while the real m365gate-sync daemon
# (sync.interval "1s", delta rounds) publishes a changed list every second: a flipper in the
# client creates a few users through the simulator's control API every second and deletes
# those of two seconds earlier. load_smtp_client.py sends the mail and checks every reply
# against the list in force: stable known addresses always 250, stable unknown always 550
# 5.1.1, no 4xx ever, and for each flipping address the replies in time order must read
# 550* 250* 550* with no 250 before it was created, no 550 after a 250 while it still
# existed, and no 250 after it was seen deleted (the client's header explains why that is
# exactly "consistent with the list published around that moment"). Zero wrong answers, no
# broken session, no crash (milter and sync daemon alive at the end, no milter warning in the
# Postfix log), and the milter's RSS and open fds flat from the first to the last minute:
# sampled every 5 s (printed), the last minute's maximum within LOAD_RSS_SLACK_KB (2048 KiB)
# and 16 fds of the first minute's (sessions come and go: each holds one fd in the milter),
# and at rest after the load the fds are those before it (+2).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/fault_lib.sh"
. "$HERE/../../scripts/lib/postfix_sandbox.sh"
hardening_args "$@"
for tool in postfix postconf curl; do
    command -v "$tool" >/dev/null || { echo "SKIP: $tool not installed"; exit 77; }
done
getent group postfix >/dev/null || { echo "SKIP: no postfix group (Postfix not installed)"; exit 77; }
hardening_setup

SESSIONS=${LOAD_SESSIONS:-64}
# CI size: 40 s of load (about 40 lists published under it; RSS and fds compared between the
# first and the last half); M365GATE_TEST_SIZE=full: 120 s, first and last minute.
DURATION=${LOAD_SECONDS:-40}
full_size && DURATION=${LOAD_SECONDS:-120}
RSS_SLACK=${LOAD_RSS_SLACK_KB:-2048}
USERS=20000
start_sim --users "$USERS" --groups 0 || { bad "simulator did not start"; finish; }
write_secret "$T/etc/gen.secret" "$GEN_SECRET"
CFG_SOCKET_GROUP=postfix CFG_SYNC='interval = "1s"' gen_config "$T/etc/m365gate.toml"
cfg=$T/etc/m365gate.toml
synclog=$T/log/sync.log
run_sync "$cfg" "$synclog" --once || { bad "first sync failed"; finish; }
sock=$T/sock/milter.sock
start_milter "$cfg" "$T/log/milter.log" "$sock" || { bad "milter did not start"; finish; }
milter_pid=$MILTER_PID

# --- Postfix on loopback ------------------------------------------------------------------------
PF=$T/pf
extra_cleanup() { pf_stop "$PF"; }
port=$(pf_free_port)
pf_init "$PF"
pf_gateway "$PF" gen.example gen2.example
pf_milter "$PF" "unix:$sock"
pf_set "$PF" "smtpd_client_connection_count_limit = 0" \
    "smtpd_client_connection_rate_limit = 0" "default_process_limit = 200"
pf_master "$PF" "$port"
pf_start "$PF" "$port" 2>"$T/log/postfix-start.log" || {
    bad "postfix did not start: $(tail -3 "$T/log/postfix-start.log")"
    finish
}
ok "postfix listening on 127.0.0.1:$port"

# --- the sync daemon, the samples, the load ----------------------------------------------------------
smark=$(wc -l <"$synclog")
start_sync "$cfg" "$synclog" || { bad "sync daemon did not start"; finish; }
sync_pid=$SYNC_PID
threads() { awk '/^Threads:/ {print $2}' "/proc/$1/status"; }
rest_fds=$(proc_fds "$milter_pid")
rest_rss=$(proc_rss "$milter_pid")
note "milter at rest before the load: rss_kb=$rest_rss fds=$rest_fds threads=$(threads "$milter_pid")"
samples=$T/out/samples
: >"$samples"
(  # every 5 s until the stop file appears (checked every 0.2 s: it ends at once)
    start=$SECONDS
    n=0
    while [ ! -e "$T/out/stop-sampler" ] && kill -0 "$milter_pid" 2>/dev/null; do
        if [ $((n % 25)) = 0 ]; then
            printf '%s %s %s %s\n' $((SECONDS - start)) "$(proc_rss "$milter_pid")" \
                "$(proc_fds "$milter_pid")" "$(threads "$milter_pid")" >>"$samples"
        fi
        n=$((n + 1))
        sleep 0.2
    done
) &
sampler_pid=$!
MILTER_PIDS+=("$sampler_pid")

note "load: $SESSIONS sessions for ${DURATION}s"
rc=0
python3 "$HERE/load_smtp_client.py" --port "$port" --sessions "$SESSIONS" --seconds "$DURATION" \
    --users "$USERS" --sim "$SIM_URL" --ca "$T/tls/ca.pem" --tenant "$GEN_TENANT_ID" \
    >"$T/out/client.out" 2>"$T/log/client.err" || rc=$?
touch "$T/out/stop-sampler"
wait "$sampler_pid" 2>/dev/null || true
forget_pid "$sampler_pid"
res=$(head -n 1 "$T/out/client.out")
note "$res"
tail -n +2 "$T/out/client.out" | sed 's/^/    /'
[ -s "$T/log/client.err" ] && sed 's/^/    client stderr: /' "$T/log/client.err" | tail -n 5
wrong=$(field "$res" wrong) failures=$(field "$res" failures)
[ "$rc" = 0 ] && [ "${wrong:-x}" = 0 ] && [ "${failures:-x}" = 0 ] &&
    ok "$(field "$res" rcpts) RCPTs in $(field "$res" transactions) transactions: 0 wrong, 0 failed sessions" ||
    bad "client: exit $rc, wrong=${wrong:-?} failures=${failures:-?}"
[ "$(field "$res" c4xx)" = 0 ] && ok "no 4xx reply at all" || bad "$(field "$res" c4xx) 4xx replies"
[ "$(field "$res" flip_addresses)" -gt 0 ] && ok "$(field "$res" flip_addresses) flipping addresses asked about ($(field "$res" flip) RCPTs, seen known $(field "$res" visible_lag_p50_s)s after creation at the median)" ||
    bad "no flipping address asked about"

# --- the sync daemon published throughout -------------------------------------------------------------
slog=$(tail -n +"$((smark + 1))" "$synclog")
published=$(grep 'event=sync kind=delta status=ok' <<<"$slog" | grep -vc ' changes=0 ' || true)
rounds_failed=$(grep -c 'event=sync kind=[a-z]* status=error' <<<"$slog" || true)
[ "$published" -ge $((DURATION / 10)) ] && ok "the sync daemon published $published changed lists in ${DURATION}s ($rounds_failed failed rounds)" ||
    bad "only $published publications ($rounds_failed failed rounds)"
alive "$sync_pid" && ok "the sync daemon is alive" || bad "the sync daemon died"
alive "$milter_pid" && ok "the milter is alive" || bad "the milter died"
mwarn=$(grep -c 'warning: milter' "$PF/maillog" || true)
[ "$mwarn" = 0 ] && ok "Postfix logged no milter warning" ||
    { bad "Postfix logged $mwarn milter warnings"; grep 'warning: milter' "$PF/maillog" | head -n 3; }
internal=$(grep -c 'event=internal_error' "$T/log/milter.log" || true)
[ "$internal" = 0 ] && ok "the milter logged no internal error" || bad "$internal internal errors"

# --- RSS and fds: first minute against last minute, and at rest ---------------------------------------
note "samples (seconds rss_kb fds threads):"
sed 's/^/    /' "$samples"
window=$((DURATION < 120 ? DURATION / 2 : 60))
read -r f_rss f_fds l_rss l_fds < <(awk -v d="$DURATION" -v w="$window" '
    $1 < w { if ($2 > fr) fr = $2; if ($3 > ff) ff = $3 }
    $1 >= d - w && $1 <= d { if ($2 > lr) lr = $2; if ($3 > lf) lf = $3 }
    END { print fr + 0, ff + 0, lr + 0, lf + 0 }' "$samples")
note "first ${window}s: max rss_kb=$f_rss fds=$f_fds; last ${window}s: max rss_kb=$l_rss fds=$l_fds"
if sanitized; then
    note "RSS $f_rss -> $l_rss KiB: not judged under a sanitizer (ASan's quarantine grows)"
elif [ "$l_rss" -gt 0 ] && [ "$l_rss" -le $((f_rss + RSS_SLACK)) ]; then
    ok "RSS flat: $f_rss -> $l_rss KiB (allowed +$RSS_SLACK)"
else
    bad "RSS grew: $f_rss -> $l_rss KiB"
fi
[ "$l_fds" -gt 0 ] && [ "$l_fds" -le $((f_fds + 16)) ] && ok "fds flat under load: $f_fds -> $l_fds" ||
    bad "fds grew under load: $f_fds -> $l_fds"
at_rest() { [ "$(proc_fds "$milter_pid")" -le $((rest_fds + 2)) ]; }
wait_for 30 at_rest && ok "fds at rest after the load: $(proc_fds "$milter_pid") (before: $rest_fds)" ||
    bad "fds at rest after the load: $(proc_fds "$milter_pid") (before: $rest_fds)"
note "milter at rest after the load: rss_kb=$(proc_rss "$milter_pid") fds=$(proc_fds "$milter_pid") threads=$(threads "$milter_pid")"
kill -TERM "$sync_pid" 2>/dev/null || true
wait_dead "$sync_pid" 30 || true

summary load_postfix_sync "sessions=$SESSIONS seconds=$DURATION rcpts=$(field "$res" rcpts) rcpt_per_s=$(field "$res" rcpt_per_s) flip_rcpts=$(field "$res" flip) lists_published=$published wrong_answers=${wrong:-?} failed_sessions=${failures:-?} milter_rss_kb=$f_rss->$l_rss milter_fds=$f_fds->$l_fds crashes=0"
finish
