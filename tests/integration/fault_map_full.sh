#!/bin/bash
# tests/integration/fault_map_full.sh SYNC MILTER CTL GRAPHSIM FAULTS INSPECT TAMPER
#
# The map ceiling (store.max_size) reached during a sync: m365gate-sync fails with a clear
# error in its log and in the tenant's last_error, the old list stays intact, and the
# milter keeps answering with it. Then the admin does what the message says (raise
# store.max_size for m365gate-sync and run it again): the new list is published, and the
# milter, which still maps the store at its own (old) ceiling, reads it.
#
# The generated tenant (40,000 users) is first synced with domains = ["gen2.example"] (one
# address per user), under a ceiling of 8 MiB; the config then manages gen.example too (three
# addresses per user: a full resync that needs the old and the new generation side by side).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/fault_lib.sh"
hardening_args "$@"
command -v curl >/dev/null || { echo "SKIP: curl not installed"; exit 77; }
hardening_setup

USERS=40000
start_sim --users "$USERS" --groups 0 || { bad "simulator did not start"; finish; }
write_secret "$T/etc/gen.secret" "$GEN_SECRET"
export CFG_MAX_SIZE=8M
# The spill file's own bound (sync.max_spill_size, by default store.max_size) would stop this
# sync before the store fills; it is raised here so that the LMDB ceiling itself is reached.
export CFG_SYNC='max_spill_size = "1G"'
CFG_DOMAINS='"gen2.example"' gen_config "$T/etc/small.toml"
gen_config "$T/etc/large.toml"
synclog=$T/log/sync.log
old_digest=$(gen_expected "$USERS" 0 - "$T/out/old.list" gen2.example)
new_digest=$(gen_expected "$USERS" 0 - "$T/out/new.list")

run_sync "$T/etc/small.toml" "$synclog" --once || { bad "first sync failed: $(tail -n 3 "$synclog")"; finish; }
line=$(inspect)
[ "$(field "$line" digest)" = "$old_digest" ] &&
    ok "first list published ($(field "$line" addresses) addresses, data.mdb $(field "$line" file_size) bytes)" ||
    { bad "first list: $line"; finish; }

sock=$T/sock/milter.sock
start_milter "$T/etc/small.toml" "$T/log/milter.log" "$sock" || { bad "milter did not start"; finish; }
milter_pid=$MILTER_PID
answers_old() {
    [ "$(probe_one "unix:$sock" user17@gen2.example)" = continue ] &&
        probe_one "unix:$sock" nosuch@gen2.example | grep -q '^reply 550 5.1.1 '
}
answers_old && ok "the milter answers from the first list" || bad "milter before: $(probe_one "unix:$sock" user17@gen2.example)"

# --- the ceiling reached ----------------------------------------------------------------------
mark=$(wc -l <"$synclog")
rc=0
run_sync "$T/etc/large.toml" "$synclog" --once || rc=$?
out=$(tail -n +"$((mark + 1))" "$synclog")
refused=0 intact=0 milter_old=0
[ "$rc" = 1 ] && { ok "the sync that outgrows store.max_size fails (exit 1)"; refused=$((refused + 1)); } ||
    bad "exit $rc, want 1"
if grep -q 'event=sync kind=full status=error error_kind=store .*max_size' <<<"$out"; then
    ok "the log says why: $(grep -o 'error=.*max_size[^"]*' <<<"$out" | head -n 1 | cut -c1-150)"
else
    bad "no clear store-full error in the log:"
    sed 's/^/    /' <<<"$out" | tail -n 8
fi
line=$(inspect)
if [ "$(field "$line" last_error_kind)" = store ] && grep -q 'last_error=".*max_size' <<<"$line"; then
    ok "the tenant's last_error names the ceiling"
else
    bad "tenant state after the failure: $line"
fi
[ "$(field "$line" digest)" = "$old_digest" ] &&
    { ok "the old list is intact ($(field "$line" addresses) addresses)"; intact=$((intact + 1)); } ||
    bad "the store changed: $line"
status=$("$CTL" --config "$T/etc/small.toml" status 2>&1 || true)
grep -q 'max_size' <<<"$status" && ok "m365gatectl status shows the error" ||
    { bad "m365gatectl status does not show it:"; sed 's/^/    /' <<<"$status"; }
answers_old && { ok "the milter still answers from the old list"; milter_old=1; } || bad "milter after the failure: $(probe_one "unix:$sock" user17@gen2.example)"
[ "$(probe_one "unix:$sock" user17@gen.example)" = continue ] &&
    ok "gen.example, not yet managed, still flows" || bad "gen.example: $(probe_one "unix:$sock" user17@gen.example)"

# A second attempt (the daemon's next round) fails the same way and changes nothing.
run_sync "$T/etc/large.toml" "$synclog" --once && bad "second attempt succeeded under the same ceiling" ||
    { ok "a second attempt fails the same way"; refused=$((refused + 1)); }
line=$(inspect)
[ "$(field "$line" digest)" = "$old_digest" ] && { ok "still the old list"; intact=$((intact + 1)); } ||
    bad "after the second attempt: $line"
kill -0 "$milter_pid" && ok "the milter is still running" || bad "the milter died"

# --- the admin raises the ceiling (the sync worker's config; the milter keeps its own) ------------
CFG_MAX_SIZE=64M gen_config "$T/etc/raised.toml"
run_sync "$T/etc/raised.toml" "$synclog" --once && ok "with store.max_size raised the sync succeeds" ||
    bad "raised: $(tail -n 3 "$synclog")"
line=$(CFG_MAX_SIZE=64M inspect)
[ "$(field "$line" digest)" = "$new_digest" ] && ok "the new list is published ($(field "$line" addresses) addresses)" ||
    bad "after raising: $line"
[ "$(field "$line" last_error)" = '""' ] && ok "last_error cleared" || bad "last_error: $(field "$line" last_error)"
answers_new() {
    [ "$(probe_one "unix:$sock" user17@gen.example)" = continue ] &&
        probe_one "unix:$sock" nosuch@gen.example | grep -q '^reply 550 5.1.1 '
}
recovered=no
if wait_for 15 answers_new; then
    ok "the milter (still at its 8M ceiling) answers from the new list"
    recovered=yes
else
    bad "milter after the raise: $(probe_one "unix:$sock" user17@gen.example) / $(probe_one "unix:$sock" nosuch@gen.example)"
fi
grep -E 'event=store_(read|open|replaced)' "$T/log/milter.log" | sed 's/^/    milter: /' | cut -c1-200 || true

summary fault_map_full "ceiling=8M syncs_refused=$refused/2 old_list_intact=$intact/2 error_in_log_and_state=$(grep -q max_size <<<"$out" && echo yes || echo no) milter_kept_old_list=$([ "$milter_old" = 1 ] && echo yes || echo no) new_list_after_raise=$recovered"
finish
