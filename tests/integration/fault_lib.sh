# tests/integration/fault_lib.sh - shared by the hardening scripts (fault_*.sh, load_*.sh,
# secrets_*.sh; sourced, not run), on top of milter_lib.sh (the $T directory, ok/bad/finish,
# wait_for, start_milter, the pid list stopped in the EXIT trap).
#
# Arguments of every script, in this order (tests/cmake/hardening.cmake passes them):
#   SYNC MILTER CTL GRAPHSIM FAULTS INSPECT TAMPER
# Adds: the Graph simulator over TLS (a test CA from make-test-ca.sh), a config writer for the
# generated tenant "gen" (graphsim --users: domains gen.example and gen2.example), m365gate-sync
# runs (foreground --once, or the daemon by pid), the expected address lists of the generated
# tenant computed from the simulator's documented rule (not from a sync), what a reader sees
# in the store (m365gate-store-inspect), /proc figures of a process, and the SUMMARY line.

HARDENING_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HARDENING_HERE/milter_lib.sh"

hardening_args() {
    if [ "$#" -lt 7 ]; then
        echo "usage: $0 SYNC MILTER CTL GRAPHSIM FAULTS INSPECT TAMPER" >&2
        exit 64
    fi
    SYNC=$1 MILTER=$2 CTL=$3 GRAPHSIM=$4 FAULTS=$5 INSPECT=$6 TAMPER=$7
    # milter_lib.sh's names (start_milter uses $MILTER).
    STORE_FILL=/bin/false LOADGEN=/bin/false
    GEN_TENANT_ID=11111111-1111-1111-1111-111111111111
    GEN_CLIENT_ID=22222222-2222-2222-2222-222222222222
    GEN_SECRET='generated~secret~value'
}

# sanitized: the binaries were built with a sanitizer (scripts/test-sanitizers runs every
# test there too): everything is several times slower, so the scripts scale their sizes down,
# and AddressSanitizer keeps freed memory in quarantine, so RSS is printed but not judged.
sanitized() { ldd "$MILTER" 2>/dev/null | grep -qE 'lib(a|t|ub)san'; }

# full_size: M365GATE_TEST_SIZE=full asks for the fault and load tests at their full size (more
# kills, longer load); the default is the CI size, which covers the same behaviours in less time.
full_size() { [ "${M365GATE_TEST_SIZE:-ci}" = full ]; }

# The users the daemons drop to. The sync worker and the milter are both "nobody" unless a
# script sets SYNC_USER / MILTER_USER (secrets_privileges.sh separates them, as production).
SYNC_USER=${SYNC_USER:-nobody}
MILTER_USER=${MILTER_USER:-nobody}
MILTER_GROUP=${MILTER_GROUP:-nogroup}

# hardening_setup: milter_setup ($T, trap, root check) plus the directories the sync worker
# writes, owned by its user.
hardening_setup() {
    milter_setup
    mkdir -p "$T/etc" "$T/run" "$T/out"
    chown "$SYNC_USER" "$T/store" "$T/etc" "$T/run"
    chmod 0777 "$T/log"  # both daemons append their logs here
}

# start_sim ARGS...: the simulator (ARGS: --users N ... or --fixture F), record in
# $T/log/sim.record. Sets SIM_URL and SIM_PID.
start_sim() {
    bash "$HARDENING_HERE/../graphsim/make-test-ca.sh" "$T/tls" >/dev/null
    chmod 0755 "$T/tls"
    chmod 0644 "$T/tls/ca.pem"
    setsid -f sh -c "echo \$\$ > '$T/sim.pid.tmp'; exec \"\$0\" \"\$@\"" "$GRAPHSIM" \
        --listen 127.0.0.1:0 --cert "$T/tls/server.pem" --key "$T/tls/server.key" \
        --port-file "$T/sim.port" --record "$T/log/sim.record" "$@" \
        >"$T/log/sim.log" 2>&1 </dev/null
    wait_for 10 test -s "$T/sim.pid.tmp" || return 1
    SIM_PID=$(cat "$T/sim.pid.tmp")
    rm -f "$T/sim.pid.tmp"
    MILTER_PIDS+=("$SIM_PID")
    wait_for 60 test -s "$T/sim.port" || return 1
    SIM_URL=https://127.0.0.1:$(cat "$T/sim.port")
}

