#!/bin/bash
# tests/integration/fault_store_pages.sh SYNC MILTER CTL GRAPHSIM FAULTS INSPECT TAMPER
#
# A damaged store never crashes anything that reads it. A closed, good store
# gets one page overwritten with random bytes, PAGES_CASES times (default 100; the pages and
# the bytes come from PAGES_SEED, default 13, so a failure is reproducible), and is cut to half
# its length once (the SIGBUS case). For each damaged data.mdb:
#   - a milter started on it answers every RCPT: 451 4.3.0 (on_cache_unavailable) for managed
#     domains and continue for others when the store is refused (error_kind=corrupt, logged
#     once), or from the list when the damage is where no reader looks (a free page); it is
#     alive afterwards;
#   - m365gatectl status and lookup (check and dump every fifth case), and
#     m365gate-store-inspect, end with an exit
#     status, never a signal; on a refused store each says why, status and dump exit 1,
#     check 3 (UNKNOWN), lookup decides as the milter does without a store (451);
#   - a milter that runs through all cases (data.mdb replaced under it each time) never dies,
#     and answers from the list again once the good store is back;
#   - every PAGES_SYNC_EVERY-th case (default 25) and the truncated one: m365gate-sync --once
#     moves a refused store aside and rebuilds the whole list with a full sync.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/fault_lib.sh"
hardening_args "$@"
command -v curl >/dev/null || { echo "SKIP: curl not installed"; exit 77; }
hardening_setup

CASES=${PAGES_CASES:-100}
# Under a sanitizer build (scripts/test-sanitizers) the point is memory and UB errors in the
# readers of damaged stores, not the count, and everything is several times slower: 30 cases
# (the same seed, so the first 30 of the plain suite's 100). The plain suite runs the 100.
sanitized && CASES=${PAGES_CASES:-30}
SEED=${PAGES_SEED:-13}
SYNC_EVERY=${PAGES_SYNC_EVERY:-25}
USERS=1000
start_sim --users "$USERS" --groups 0 || { bad "simulator did not start"; finish; }
write_secret "$T/etc/gen.secret" "$GEN_SECRET"
gen_config "$T/etc/m365gate.toml"
CFG_SOCKET="unix:$T/sock/case.sock" gen_config "$T/etc/case.toml"
cfg=$T/etc/m365gate.toml
synclog=$T/log/sync.log
digest=$(gen_expected "$USERS" 0 - "$T/out/list")

run_sync "$cfg" "$synclog" --once || { bad "first sync failed"; finish; }
[ "$(field "$(inspect)" digest)" = "$digest" ] && ok "the list is published" || { bad "first sync: $(inspect)"; finish; }
cp "$T/store/data.mdb" "$T/good.mdb"
pages=$(($(stat -c %s "$T/good.mdb") / 4096))
note "good store: $pages pages of 4096 bytes; $CASES cases, seed $SEED"

sock=$T/sock/milter.sock
start_milter "$cfg" "$T/log/milter.log" "$sock" || { bad "milter did not start"; finish; }
long_pid=$MILTER_PID
answers_list() {
    [ "$(probe_one "$1" user17@gen.example)" = continue ] &&
        probe_one "$1" nosuch@gen.example | grep -q '^reply 550 5.1.1 '
}
answers_anything() {  # an SMTP answer, not a broken connection
    probe_one "$1" "$2" | grep -Eq '^(continue|reply [45][0-9][0-9] )'
}
answers_list "unix:$sock" && ok "the long-running milter answers from the list" || bad "milter: $(probe_one "unix:$sock" user17@gen.example)"

# install FILE: FILE becomes data.mdb by rename (a new inode, as a restored copy would be).
install_store() {
    chown "$SYNC_USER" "$1"
    chmod 0640 "$1"
    mv "$1" "$T/store/data.mdb"
}
# The random pages of every case, made at once (one python start per case costs a second on a
# busy machine): $T/pages/N is case N's 4096 bytes, from seed (SEED, N).
python3 - "$T/pages" "$SEED" "$CASES" <<'PAGES_PY'
import os, random, sys
out, seed, cases = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
os.makedirs(out)
for n in range(1, cases + 1):
    rnd = random.Random(seed * 1000003 + n)
    with open(os.path.join(out, str(n)), "wb") as f:
        f.write(bytes(rnd.getrandbits(8) for _ in range(4096)))
