#!/bin/bash
# tests/integration/fault_corrupt.sh SYNC MILTER CTL GRAPHSIM FAULTS INSPECT TAMPER
#
# A corrupt or truncated data.mdb. A data.mdb corrupted or truncated in place under a live
# mapping would read garbage or SIGBUS any reader (LMDB has no checksums), so the realistic
# cases are tested: a broken data.mdb that replaces the file (a restored backup, a copy
# that went wrong) under a running milter, a milter started on it, and the sync worker
# started on it.
#   - The milter notices that data.mdb was replaced (its (device, inode) changed), reopens
#     it, logs why it cannot use it (error_kind=corrupt), applies on_cache_unavailable
#     (451 4.3.0) to managed domains and lets others through; it never crashes. A second
#     milter started on the broken store does the same.
#   - m365gate-sync finds the store corrupt: it moves data.mdb and lock.mdb aside into
#     <store>/broken-<UTC time>/, logs that at error level with what to do, and rebuilds the
#     store with a full sync (the first attempt is made to fail, so the milter is seen on
#     the new, never-synced store answering 451; the next one succeeds and the milter
#     answers from the new list). Both with --once and as a daemon.
#   - An unknown schema version is a clear error for both, and is never moved aside.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/fault_lib.sh"
hardening_args "$@"
command -v curl >/dev/null || { echo "SKIP: curl not installed"; exit 77; }
hardening_setup

USERS=3000
start_sim --users "$USERS" --groups 0 || { bad "simulator did not start"; finish; }
write_secret "$T/etc/gen.secret" "$GEN_SECRET"
gen_config "$T/etc/m365gate.toml"
CFG_SOCKET="unix:$T/sock/second.sock" gen_config "$T/etc/second.toml"
cfg=$T/etc/m365gate.toml
synclog=$T/log/sync.log
digest=$(gen_expected "$USERS" 0 - "$T/out/list")

run_sync "$cfg" "$synclog" --once || { bad "first sync failed"; finish; }
[ "$(field "$(inspect)" digest)" = "$digest" ] && ok "the list is published" || { bad "first sync: $(inspect)"; finish; }
sock=$T/sock/milter.sock
start_milter "$cfg" "$T/log/milter.log" "$sock" || { bad "milter did not start"; finish; }
milter_pid=$MILTER_PID
mlog=$T/log/milter.log

answers_list() {  # answers_list SOCKET: the published list is in force
    [ "$(probe_one "$1" user17@gen.example)" = continue ] &&
        probe_one "$1" nosuch@gen.example | grep -q '^reply 550 5.1.1 '
}
answers_unavailable() {  # on_cache_unavailable for managed domains, others flow
    probe_one "$1" user17@gen.example | grep -q '^reply 451 4.3.0 ' &&
        probe_one "$1" nosuch@gen.example | grep -q '^reply 451 4.3.0 ' &&
        [ "$(probe_one "$1" someone@elsewhere.example)" = continue ]
}
answers_list "unix:$sock" && ok "the milter answers from the list" || bad "milter: $(probe_one "unix:$sock" user17@gen.example)"

# replace_store HOW: data.mdb replaced (by rename) with a broken copy of itself.
#   meta: both meta pages overwritten with random bytes; truncated: cut to 64 KiB.
replace_store() {
    local new=$T/store/data.mdb.new
    cp "$T/store/data.mdb" "$new"
    case $1 in
        meta) dd if=/dev/urandom of="$new" bs=4096 count=2 conv=notrunc status=none ;;
        truncated) truncate -s 65536 "$new" ;;
    esac
    chown "$SYNC_USER" "$new"
    chmod 0640 "$new"
    mv "$new" "$T/store/data.mdb"
}
ino() { stat -c %i "$T/store/data.mdb"; }
broken_dirs() { find "$T/store" -mindepth 1 -maxdepth 1 -type d -name 'broken-*' | wc -l; }
cases=0 unavailable_ok=0 rebuilt=0