# sim_call METHOD PATH [BODY|@FILE]: the simulator's control API; prints the answer.
sim_call() {
    local method=$1 path=$2 body=${3:-{\}}
    curl -sS --max-time 60 --cacert "$T/tls/ca.pem" -X "$method" \
        -H 'Content-Type: application/json' --data-binary "$body" "$SIM_URL$path"
}

# write_secret FILE SECRET: a credential file owned by the sync user, mode 0600.
write_secret() {
    printf '%s\n' "$2" >"$1"
    chown "$SYNC_USER" "$1"
    chmod 0600 "$1"
}

# gen_config FILE: a config for the generated tenant. Settings through variables:
#   CFG_MAX_SIZE (1G)  CFG_LOG_LEVEL (info)  CFG_LOG (stderr | a file path)
#   CFG_SOCKET (unix:$T/sock/milter.sock)  CFG_TENANT (1; 0 = no [[tenant]] at all)
#   CFG_SECRET_FILE ($T/etc/gen.secret)  CFG_DOMAINS ("gen.example", "gen2.example")
#   CFG_MILTER / CFG_SYNC / CFG_TENANT_EXTRA (more lines for those sections)
gen_config() {
    local file=$1 log_lines domains=${CFG_DOMAINS:-'"gen.example", "gen2.example"'}
    if [ "${CFG_LOG:-stderr}" = stderr ]; then
        log_lines='target = "stderr"'
    else
        log_lines=$(printf 'target = "file"\nfile = "%s"' "$CFG_LOG")
    fi
    {
        printf '[store]\npath = "%s"\nmax_size = "%s"\n\n' "$T/store" "${CFG_MAX_SIZE:-1G}"
        printf '[log]\n%s\nlevel = "%s"\n\n' "$log_lines" "${CFG_LOG_LEVEL:-info}"
        printf '[milter]\nsocket = "%s"\nsocket_mode = "%s"\nsocket_group = "%s"\n' \
            "${CFG_SOCKET:-unix:$T/sock/milter.sock}" "${CFG_SOCKET_MODE:-0660}" \
            "${CFG_SOCKET_GROUP:-nogroup}"
        printf 'user = "%s"\ngroup = "%s"\npid_file = ""\n%s\n\n' "$MILTER_USER" \
            "$MILTER_GROUP" "${CFG_MILTER:-}"
        printf '[sync]\nca_file = "%s"\nuser = "%s"\npid_file = ""\nstale_after = "1d"\n' \
            "$T/tls/ca.pem" "$SYNC_USER"
        printf 'max_shrink = 1\nmax_retries = 2\nmax_backoff = "1s"\nconnect_timeout = "5s"\n'
        printf '%s\n\n' "${CFG_SYNC:-}"
        printf '[alerts]\nsendmail = "/bin/true"\n\n'
        if [ "${CFG_TENANT:-1}" = 1 ]; then
            printf '[[tenant]]\nname = "gen"\ntenant_id = "%s"\nclient_id = "%s"\n' \
                "$GEN_TENANT_ID" "$GEN_CLIENT_ID"
            printf 'client_secret_file = "%s"\nlogin_endpoint = "%s"\ngraph_endpoint = "%s"\n' \
                "${CFG_SECRET_FILE:-$T/etc/gen.secret}" "$SIM_URL" "$SIM_URL"
            printf 'domains = [%s]\n%s\n' "$domains" "${CFG_TENANT_EXTRA:-}"
        fi
    } >"$file"
    chmod 0644 "$file"
}

# run_sync CONFIG LOG ARGS...: m365gate-sync in the foreground; returns its exit status.
run_sync() {
    local config=$1 log=$2
    shift 2
    local rc=0
    "$SYNC" --config "$config" "$@" >>"$log" 2>&1 </dev/null || rc=$?
    return $rc
}