PAGES_PY
# damage N PAGE: a copy of the good store with PAGE overwritten by case N's bytes.
damage() {
    cp "$T/good.mdb" "$T/case.mdb"
    dd if="$T/pages/$1" of="$T/case.mdb" bs=4096 seek="$2" count=1 conv=notrunc status=none
}
signalled() { [ "$1" -ge 128 ]; }  # an exit status that means "killed by a signal"
broken_dirs() { find "$T/store" -mindepth 1 -maxdepth 1 -type d -name 'broken-*' | wc -l; }

refused=0 opened=0 milter_ok=0 ctl_ok=0 tool_signals=0 rebuilt=0 rebuild_cases=0 case_total=0
clog=$T/log/case-milter.log
csock=$T/sock/case.sock

# refused_ok CMD STATUS: what m365gatectl must do with a refused store: say why, and fail
# (status, dump: 1; check: Nagios UNKNOWN 3); lookup warns and decides as the milter does
# without a store (451 for managed domains), as it always has.
refused_ok() {
    grep -q 'cannot read the store .*\(is damaged\|is truncated\|MDB_INVALID\)' "$T/out/ctl.out" || return 1
    case $1 in
        status | dump*) [ "$2" = 1 ] ;;
        check) [ "$2" = 3 ] ;;
        lookup*) grep -q '451 4.3.0' "$T/out/ctl.out" ;;
    esac
}

# check_case LABEL: the checks of one damaged store (already installed as data.mdb).
check_case() {
    local label=$1 line rc kind pid good=yes answers waited=0 cmd
    case_total=$((case_total + 1))
    rm -f "$csock"
    # A child of this shell (reaped at once after SIGKILL), polled every 20 ms: start_milter's
    # 0.1 s polls and libmilter's orderly stop would cost more than the case itself. The
    # readers below run while it starts.
    "$MILTER" --config "$T/etc/case.toml" >"$clog" 2>&1 </dev/null &
    pid=$!
    MILTER_PIDS+=("$pid")

    line=$("$INSPECT" --store "$T/store" --max-size 1G --tenant gen 2>&1) && rc=0 || rc=$?
    if signalled "$rc"; then
        bad "$label: m365gate-store-inspect died (status $rc)"
        tool_signals=$((tool_signals + 1))
    fi
    kind=$(field "$line" kind)
    local cmds=(status "lookup user17@gen.example")
    if [ $((case_total % 5)) = 1 ]; then
        cmds+=(check "dump --tenant gen")  # every fifth case: they open the store the same way
    fi
    for cmd in "${cmds[@]}"; do
        # shellcheck disable=SC2086  # cmd is words on purpose
        "$CTL" --config "$cfg" $cmd >"$T/out/ctl.out" 2>&1 && rc=0 || rc=$?
        if signalled "$rc"; then
            good=no
            bad "$label: m365gatectl $cmd died (status $rc)"
        elif [ "$(field "$line" open)" != ok ] && ! refused_ok "$cmd" "$rc"; then
            good=no
            bad "$label: m365gatectl $cmd: status $rc on a refused store: $(head -c 300 "$T/out/ctl.out")"
        fi
    done
    [ "$good" = yes ] && ctl_ok=$((ctl_ok + 1))

    good=yes
    while ! grep -q 'event=start' "$clog"; do
        if [ "$waited" -ge 500 ] || ! kill -0 "$pid" 2>/dev/null; then
            bad "$label: the milter did not start: $(tail -n 3 "$clog")"
            return
        fi
        sleep 0.02
        waited=$((waited + 1))
    done
    answers=$("$FAULTS" probe --socket "unix:$csock" --rcpt user17@gen.example \
        --rcpt nosuch@gen.example --rcpt someone@elsewhere.example 2>&1) || true
    if [ "$(field "$line" open)" = ok ]; then
        opened=$((opened + 1))
        [ "$(grep -Ec '^<[^>]*> (continue|reply [45][0-9][0-9] )' <<<"$answers")" = 3 ] ||
            { good=no; bad "$label (opened): $answers"; }
    else
        refused=$((refused + 1))
        { [ "$(grep -c '@gen.example> reply 451 4.3.0 ' <<<"$answers")" = 2 ] &&
            grep -q '^<someone@elsewhere.example> continue$' <<<"$answers"; } ||
            { good=no; bad "$label (refused, $kind): $answers"; }
        [ "$(grep -c 'event=store_open status=unavailable .*error_kind=corrupt' "$clog")" = 1 ] ||
            { good=no; bad "$label: want one error_kind=corrupt line: $(grep -c store_open "$clog")"; }
    fi
    alive "$pid" || { good=no; bad "$label: the milter died: $(tail -n 3 "$clog")"; }
    [ "$good" = yes ] && milter_ok=$((milter_ok + 1))
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    forget_pid "$pid"
    answers_anything "unix:$sock" user17@gen.example || bad "$label: the long-running milter: $(probe_one "unix:$sock" user17@gen.example)"
}

