#!/bin/bash
# tests/integration/milter_daemon.sh MILTER STORE_FILL LOADGEN
#
# Confirms how m365gate-milter starts, runs and stops as a daemon: --check-config and bad
# configs (exit 78), an unknown milter.user (exit 77), the privilege drop to milter.user when
# started as root, the socket's mode, owner and group, a stale socket removed at start, a store
# that is missing at start and opened once it appears, SIGUSR1 reload (good config applied, bad
# config ignored, restart-only settings named, log.rejections reopened after rotation), a
# clean stop on SIGTERM, and a stop with a callback that cannot return (milter.stop_timeout).
set -euo pipefail
MILTER=$1 STORE_FILL=$2 LOADGEN=$3
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/milter_lib.sh"
. "$HERE/milter_fixture.sh"

milter_setup
sock=$(socket_path daemon)
cfg=$T/m365gate.toml
log=$T/log/milter.log

probe() { "$LOADGEN" --socket "unix:$sock" --probe --from s@outside.example "$@" 2>&1 || true; }

# --- configuration checks, no daemon -------------------------------------------------------
write_config "$cfg" "unix:$sock"
if out=$("$MILTER" --config "$cfg" --check-config 2>&1) && grep -q ': OK' <<<"$out"; then
    ok "--check-config accepts a good config"
else
    bad "--check-config on a good config: $out"
fi
write_config "$T/bad.toml" "unix:$sock" 'on_stal = "reject"'
rc=0
out=$("$MILTER" --config "$T/bad.toml" --check-config 2>&1) || rc=$?
if [ "$rc" = 78 ] && grep -q 'bad.toml:[0-9]*:.*on_stal' <<<"$out"; then
    ok "a bad config exits 78 naming file, line and key"
else
    bad "bad config: rc=$rc out=$out"
fi
rc=0
out=$("$MILTER" --config "$T/bad.toml" 2>&1) || rc=$?
[ "$rc" = 78 ] && ok "the daemon refuses to start on a bad config (78)" || bad "daemon on bad config: rc=$rc"
MILTER_USER=no-such-user-m365 write_config "$T/nouser.toml" "unix:$T/nouser.sock"
rc=0
out=$("$MILTER" --config "$T/nouser.toml" 2>&1) || rc=$?
if [ "$rc" = 77 ] && grep -q 'no-such-user-m365' <<<"$out"; then
    ok "an unknown milter.user is fatal (77, EX_NOPERM)"
else
    bad "unknown user: rc=$rc out=$out"
fi
"$MILTER" --version | grep -q '^m365gate-milter ' && ok "--version" || bad "--version"

# --- start with no store and a stale socket -------------------------------------------------
rmdir "$T/store"  # the store does not exist yet: the sync worker has not run
python3 -c 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])' "$sock"
[ -S "$sock" ] || bad "could not create the stale socket"
write_config "$cfg" "unix:$sock"
if start_milter "$cfg" "$log" "$sock"; then
    ok "starts over a stale socket, with no store"
else
    bad "did not start"
    finish
fi
pid=$MILTER_PID

uid_line=$(awk '/^Uid:/ {print $2, $3, $4, $5}' "/proc/$pid/status")
gid_line=$(awk '/^Gid:/ {print $2, $3, $4, $5}' "/proc/$pid/status")
nobody=$(id -u nobody)
nogroup=$(getent group nogroup | cut -d: -f3)
[ "$uid_line" = "$nobody $nobody $nobody $nobody" ] && ok "runs as nobody (real, effective, saved)" ||
    bad "uids after the drop: $uid_line"
[ "$gid_line" = "$nogroup $nogroup $nogroup $nogroup" ] && ok "runs in group nogroup" ||
    bad "gids after the drop: $gid_line"
groups=$(awk '/^Groups:/ {$1=""; print}' "/proc/$pid/status" | tr -s ' ')
if [ -z "${groups// /}" ] || [ "$groups" = " $nogroup" ] || [ "$groups" = " $nogroup " ]; then
    ok "no supplementary groups of root left"
else
    bad "supplementary groups: $groups"