# start_sync CONFIG LOG ARGS...: m365gate-sync in the background (its own session); sets
# SYNC_PID (recorded for the EXIT trap).
start_sync() {
    local config=$1 log=$2
    shift 2
    setsid -f sh -c "echo \$\$ > '$T/sync.pid.tmp'; exec \"\$0\" \"\$@\"" "$SYNC" \
        --config "$config" "$@" >>"$log" 2>&1 </dev/null
    wait_for 10 test -s "$T/sync.pid.tmp" || return 1
    SYNC_PID=$(cat "$T/sync.pid.tmp")
    rm -f "$T/sync.pid.tmp"
    MILTER_PIDS+=("$SYNC_PID")
}

# gen_expected USERS GROUPS FLIP OUT [DOMAIN...]: the address list a correct sync of the
# generated tenant publishes (managed domains: DOMAIN..., default gen.example gen2.example),
# sorted bytewise, one per line. FLIP: a list of extra addresses (a file, one per line) or
# "-" for none. Prints the SHA-256 of the list as m365gate-store-inspect computes it.
gen_expected() {
    python3 - "$@" <<'GEN_EXPECTED_PY'
import hashlib, sys
users, groups, flip, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
domains = set(sys.argv[5:]) or {"gen.example", "gen2.example"}
a = []
for n in range(1, users + 1):
    a += ["user%d@gen.example" % n, "u.%d@gen.example" % n, "user%d@gen2.example" % n]
for n in range(1, groups + 1):
    if (n - 1) % 3 == 0:
        a.append("group%d@gen.example" % n)
    elif (n - 1) % 3 == 1:
        a += ["group%d@gen.example" % n, "group%d@gen2.example" % n]
if flip != "-":
    a += [l.strip() for l in open(flip) if l.strip()]
a = sorted(x for x in a if x.split("@", 1)[1] in domains)
text = "".join(x + "\n" for x in a)
open(out, "w").write(text)
print(hashlib.sha256(text.encode()).hexdigest())
GEN_EXPECTED_PY
}

# inspect [ARGS...]: what a reader sees (one key=value line); `field LINE KEY` picks a value.
inspect() { "$INSPECT" --store "$T/store" --max-size "${CFG_MAX_SIZE:-1G}" --tenant gen "$@"; }
field() { sed -n "s/.*[[:space:]]$2=\\([^[:space:]]*\\).*/\\1/p; s/^$2=\\([^[:space:]]*\\).*/\\1/p" <<<"$1" | head -n 1; }

# alive PID: running, and not a zombie (here PID 1 reaps orphans only every few seconds, so
# `kill -0` succeeds for a while after a process ended). wait_dead PID SECONDS.
alive() {
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    stat=${stat##*) }
    case ${stat:0:1} in Z | X | "") return 1 ;; esac
    return 0
}
# wait_dead also drops the pid from the EXIT trap's list: pids are reused (pid_max is 32768
# here), and the trap must never signal a process that is not ours.
wait_dead() {
    local deadline=$((SECONDS + $2))
    while alive "$1"; do
        [ $SECONDS -ge $deadline ] && return 1
        sleep 0.05
    done
    forget_pid "$1"
}
# stop_pid PID [SECONDS]: SIGTERM, then wait until it is gone (libmilter takes ~2 s).
stop_pid() {
    kill -TERM "$1" 2>/dev/null || true
    wait_dead "$1" "${2:-30}"
}
forget_pid() {
    local keep=() p
    for p in "${MILTER_PIDS[@]}"; do
        [ "$p" = "$1" ] || keep+=("$p")
    done
    MILTER_PIDS=("${keep[@]}")
}

# proc_rss PID (KiB) / proc_fds PID: for leak checks.
proc_rss() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
proc_fds() { find "/proc/$1/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l; }

# probe_one SOCKET ADDRESS: the milter's answer to one RCPT ("continue", "reply 550 5.1.1
# <text>"), or the client's error.
probe_one() {
    "$FAULTS" probe --socket "$1" --rcpt "$2" 2>&1 | sed "s/^<[^>]*> //"
}

# summary NAME TEXT: the final line, also kept for tests/bench/hardening-summary.sh.
summary() {
    local line="SUMMARY $1: $2"
    printf '%s\n' "$line"
    if [ -n "${M365GATE_BINARY_DIR:-}" ]; then
        mkdir -p "$M365GATE_BINARY_DIR/hardening"
        printf '%s\n' "$line" >"$M365GATE_BINARY_DIR/hardening/$1.summary"
    fi
}