for how in meta truncated; do
    cases=$((cases + 1))
    mark=$(wc -l <"$mlog")
    replace_store "$how"
    if wait_for 15 answers_unavailable "unix:$sock"; then
        ok "$how: the running milter applies on_cache_unavailable (451) and lets other domains through"
        unavailable_ok=$((unavailable_ok + 1))
    else
        bad "$how: milter answers $(probe_one "unix:$sock" user17@gen.example)"
    fi
    newlog=$(tail -n +"$((mark + 1))" "$mlog")
    grep -q 'event=store_replaced status=reopening' <<<"$newlog" && ok "$how: it noticed that data.mdb was replaced" ||
        bad "$how: no store_replaced line"
    if grep -q 'error: event=store_open status=unavailable .*error_kind=corrupt .*applying=on_cache_unavailable' <<<"$newlog"; then
        ok "$how: it logs why: $(grep -o 'error=.*' <<<"$newlog" | grep -v store_replaced | head -n 1 | cut -c1-140)"
    else
        bad "$how: no corrupt-store line:"
        sed 's/^/    /' <<<"$newlog" | tail -n 5
    fi
    # A milter started on the broken store.
    s2=$T/sock/second.sock
    if start_milter "$T/etc/second.toml" "$T/log/second-$how.log" "$s2"; then
        answers_unavailable "unix:$s2" && ok "$how: a milter started on it answers 451 too" ||
            bad "$how: second milter: $(probe_one "unix:$s2" user17@gen.example)"
        grep -q 'error_kind=corrupt' "$T/log/second-$how.log" && ok "$how: and logs why" || bad "$how: second milter silent"
        stop_pid "$MILTER_PID" || bad "second milter did not stop"
    else
        bad "$how: a milter on the broken store did not start"
    fi
    kill -0 "$milter_pid" && ok "$how: the first milter is still running" || bad "$how: the milter died"

    dirs_before=$(broken_dirs)
    old_ino=$(ino)
    smark=$(wc -l <"$synclog")
    if [ "$how" = meta ]; then
        # --once, with Graph failing: the new store exists but has never synced.
        sim_call POST /_sim/faults '{"match":"/v1.0/users","type":"status","status":500,"count":20}' >/dev/null
        rc=0
        run_sync "$cfg" "$synclog" --once || rc=$?
        [ "$rc" = 1 ] && ok "$how: the rebuild's first attempt fails (Graph answers 500)" || bad "$how: exit $rc, want 1"
        sim_call DELETE /_sim/faults >/dev/null
    else
        # The daemon: it moves the store aside at start and rebuilds it in its first round.
        start_sync "$cfg" "$synclog" || bad "daemon did not start"
        synced() { tail -n +"$((smark + 1))" "$synclog" | grep -q 'event=sync kind=full status=ok'; }
        wait_for 60 synced && ok "$how: the daemon's first round rebuilds the store" || bad "$how: daemon did not sync"
        kill -TERM "$SYNC_PID"
        wait_dead "$SYNC_PID" 30 || bad "daemon did not stop"
    fi
    slog=$(tail -n +"$((smark + 1))" "$synclog")
    if [ "$(broken_dirs)" = $((dirs_before + 1)) ] && grep -q 'error: event=store_recovery status=moved_aside' <<<"$slog"; then
        aside=$(grep -o 'moved_to=[^ ]*' <<<"$slog" | head -n 1 | cut -d= -f2)
        ok "$how: moved aside to $(basename "$aside"), logged at error level"
        [ -f "$aside/data.mdb" ] && [ -f "$aside/lock.mdb" ] && ok "$how: data.mdb and lock.mdb kept there" ||
            bad "$how: $(ls -la "$aside" 2>&1)"
        [ "$(stat -c %a "$aside")" = 700 ] && ok "$how: the broken copy is 0700" || bad "$how: mode $(stat -c %a "$aside")"
        grep -q 'note="the store was corrupt; a new one is being built by a full sync' <<<"$slog" &&
            ok "$how: the log line says what happens and what to do" || bad "$how: log line without a note"
        grep -q 'event=alert alert=store_damaged .*summary="recipient store damaged; moved aside' <<<"$slog" &&
            ok "$how: the store_damaged alert went out" || bad "$how: no store_damaged alert"
    else
        bad "$how: not moved aside (dirs $(broken_dirs), log:)"
        sed 's/^/    /' <<<"$slog" | tail -n 6
    fi
    [ "$(ino)" != "$old_ino" ] && ok "$how: a new data.mdb took its place" || bad "$how: same data.mdb"
    if [ "$how" = meta ]; then
        line=$(inspect)
        [ "$(field "$line" open)" = ok ] && [ "$(field "$line" last_success)" = 0 ] &&
            ok "$how: the new store has the failed attempt recorded ($(field "$line" last_error_kind))" ||
            bad "$how: new store: $line"
        mark=$(wc -l <"$mlog")
        reopened() {  # the milter opens lazily, from the RCPT path: ask it something
            probe_one "unix:$sock" user17@gen.example >/dev/null
            tail -n +"$((mark + 1))" "$mlog" | grep -q 'event=store_open status=ok'
        }
        wait_for 15 reopened && ok "$how: the milter opened the new store" || bad "$how: the milter did not reopen"
        answers_unavailable "unix:$sock" && ok "$how: not synced yet: still 451" ||
            bad "$how: before the rebuild: $(probe_one "unix:$sock" user17@gen.example)"
        run_sync "$cfg" "$synclog" --once && ok "$how: the next sync fills the new store" || bad "$how: second sync failed"
    fi
    [ "$(field "$(inspect)" digest)" = "$digest" ] && ok "$how: the rebuilt store holds the whole list" ||
        bad "$how: rebuilt store: $(inspect)"
    if wait_for 15 answers_list "unix:$sock"; then
        ok "$how: the milter answers from the rebuilt store"
        rebuilt=$((rebuilt + 1))
    else
        bad "$how: after the rebuild: $(probe_one "unix:$sock" user17@gen.example)"
    fi
