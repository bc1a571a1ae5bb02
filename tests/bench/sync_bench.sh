#!/bin/bash
# sync_bench.sh BUILD_DIR [--skip-1m] - wall time and peak RSS of m365gate-sync against the
# Graph simulator over TLS on loopback:
#   1. 100k users (3 SMTP addresses each) + 10k groups: full sync  (want <= 6 s, <= 150 MB)
#   2. 1,000 changes through the control API, then a delta round   (want <= 1 s)
#   3. 1M users + 10k groups: full sync                             (want <= 60 s, <= 256 MB)
# Peak RSS is /usr/bin/time -v's "Maximum resident set size" of the m365gate-sync process.
# Not a ctest test: figures go to tests/bench/README.md ("## sync").
set -euo pipefail

build=$(cd "${1:?usage: sync_bench.sh BUILD_DIR [--skip-1m]}" && pwd)
skip_1m=${2:-}
src=$(cd "$(dirname "$0")/../.." && pwd)
sync_bin=$build/sync/m365gate-sync
sim_bin=$build/tests/graphsim/m365gate-graphsim
for b in "$sync_bin" "$sim_bin" /usr/bin/time curl jq; do
    command -v "$b" >/dev/null || { echo "missing: $b" >&2; exit 2; }
done

work=$(mktemp -d /tmp/m365gate-sync-bench.XXXXXX)
chmod 755 "$work"
sim_pid=
cleanup() {
    [[ -n $sim_pid ]] && kill "$sim_pid" 2>/dev/null && wait "$sim_pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
bash "$src/tests/graphsim/make-test-ca.sh" "$work/ca"
chmod 644 "$work/ca/ca.pem"

tenant_id=11111111-1111-1111-1111-111111111111
client_id=22222222-2222-2222-2222-222222222222
secret='generated~secret~value'

start_sim() {  # start_sim USERS
    rm -f "$work/port"
    "$sim_bin" --listen 127.0.0.1:0 --cert "$work/ca/server.pem" --key "$work/ca/server.key" \
        --users "$1" --groups 10000 --port-file "$work/port" >"$work/sim-$1.log" 2>&1 &
    sim_pid=$!
    for _ in $(seq 600); do [[ -s $work/port ]] && break; sleep 0.1; done
    port=$(cat "$work/port")
    base=https://127.0.0.1:$port
}

stop_sim() {
    kill "$sim_pid"; wait "$sim_pid" 2>/dev/null || true; sim_pid=
}

write_config() {  # write_config NAME
    mkdir -p "$work/store-$1"
    printf '%s\n' "$secret" >"$work/secret"
    chmod 600 "$work/secret"
    cat >"$work/$1.toml" <<EOF
[store]
path = "$work/store-$1"
max_size = "8G"
[log]
target = "stderr"
level = "debug"
[sync]
ca_file = "$work/ca/ca.pem"
pid_file = ""
user = "nobody"
[[tenant]]
name = "gen"
tenant_id = "$tenant_id"
client_id = "$client_id"
client_secret_file = "$work/secret"
login_endpoint = "$base"
graph_endpoint = "$base"
EOF
    if [[ $(id -u) == 0 ]]; then chown -R nobody "$work"; fi
}

runs=0
run_sync() {  # run_sync NAME LABEL [m365gate-sync options] -> prints the figures
    runs=$((runs + 1))
    local log=$work/run-$runs.log name=$1 label=$2
    shift 2
    /usr/bin/time -v "$sync_bin" --config "$work/$name.toml" --once "$@" >"$log" 2>&1 || {
        echo "m365gate-sync failed:" >&2; tail -20 "$log" >&2; exit 1; }
    local wall rss line
    wall=$(sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$log")
    rss=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$log")
    line=$(grep -o 'event=sync kind=[a-z]* status=ok.*' "$log" | tail -1)
    grep -o "event=rebuild.*" "$log" >&2 || true
    printf '%-28s wall=%-9s peak_rss=%s MB  %s\n' "$label" "$wall" "$((rss / 1024))" "$line"
}

# 1. 100k users
start_sim 100000
write_config 100k
run_sync 100k "full 100k users/10k groups"

# 2. 1,000 changes: 400 renames, 300 deletions, 300 new users; then one delta round.
token=$(curl -sS --cacert "$work/ca/ca.pem" "$base/$tenant_id/oauth2/v2.0/token" \
    --data-urlencode "client_id=$client_id" --data-urlencode "client_secret=$secret" \
    --data-urlencode "scope=$base/.default" --data-urlencode grant_type=client_credentials |
    jq -r .access_token)
mapfile -t ids < <(curl -sS --cacert "$work/ca/ca.pem" -H "Authorization: Bearer $token" \
    "$base/v1.0/users?\$select=id&\$top=999" | jq -r '.value[].id' | head -700)
# One curl config: "next" starts a new URL and resets every option, so each block repeats them.
opts() { printf 'cacert = "%s"\noutput = "/dev/null"\nsilent\nshow-error\nfail\n' "$work/ca/ca.pem"; }
{
    for i in $(seq 0 399); do
        [[ $i == 0 ]] || echo next
        opts
        printf 'url = "%s/_sim/tenants/%s/users/%s"\nrequest = "PATCH"\nheader = "Content-Type: application/json"\ndata = "{\\"mail\\":\\"renamed%d@gen.example\\",\\"proxyAddresses\\":[\\"SMTP:renamed%d@gen.example\\"]}"\n' \
            "$base" "$tenant_id" "${ids[$i]}" "$i" "$i"
    done
    for i in $(seq 400 699); do
        echo next
        opts
        printf 'url = "%s/_sim/tenants/%s/users/%s"\nrequest = "DELETE"\n' "$base" "$tenant_id" "${ids[$i]}"
    done
    for i in $(seq 1 300); do
        echo next
        opts
        printf 'url = "%s/_sim/tenants/%s/users"\nheader = "Content-Type: application/json"\ndata = "{\\"id\\":\\"bench-new-%d\\",\\"mail\\":\\"new%d@gen.example\\",\\"proxyAddresses\\":[\\"SMTP:new%d@gen.example\\",\\"smtp:n.%d@gen2.example\\"]}"\n' \
            "$base" "$tenant_id" "$i" "$i" "$i" "$i"
    done
} >"$work/changes.curl"
curl -K "$work/changes.curl"
run_sync 100k "delta 1,000 changes"
run_sync 100k "full resync 100k (--full)" --full
stop_sim

# 3. 1M users
if [[ $skip_1m != --skip-1m ]]; then
    start_sim 1000000
    write_config 1m
    run_sync 1m "full 1M users/10k groups"
    run_sync 1m "full resync 1M (--full)" --full
    stop_sim
fi