# rebuild_case LABEL: m365gate-sync --once on the damaged store; a refused one is moved aside.
rebuild_case() {
    local label=$1 before rc=0
    rebuild_cases=$((rebuild_cases + 1))
    before=$(broken_dirs)
    local refused_store=no
    [ "$(field "$("$INSPECT" --store "$T/store" --max-size 1G 2>&1)" open)" = ok ] || refused_store=yes
    run_sync "$cfg" "$synclog" --once --full || rc=$?
    if signalled "$rc"; then
        bad "$label: m365gate-sync died (status $rc)"
        return
    fi
    if [ "$refused_store" = yes ] && [ "$(broken_dirs)" != $((before + 1)) ]; then
        bad "$label: the damaged store was not moved aside (exit $rc)"
        return
    fi
    if [ "$rc" = 0 ] && [ "$(field "$(inspect)" digest)" = "$digest" ]; then
        rebuilt=$((rebuilt + 1))
    else
        bad "$label: after the sync (exit $rc): $(inspect)"
    fi
}

started=$SECONDS
RANDOM=$SEED
for n in $(seq 1 "$CASES"); do
    page=$(((RANDOM * 32768 + RANDOM) % pages))
    damage "$n" "$page"
    install_store "$T/case.mdb"
    check_case "case $n (page $page)"
    if [ $((n % SYNC_EVERY)) = 0 ]; then
        rebuild_case "case $n (page $page)"
    fi
done

# Truncated: the file ends before the pages its meta page says are in use.
cp "$T/good.mdb" "$T/case.mdb"
truncate -s $((pages * 4096 / 2 / 4096 * 4096)) "$T/case.mdb"
install_store "$T/case.mdb"
check_case "truncated to $((pages / 2)) pages"
[ "$(field "$("$INSPECT" --store "$T/store" --max-size 1G 2>&1)" kind)" = corrupt ] &&
    ok "a truncated store is refused as corrupt" || bad "truncated: $("$INSPECT" --store "$T/store" --max-size 1G 2>&1)"
rebuild_case "truncated"
elapsed=$((SECONDS - started))

[ "$milter_ok" = "$case_total" ] && ok "a milter started on each damaged store answered and stayed up ($milter_ok/$case_total; refused $refused, opened $opened)" ||
    bad "milter: $milter_ok/$case_total"
[ "$ctl_ok" = "$case_total" ] && ok "m365gatectl status/check/lookup/dump ended with an exit status each time ($ctl_ok/$case_total)" ||
    bad "m365gatectl: $ctl_ok/$case_total"
[ "$rebuilt" = "$rebuild_cases" ] && ok "m365gate-sync rebuilt the list $rebuilt/$rebuild_cases times" || bad "sync: $rebuilt/$rebuild_cases"

# The long-running milter: alive, and back on the list once a good store is in place.
cp "$T/good.mdb" "$T/case.mdb"
install_store "$T/case.mdb"
alive "$long_pid" && ok "the long-running milter never died" || bad "the long-running milter died"
wait_for 15 answers_list "unix:$sock" && ok "and answers from the list again with a good store" ||
    bad "long-running milter after the good store: $(probe_one "unix:$sock" user17@gen.example)"
crashes=$(grep -c 'event=internal_error' "$T/log/milter.log" || true)
[ "$crashes" = 0 ] || bad "internal errors in the milter log: $crashes"

summary fault_store_pages "cases=$case_total(seed=$SEED,pages+truncated) refused=$refused opened_unharmed=$opened milter_answered_and_alive=$milter_ok/$case_total ctl_no_signal=$ctl_ok/$case_total tool_signals=$tool_signals sync_rebuilt=$rebuilt/$rebuild_cases long_running_milter_alive=$(alive "$long_pid" && echo yes || echo no) seconds=$elapsed"
finish
