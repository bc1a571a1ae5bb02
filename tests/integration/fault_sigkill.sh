#!/bin/bash
# tests/integration/fault_sigkill.sh SYNC MILTER CTL GRAPHSIM FAULTS INSPECT TAMPER
#
# m365gate-sync killed with SIGKILL at random points of a large publish, FAULT_SIGKILL_RUNS
# (20) times: the store always opens and holds exactly the old list or the new one, and a
# m365gate-milter running throughout never stops answering, and never answers wrongly.
#
# The tenant is the simulator's generated one (FAULT_SIGKILL_USERS, default 150,000 users:
# 456,000 addresses, a full sync takes about 4 s here) plus 3,000 "flip" users whose addresses
# are fa<i>@gen.example in list A and fb<i>@gen.example in list B (changed through the control
# API, enough keys that a resync writes a new generation rather than an in-place update).
# The expected lists are computed from the simulator's documented rule (gen_expected), not
# from a sync. Runs alternate:
#   odd:  first sync - the tenant is first removed from the store (a sync with a config
#         without it: what a newly configured tenant looks like), then `m365gate-sync --once`;
#         after the kill the store holds no list for it ("none") or the whole new list;
#   even: resync of a changed list - the simulator switches A <-> B, `--once --full`; after
#         the kill the store holds the old list or the new one.
# The kill comes after a delay drawn from a seeded RNG (FAULT_SEED, printed; re-run with it
# to repeat a run): for half the runs between 5% and 85% of the measured duration of the first
# full sync from its start, for the other half between 0 and 90% of its publish (from the last
# page to the end: sorting, staging the new generation, the switch, the reclaim) from the
# moment the last page arrived (later syncs are a little faster than the first, which also
# grows the file). A resync that would start from no list first
# gets a sync that is not killed. A run whose sync finished before the kill is checked too but does not count: the
# loop goes on until RUNS kills happened.
#
# The watcher (m365gate-milter-faults watch) asks the milter about stable known, stable
# unknown, flipping and unmanaged addresses the whole time and checks each answer against the
# states the store may be in at that moment (the phase file: widened before a run, narrowed
# to the state found after it). One subtlety of LMDB: a sync killed inside its final commit,
# after the new meta page reached data.mdb but before the lock file's transaction id was
# updated, leaves a complete commit that readers do not see yet; the next writer's recovery
# of the dead writer's mutex (mdb_mutex_failed) makes it current. The store then holds the old
# list, and later the new one, both whole. m365gate-store-inspect shows it (last_txnid >
# txnid; mostly a staging chunk's commit, which no reader looks at); the new list then stays
# allowed until a later sync has run (latent_commits counts them). After the runs a normal sync must succeed and reclaim what the
# killed runs left: unused_generations=0 and no address key beyond the tenant's list.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/fault_lib.sh"
hardening_args "$@"
command -v curl >/dev/null || { echo "SKIP: curl not installed"; exit 77; }
hardening_setup

# CI size: 8 kills of a 60k-user publish (first syncs and resyncs alternating, as at full size);
# M365GATE_TEST_SIZE=full: 20 kills of 150k users (about two minutes on 2 cores).
RUNS=${FAULT_SIGKILL_RUNS:-8}
USERS=${FAULT_SIGKILL_USERS:-60000}
if full_size; then
    RUNS=${FAULT_SIGKILL_RUNS:-20}
    USERS=${FAULT_SIGKILL_USERS:-150000}
fi
GROUPS_N=3000
FLIPS=3000
SEED=${FAULT_SEED:-$(date +%s)}
note "seed=$SEED runs=$RUNS users=$USERS (FAULT_SEED=$SEED repeats these delays)"

start_sim --users "$USERS" --groups "$GROUPS_N" || { bad "simulator did not start"; finish; }
write_secret "$T/etc/gen.secret" "$GEN_SECRET"
CFG_LOG_LEVEL=trace gen_config "$T/etc/sync.toml"
CFG_TENANT=0 gen_config "$T/etc/remove.toml"
synclog=$T/log/sync.log

# --- the two lists ------------------------------------------------------------------------------
python3 - "$T/out" "$FLIPS" <<'FLIP_PY'
import json, sys
out, n = sys.argv[1], int(sys.argv[2])
for v in ("a", "b"):
    objs = [{"id": "f0000000-0000-4000-8000-%012d" % i, "displayName": "flip %d" % i,
             "userPrincipalName": "f%s%d@gen.example" % (v, i), "mail": "f%s%d@gen.example" % (v, i),
             "proxyAddresses": ["SMTP:f%s%d@gen.example" % (v, i)], "accountEnabled": True,
             "userType": "Member"} for i in range(n)]
    json.dump(objs, open("%s/flip%s.json" % (out, v.upper()), "w"))
    open("%s/flip%s.txt" % (out, v.upper()), "w").write("".join("f%s%d@gen.example\n" % (v, i) for i in range(n)))
