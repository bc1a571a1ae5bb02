#!/bin/bash
# tests/integration/fault_graph.sh SYNC MILTER CTL GRAPHSIM FAULTS INSPECT TAMPER
#
# The Graph simulator misbehaving: connections reset before any answer, answers slower than
# sync.request_timeout, 429 storms with Retry-After (one within sync.max_backoff, one beyond
# it), and 503s from the token endpoint. For each: the sync fails cleanly (exit 1, the last good
# list kept, the error recorded in the tenant's state), the simulator's request record shows at
# most 1 + sync.max_retries attempts at the failing request, spaced by at least the wait the
# client must make (Retry-After, or the backoff: min(5 s * 2^(n+1), max_backoff) * [0.5, 1))
# and by no more than the cap plus a margin for the request itself (a cap not applied would
# show as 5 s and more), and a later sync succeeds and publishes the change made
# while Graph was failing. Finally the daemon: a failing round, then a good one, unattended.
#
# Settings: max_retries = 2, max_backoff = "1s", request_timeout = "2s" (slow: 5 s).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/fault_lib.sh"
hardening_args "$@"
command -v curl >/dev/null || { echo "SKIP: curl not installed"; exit 77; }
hardening_setup

USERS=2000
MAX_RETRIES=2
MAX_BACKOFF=1
TIMEOUT=2
start_sim --users "$USERS" --groups 0 || { bad "simulator did not start"; finish; }
write_secret "$T/etc/gen.secret" "$GEN_SECRET"
CFG_SYNC="request_timeout = \"${TIMEOUT}s\"" gen_config "$T/etc/m365gate.toml"
cfg=$T/etc/m365gate.toml
synclog=$T/log/sync.log
record=$T/log/sim.record

run_sync "$cfg" "$synclog" --once || { bad "first sync failed"; finish; }
line=$(inspect)
[ "$(field "$line" addresses)" = $((3 * USERS)) ] && ok "first list published" || { bad "first sync: $line"; finish; }

# attempts MARK FAULT PATH_PREFIX: the faulted requests since record line MARK, grouped into
# the client's attempts: "requests=4 n=3 min_gap=1.01 max_gap=1.04 after=0". A request less
# than 0.3 s after the previous one belongs to the same attempt: libcurl resends a request
# once on a fresh connection when a reused keep-alive connection dies before any answer (the
# reset fault does that to the first attempt, which reuses the token request's connection).
# after: unfaulted requests to PATH_PREFIX after the last faulted one (attempts beyond it).
attempts() {
    python3 - "$record" "$1" "$2" "$3" <<'ATTEMPTS_PY'
import json, sys, datetime
path, mark, fault, prefix = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
def ts(s): return datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").timestamp()
recs = [json.loads(l) for l in open(path).read().splitlines()[mark:] if l.strip()]
hit = [r for r in recs if r.get("fault") == fault and r["target"].startswith(prefix)]
times = sorted(ts(r["ts"]) for r in hit)
starts = [t for i, t in enumerate(times) if i == 0 or t - times[i - 1] >= 0.3]
gaps = [b - a for a, b in zip(starts, starts[1:])]
last = times[-1] if times else 0
after = sum(1 for r in recs if r["target"].startswith(prefix) and r.get("fault") is None and ts(r["ts"]) >= last)
print("requests=%d n=%d min_gap=%.2f max_gap=%.2f after=%d" % (len(hit), len(starts), min(gaps) if gaps else 0, max(gaps) if gaps else 0, after))
ATTEMPTS_PY
}
gt() { python3 -c "import sys; sys.exit(0 if float(sys.argv[1]) >= float(sys.argv[2]) else 1)" "$1" "$2"; }