fi
sock_info=$(stat -c '%A %U %G' "$sock")
[ "$sock_info" = "srw-rw---- nobody postfix" ] && ok "socket srw-rw---- nobody:postfix" ||
    bad "socket: $sock_info"
grep -q 'event=store_open status=unavailable' "$log" && ok "a missing store is logged, not fatal" ||
    bad "no store_open warning"
grep -q "event=start .*socket=unix:$sock .*store_status=unavailable .*tenants=contoso:2,tailspin:1" "$log" &&
    ok "start-up line names socket, store, tenants and domain counts" || bad "start-up line"

out=$(probe --rcpt alice@customer.example --rcpt someone@elsewhere.example)
grep -qxF '<alice@customer.example> reply 451 4.3.0 <alice@customer.example>: Recipient address lookup failed: try again later' <<<"$out" &&
    ok "no store: a configured domain gets on_cache_unavailable (451)" || bad "no store, managed: $out"
grep -qxF '<someone@elsewhere.example> continue' <<<"$out" &&
    ok "no store: other domains flow" || bad "no store, unmanaged: $out"

# The sync worker creates the store: the next RCPT (at most a second later) uses it.
mkdir -p "$T/store"
fill_fixture
alice_ok() { probe --rcpt alice@customer.example | grep -qxF '<alice@customer.example> continue'; }
wait_for 15 alice_ok && ok "the store is opened once it appears, without a restart" ||
    bad "store never opened: $(probe --rcpt alice@customer.example)"
grep -q 'event=store_open status=ok' "$log" && ok "store_open status=ok logged" || bad "no store_open ok line"
out=$(probe --rcpt nobody@customer.example)
grep -q '^<nobody@customer.example> reply 550 5.1.1 ' <<<"$out" && ok "unknown -> 550 with the store" ||
    bad "unknown with store: $out"

# --- SIGUSR1 reload ---------------------------------------------------------------------------
write_config "$cfg" "unix:$sock" 'mode = "report"'
kill -USR1 "$pid"
wait_for 10 grep -q 'event=reload status=ok .*mode=report' "$log" && ok "SIGUSR1 reloads (mode=report)" ||
    bad "no reload line"
out=$(probe --rcpt nobody@customer.example)
grep -qxF '<nobody@customer.example> continue' <<<"$out" && ok "report mode after reload: unknown continues" ||
    bad "after reload: $out"
wait_for 10 grep -q 'action=would_reject .*to=<nobody@customer.example>' "$log" &&
    ok "would_reject logged" || bad "no would_reject line"

printf 'this is [not toml\n' >"$cfg"
kill -USR1 "$pid"
wait_for 10 grep -q 'event=reload status=rejected .*keeping=previous' "$log" &&
    ok "a broken config on reload is logged and ignored" || bad "no rejected-reload line"
out=$(probe --rcpt nobody2@customer.example)
grep -qxF '<nobody2@customer.example> continue' <<<"$out" && ok "the previous config stays in force" ||
    bad "after bad reload: $out"

mv "$T/log/rejections.jsonl" "$T/log/rejections.jsonl.1"
write_config "$cfg" "unix:$T/other.sock" 'reject_text = "no such user here: {address}"'
kill -USR1 "$pid"
wait_for 10 grep -q 'event=reload status=ok .*restart_needed=milter.socket' "$log" &&
    ok "a changed socket is named as needing a restart" || bad "no restart_needed line"
out=$(probe --rcpt x%y@customer.example)
grep -qxF '<x%y@customer.example> reply 550 5.1.1 no such user here: x%%y@customer.example' <<<"$out" &&
    ok "a new reject_text applies at once" || bad "custom reply: $out"
[ -S "$sock" ] && ok "still listening on the old socket" || bad "old socket gone"
wait_for 10 grep -q '"to":"x%y@customer.example"' "$T/log/rejections.jsonl" &&
    ok "log.rejections reopened after rotation" || bad "no line in the reopened rejections file"