FLIP_PY
declare -A DIGEST
DIGEST[A]=$(gen_expected "$USERS" "$GROUPS_N" "$T/out/flipA.txt" "$T/out/A.list")
DIGEST[B]=$(gen_expected "$USERS" "$GROUPS_N" "$T/out/flipB.txt" "$T/out/B.list")
note "list A: $(wc -l <"$T/out/A.list") addresses, list B: $(wc -l <"$T/out/B.list")"
set_sim_list() {  # set_sim_list A|B
    sim_call POST "/_sim/tenants/$GEN_TENANT_ID/users" "@$T/out/flip$1.json" | grep -q '"ok":true'
}

# state_of LINE: which list the store holds ("none", "A", "B"), or "other".
state_of() {
    local line=$1
    [ "$(field "$line" open)" = ok ] || { echo "unreadable"; return; }
    # No list: no tenant record, or one that never had a successful sync (the milter answers
    # both with on_cache_unavailable).
    if [ "$(field "$line" addresses)" = 0 ] && { [ "$(field "$line" present)" = 0 ] ||
        [ "$(field "$line" last_success)" = 0 ]; }; then
        echo none
        return
    fi
    local d
    d=$(field "$line" digest)
    [ "$(field "$line" last_success)" != 0 ] || { echo "other"; return; }
    for s in A B; do
        [ "$d" = "${DIGEST[$s]}" ] && { echo "$s"; return; }
    done
    echo other
}

# --- the milter and the watcher, then the first list ------------------------------------------------
set_sim_list A || { bad "control API: list A"; finish; }
sim_list=A
state=none
sock=$T/sock/milter.sock
start_milter "$T/etc/sync.toml" "$T/log/milter.log" "$sock" || { bad "milter did not start"; finish; }
milter_pid=$MILTER_PID
last=$((USERS))
{
    for a in user1@gen.example u.777@gen.example "user$last@gen2.example" group1@gen.example \
        group2@gen2.example; do
        echo "$a none=tempfail A=continue B=continue"
    done
    # always_accept comes before the store check: postmaster continues even with no list.
    echo "postmaster@gen.example none=continue A=continue B=continue"
    for a in nosuch1@gen.example user0@gen.example "user$((last + 1))@gen.example" \
        group3@gen.example fc1@gen.example; do
        echo "$a none=tempfail A=reject B=reject"
    done
    for a in fa0@gen.example "fa$((FLIPS - 1))@gen.example"; do
        echo "$a none=tempfail A=continue B=reject"
    done
    for a in fb0@gen.example "fb$((FLIPS / 2))@gen.example"; do
        echo "$a none=tempfail A=reject B=continue"
    done
    echo "someone@elsewhere.example none=continue A=continue B=continue"
} >"$T/out/expect"
phase() { printf '%s\n' "$1" >"$T/out/phase.tmp" && mv "$T/out/phase.tmp" "$T/out/phase"; }
phase none,A
setsid -f sh -c "echo \$\$ > '$T/watch.pid.tmp'; exec \"\$0\" \"\$@\"" "$FAULTS" watch \
    --socket "unix:$sock" --expect "$T/out/expect" --phase "$T/out/phase" \
    --stop-file "$T/out/stop" --status-file "$T/out/watch.status" \
    >"$T/out/watch.out" 2>"$T/log/watch.err" </dev/null
wait_for 10 test -s "$T/watch.pid.tmp" || { bad "watcher did not start"; finish; }
watch_pid=$(cat "$T/watch.pid.tmp")
MILTER_PIDS+=("$watch_pid")
answered() { [ -s "$T/out/watch.status" ] && [ "$(field "$(cat "$T/out/watch.status")" rcpts)" -gt "$1" ]; }
wait_for 20 answered 0 || { bad "the watcher gets no answers"; finish; }