cases=0 clean=0 bounded=0 recovered=0 n_user=0
# one_case NAME FAULT_JSON FAULT_TYPE PATH_PREFIX WANT_N MIN_GAP MAX_GAP ERROR_PATTERN
one_case() {
    local name=$1 fault=$2 type=$3 prefix=$4 want_n=$5 min_gap=$6 max_gap=$7 pattern=$8
    cases=$((cases + 1))
    n_user=$((n_user + 1))
    local newaddr="faultcase$n_user@gen.example"
    sim_call POST "/_sim/tenants/$GEN_TENANT_ID/users" \
        "{\"id\":\"f1000000-0000-4000-8000-00000000000$n_user\",\"displayName\":\"new\",\"userPrincipalName\":\"$newaddr\",\"mail\":\"$newaddr\",\"proxyAddresses\":[\"SMTP:$newaddr\"],\"accountEnabled\":true}" >/dev/null
    local before mark smark rc=0
    before=$(inspect)
    sim_call POST /_sim/faults "$fault" | grep -q '"ok":true' || bad "$name: fault not accepted"
    mark=$(wc -l <"$record")
    smark=$(wc -l <"$synclog")
    run_sync "$cfg" "$synclog" --once || rc=$?
    sim_call DELETE /_sim/faults >/dev/null
    local slog after a
    slog=$(tail -n +"$((smark + 1))" "$synclog")
    after=$(inspect)
    if [ "$rc" = 1 ] && [ "$(field "$after" digest)" = "$(field "$before" digest)" ] &&
        [ "$(field "$after" last_success)" = "$(field "$before" last_success)" ] &&
        grep -qE "last_error=\"$pattern" <<<"$after"; then
        ok "$name: the sync fails cleanly (exit 1, list and last success kept, $(field "$after" last_error_kind): $(sed -n 's/.*last_error="\([^"]*\)".*/\1/p' <<<"$after" | cut -c1-90))"
        clean=$((clean + 1))
    else
        bad "$name: rc=$rc before=[$before] after=[$after]"
        sed 's/^/    /' <<<"$slog" | tail -n 5
    fi
    # The simulator records a request when it has answered it: a slow one seconds later.
    recorded() { [ "$(field "$(attempts "$mark" "$type" "$prefix")" n)" -ge "$want_n" ]; }
    wait_for 15 recorded || true
    a=$(attempts "$mark" "$type" "$prefix")
    if [ "$(field "$a" n)" = "$want_n" ] && [ "$(field "$a" after)" = 0 ] &&
        [ "$(field "$a" requests)" -le $((2 * want_n)) ] &&
        gt "$(field "$a" min_gap)" "$min_gap" && gt "$max_gap" "$(field "$a" max_gap)"; then
        ok "$name: attempts within bounds ($a; want n=$want_n, gaps in [$min_gap, $max_gap] s)"
        bounded=$((bounded + 1))
    else
        bad "$name: attempts $a (want n=$want_n, no attempt after, gaps in [$min_gap, $max_gap] s)"
    fi
    if run_sync "$cfg" "$synclog" --once && [ "$(field "$(inspect)" addresses)" = $((3 * USERS + n_user)) ]; then
        ok "$name: the next sync succeeds and publishes the change made meanwhile"
        recovered=$((recovered + 1))
    else
        bad "$name: no recovery: $(inspect)"
    fi
}

n=$((MAX_RETRIES + 1))
# Without Retry-After the client backs off min(5 s * 2^(n+1), max_backoff) * [0.5, 1): here
# between max_backoff / 2 and max_backoff.
half=$(python3 -c "print($MAX_BACKOFF / 2 - 0.05)")
one_case "connection reset" '{"match":"/v1.0/users","type":"reset","count":20}' reset /v1.0/users \
    "$n" "$half" $((MAX_BACKOFF + 4)) "GET /v1.0/users.* failed after $n attempts"
one_case "slower than request_timeout" '{"match":"/v1.0/users","type":"slow","delay_ms":5000,"count":20}' slow /v1.0/users \
    "$n" "$(python3 -c "print($TIMEOUT + $half)")" $((TIMEOUT + MAX_BACKOFF + 4)) "GET /v1.0/users.* failed after $n attempts"
one_case "429 storm, Retry-After 1" '{"match":"/v1.0/users","type":"status","status":429,"retry_after":1,"count":50}' status /v1.0/users \
    "$n" 0.95 $((MAX_BACKOFF + 4)) "GET /v1.0/users.* failed after $n attempts: HTTP 429"
one_case "429 storm, Retry-After 30 > max_backoff" '{"match":"/v1.0/users","type":"status","status":429,"retry_after":30,"count":50}' status /v1.0/users \
    1 0 0 "Graph asked to wait 30 s"
one_case "token endpoint 503 storm" "{\"match\":\"/$GEN_TENANT_ID/oauth2\",\"type\":\"status\",\"status\":503,\"retry_after\":1,\"count\":50}" status "/$GEN_TENANT_ID/oauth2" \
    "$n" 0.95 $((MAX_BACKOFF + 4)) "."

# --- the daemon: a round that fails, then one that succeeds -------------------------------------
sim_call POST /_sim/faults "{\"match\":\"/v1.0/users\",\"type\":\"status\",\"status\":429,\"retry_after\":1,\"count\":$n}" >/dev/null
CFG_SYNC="request_timeout = \"${TIMEOUT}s\"
interval = \"2s\"" gen_config "$T/etc/daemon.toml"
smark=$(wc -l <"$synclog")
start_sync "$T/etc/daemon.toml" "$synclog" || bad "daemon did not start"
rounds() { tail -n +"$((smark + 1))" "$synclog" | grep -E 'event=sync kind=[a-z]+ status=(ok|error)' | sed 's/.*status=\([a-z]*\).*/\1/' | tr '\n' ' '; }
daemon_recovered() { grep -q 'error ok' <<<"$(rounds)"; }
if wait_for 60 daemon_recovered; then
    ok "the daemon's round fails on the 429 storm and its next round succeeds unattended ($(rounds))"
    daemon=yes
else
    bad "daemon rounds: $(rounds)"
    daemon=no
fi
kill -TERM "$SYNC_PID"
wait_dead "$SYNC_PID" 30 || bad "daemon did not stop"

summary fault_graph "cases=$cases failed_cleanly=$clean/$cases retries_within_bounds=$bounded/$cases later_round_ok=$recovered/$cases daemon_recovers=$daemon max_retries=$MAX_RETRIES max_backoff=${MAX_BACKOFF}s"
finish