# --- SIGTERM --------------------------------------------------------------------------------
kill -TERM "$pid"
if wait_gone "$pid" 30; then ok "SIGTERM stops the milter"; else bad "still running after SIGTERM"; fi
grep -q 'event=stop status=ok' "$log" && ok "stop logged" || bad "no stop line"
[ ! -e "$sock" ] && ok "socket removed at stop" || bad "socket left behind"

# --- a stop while a callback cannot return ----------------------------------------------------
# The milter's log goes through a relay that stops reading on SIGUSR1: its pipe (one page) fills,
# and the log line of the next rejection blocks inside an RCPT callback. SIGTERM must then end
# the milter after milter.stop_timeout, without freeing what that callback uses, and say so.
threads_in_write() {  # threads_in_write PID N: at least N threads of PID are inside write()
    local n=0 t
    for t in /proc/"$1"/task/*; do
        [ "$(cut -d' ' -f1 "$t/syscall" 2>/dev/null)" = 1 ] && n=$((n + 1))
    done
    [ "$n" -ge "$2" ]
}
# The pid file tells when the drain is over: the milter removes it right after giving up
# (or after the last callback returned), and the relay is still stalled then, so a pid file
# gone while a callback is stuck means the drain timed out. (Waiting for the main thread to be
# in write() or futex() was not enough: under TSan it waits in futex() before the drain ends.)
install -d -m 0755 -o "${MILTER_USER:-nobody}" "$T/run-stuck"
stuck_pidfile=$T/run-stuck/milter.pid
write_config "$cfg" "unix:$sock" 'stop_timeout = "2s"'
sed -i "s|^pid_file = \"\"|pid_file = \"$stuck_pidfile\"|" "$cfg"
log2=$T/log/milter-stuck.log
status2=$T/log/milter-stuck.status
python3 "$HERE/../tools/stall_relay.py" "$log2" "$status2" -- "$MILTER" --config "$cfg" \
    >"$T/relay.pid" &
relay=$!
MILTER_PIDS+=("$relay")
wait_for 10 test -s "$T/relay.pid" || bad "the relay did not start the milter"
stuck_pid=$(cat "$T/relay.pid")
MILTER_PIDS+=("$stuck_pid")
if wait_for 20 grep -q 'event=start' "$log2" && wait_for 20 test -S "$sock" &&
    wait_for 20 test -s "$stuck_pidfile"; then
    kill -USR1 "$relay"
    rcpts=()
    for i in $(seq 1 200); do rcpts+=(--rcpt "stuck$i@customer.example"); done
    "$LOADGEN" --socket "unix:$sock" --probe --from s@outside.example "${rcpts[@]}" \
        >/dev/null 2>&1 &
    prober=$!
    if wait_for 30 threads_in_write "$stuck_pid" 1; then
        ok "an RCPT callback is stuck in a log write"
        kill -TERM "$stuck_pid"
        # The drain gives up after stop_timeout and removes the pid file; its next log line
        # then blocks too, until the relay reads again.
        wait_for 60 test ! -e "$stuck_pidfile" || bad "the main thread never got past the drain"
        threads_in_write "$stuck_pid" 1 || bad "the stuck callback returned before the drain ended"
        kill -USR2 "$relay"
        if wait_for 30 test -s "$status2"; then
            [ "$(cat "$status2")" = 70 ] && ok "the milter exits 70 (EX_SOFTWARE)" ||
                bad "exit status $(cat "$status2"), want 70"
        else
            bad "milter still running after SIGTERM with a stuck callback"
        fi
        grep -q 'event=stop status=error in_flight=[1-9].*stop_timeout=2s' "$log2" &&
            ok "the stop says callbacks were still running" ||
            bad "no stop line naming the stuck callbacks"
        grep -qiE 'segmentation|AddressSanitizer|ThreadSanitizer|terminate called' "$log2" &&
            bad "the stop crashed" || ok "no crash at the stop"
    else
        bad "no callback got stuck: every RCPT was answered"
    fi
    kill "$prober" 2>/dev/null || true
    wait "$prober" 2>/dev/null || true
else
    bad "milter behind the relay did not start"
fi
finish