# The first full sync, timed with the milter and the watcher busy: the scale of the delays.
# Its log says when the last page arrived (contacts come last): from there on it publishes
# (sorts, stages the new generation, switches, reclaims).
fetched() { tail -n +"$(($1 + 1))" "$synclog" | grep -q 'event=graph_page path=/v1.0/contacts items='; }
touch "$synclog"
mark=$(wc -l <"$synclog")
t0=$(date +%s.%N)
start_sync "$T/etc/sync.toml" "$synclog" --once || { bad "initial sync did not start"; finish; }
until fetched "$mark" || ! alive "$SYNC_PID"; do sleep 0.02; done
t1=$(date +%s.%N)
wait_dead "$SYNC_PID" 120 || { bad "initial sync did not end"; finish; }
t2=$(date +%s.%N)
full_s=$(python3 -c "print(round($t2 - $t0, 2))")
publish_s=$(python3 -c "print(round($t2 - $t1, 2))")
line=$(inspect)
if [ "$(state_of "$line")" = A ]; then
    ok "a full sync publishes exactly list A ($(field "$line" addresses) addresses, ${full_s}s, of which ${publish_s}s after the last page)"
else
    bad "initial sync: $line"
    finish
fi
state=A
phase A

# --- the kill runs ----------------------------------------------------------------------------------
# Runs 1-2, 5-6, ...: a delay from the start, anywhere in the sync. Runs 3-4, 7-8, ...: a
# delay from the last page, inside the publish (first syncs and resyncs get both).
mapfile -t delays < <(python3 -c "
import random; r = random.Random($SEED)
for i in range(4 * $RUNS):
    print('%.2f' % (r.uniform(0.05, 0.85) * $full_s if i // 2 % 2 == 0 else r.uniform(0.0, 0.9) * $publish_s))")
kills=0 store_ok=0 finished_first=0 iteration=0 silent_runs=0 leftovers=0 latent_commits=0
pending=""  # ",A": a list whose complete commit the next writer will make current
while [ "$kills" -lt "$RUNS" ] && [ "$iteration" -lt $((4 * RUNS)) ]; do
    delay=${delays[$iteration]}
    iteration=$((iteration + 1))
    if [ $((iteration % 2)) = 1 ]; then
        kind=first
        phase "$state,none$pending"
        run_sync "$T/etc/remove.toml" "$synclog" --once || bad "run $iteration: removing the tenant failed"
        line=$(inspect)
        [ "$(state_of "$line")" = none ] || { bad "run $iteration: tenant not removed: $line"; break; }
        state=none pending=""
        phase none
        old=none new=$sim_list
        phase "none,$new"
        args=(--once)
    else
        kind=resync
        if [ "$state" = none ]; then  # a resync needs a list to replace: finish the first sync
            phase "none,$sim_list$pending"
            run_sync "$T/etc/sync.toml" "$synclog" --once || bad "run $iteration: sync failed"
            line=$(inspect)
            state=$(state_of "$line") pending=""
            [ "$state" = "$sim_list" ] || { bad "run $iteration: sync gave '$state': $line"; break; }
            phase "$state"
        fi
        [ "$sim_list" = A ] && new=B || new=A
        old=$state
        phase "$old,$new$pending"
        set_sim_list "$new" || { bad "control API: list $new"; break; }
        sim_list=$new
        args=(--once --full)
    fi
    before=$(field "$(cat "$T/out/watch.status")" rcpts)
    log_mark=$(wc -l <"$synclog")
    start_sync "$T/etc/sync.toml" "$synclog" "${args[@]}" || { bad "sync did not start"; break; }
    if [ $(((iteration - 1) / 2 % 2)) = 1 ]; then
        from="the last page"
        until fetched "$log_mark" || ! alive "$SYNC_PID"; do sleep 0.02; done
    else
        from="the start"
    fi
    sleep "$delay"  # the fault injection point (seeded), not a wait for a condition
    alive "$SYNC_PID" && kill -KILL "$SYNC_PID" 2>/dev/null || true
    wait_dead "$SYNC_PID" 20 || bad "m365gate-sync $SYNC_PID still there after SIGKILL"
    if tail -n +"$((log_mark + 1))" "$synclog" | grep -q 'event=stop'; then
        finished_first=$((finished_first + 1))
        how="finished before the kill"
    else
        kills=$((kills + 1))
        how=killed
    fi
    where=$(tail -n +"$((log_mark + 1))" "$synclog" | tail -n 1 | sed 's/^[^ ]* [^ ]* //' | cut -c1-90)
    line=$(inspect)
    got=$(state_of "$line")
    # What a killed run left for the reclaim: a staged generation, keys beyond the list.
    left=""
    if [ "$(field "$line" unused_generations)" != 0 ] ||
        [ "$(field "$line" address_entries)" != "$(field "$line" addresses)" ]; then
        left=" (left behind: $(field "$line" unused_generations) unused generation(s), $(($(field "$line" address_entries) - $(field "$line" addresses))) extra address keys)"
        leftovers=$((leftovers + 1))
    fi
    # A commit cut off after its meta page was written: readers go on seeing the transaction
    # before it until the next writer starts, whose recovery of the dead writer's mutex makes
    # it current. Mostly a staging chunk (nothing a reader looks at); if it was the switch, the
    # new list appears then: it stays allowed until a sync has run.
    latent=""
    if [ "$(field "$line" last_txnid)" -gt "$(field "$line" txnid)" ] 2>/dev/null; then
        latent=" (its last commit is on disk but not yet seen: the next writer makes it current)"
        latent_commits=$((latent_commits + 1))
    fi
    if [ "$got" = "$old" ] || [ "$got" = "$new" ]; then
        store_ok=$((store_ok + 1))
        note "run $iteration ($kind $old->$new): $how ${delay}s after $from [last log: ${where:-none}]: store holds $got$left$latent"
    else
        bad "run $iteration ($kind $old->$new): $how ${delay}s after $from: store is '$got': $line"
        got=other
    fi
    state=$got
    [ "$state" = other ] && break
    pending=""
    [ -n "$latent" ] && [ "$got" != "$new" ] && pending=",$new"
    phase "$state$pending"
    # The milter answered during the run (the watcher counts every answer).
    if answered "$before" || wait_for 10 answered "$before"; then :; else
        silent_runs=$((silent_runs + 1))
        bad "run $iteration: the milter gave no answer during the run"
    fi
done
[ "$kills" = "$RUNS" ] && ok "$kills kills ($finished_first syncs finished before their kill)" ||
    bad "only $kills kills in $iteration runs"
[ "$store_ok" = "$iteration" ] && ok "after every run the store opened with the old or the new list" ||
    bad "store_ok=$store_ok of $iteration runs"

# --- a normal sync afterwards reclaims what the killed runs left -------------------------------------
before_line=$(inspect)
note "before the normal sync: $(cut -d' ' -f1-6 <<<"$before_line")"
phase "$state,$sim_list$pending"
if run_sync "$T/etc/sync.toml" "$synclog" --once; then
    ok "a normal sync after the kills succeeds"
else
    bad "the normal sync after the kills failed: $(tail -n 3 "$synclog")"
fi
line=$(inspect)
got=$(state_of "$line")
[ "$got" = "$sim_list" ] && ok "the store holds list $sim_list" || bad "after the normal sync: $got: $line"
phase "$got"
unused=$(field "$line" unused_generations)
entries=$(field "$line" address_entries)
count=$(field "$line" addresses)
if [ "$unused" = 0 ] && [ "$entries" = "$count" ]; then
    ok "reclaimed: unused_generations=0, address_entries=$entries = the list's $count"
    reclaimed=1
else
    bad "not reclaimed: unused_generations=$unused address_entries=$entries addresses=$count"
    reclaimed=0
fi
note "data.mdb: $(field "$line" file_size) bytes; LMDB reader table:"
mdb_stat -r "$T/store" 2>&1 | sed 's/^/    /' || true
wait_for 20 answered "$(field "$(cat "$T/out/watch.status")" rcpts)" || bad "the milter stopped answering"

# --- the watcher's verdict ----------------------------------------------------------------------
touch "$T/out/stop"
wait_dead "$watch_pid" 30 || bad "the watcher did not stop"
wres=$(cat "$T/out/watch.out")
note "$wres"
failures=$(field "$wres" failures)
wrong=$(field "$wres" wrong)
[ "${failures:-x}" = 0 ] && ok "the milter answered every probe (${failures} failures)" ||
    { bad "milter failures: ${failures:-?}"; cat "$T/log/watch.err"; }
[ "${wrong:-x}" = 0 ] && ok "no wrong answer in $(field "$wres" rcpts) RCPTs" ||
    { bad "wrong answers: ${wrong:-?}"; cat "$T/log/watch.err"; }
kill -0 "$milter_pid" 2>/dev/null && ok "the milter is still running" || bad "the milter died"

summary fault_sigkill "runs=$RUNS kills=$kills store_ok=$store_ok/$iteration milter_failures=${failures:-?} wrong_answers=${wrong:-?} rcpts=$(field "$wres" rcpts) runs_leaving_garbage=$leftovers latent_commits=$latent_commits reclaimed=$reclaimed seed=$SEED users=$USERS"
finish