done

# --- an unknown schema version: a clear error, never moved aside ------------------------------------
"$TAMPER" --store "$T/store" --schema 99 || bad "tamper failed"
dirs_before=$(broken_dirs)
old_ino=$(ino)
rc=0
out=$("$SYNC" --config "$cfg" --once 2>&1) || rc=$?
schema_ok=no
if [ "$rc" = 78 ] && grep -q 'has schema version 99; this m365gate understands version 2' <<<"$out"; then
    ok "m365gate-sync refuses an unknown schema version (78): $(grep -o 'has schema.*' <<<"$out" | head -n 1)"
    schema_ok=yes
else
    bad "schema 99: exit $rc: $out"
fi
[ "$(broken_dirs)" = "$dirs_before" ] && [ "$(ino)" = "$old_ino" ] && ok "the store with the unknown schema is left alone" ||
    bad "the store was moved or replaced"
if start_milter "$T/etc/second.toml" "$T/log/second-schema.log" "$T/sock/second.sock"; then
    answers_unavailable "unix:$T/sock/second.sock" && ok "a milter started on it answers 451" ||
        bad "schema milter: $(probe_one "unix:$T/sock/second.sock" user17@gen.example)"
    grep -q 'error: event=store_open status=unavailable .*error_kind=schema .*schema version 99' "$T/log/second-schema.log" &&
        ok "and logs the schema error" || bad "schema milter log: $(grep store_open "$T/log/second-schema.log")"
    stop_pid "$MILTER_PID" || true
else
    bad "a milter on the unknown schema did not start"
    schema_ok=no
fi
"$TAMPER" --store "$T/store" --schema 1
run_sync "$cfg" "$synclog" --once && ok "schema 1: marked as 2, syncs again" || bad "sync after setting schema 1"
kill -0 "$milter_pid" && ok "the milter never crashed" || bad "the milter died"
crashes=$(grep -c 'event=internal_error' "$mlog" || true)

summary fault_corrupt "cases=$cases(meta,truncated) milter_451_while_broken=$unavailable_ok/$cases moved_aside_and_rebuilt=$rebuilt/$cases unknown_schema_refused=$schema_ok milter_crashes=0 internal_errors=$crashes"
finish
