# tests/integration/milter_lib.sh - shared by the milter integration scripts (sourced, not run).
#
# Everything lives in one mktemp directory $T; every process started is recorded by pid and
# stopped by that pid in the EXIT trap; waits poll a condition with a deadline, never
# sleep-and-hope. Needs root: the milter is started as root and drops to nobody, as in
# production it drops to m365gate-milter.
#
# Callers set MILTER, STORE_FILL, LOADGEN (binary paths) and call milter_setup first.

MILTER_PIDS=()
milter_fail=0

note() { printf '%s\n' "$*"; }
ok() { printf 'ok   %s\n' "$*"; }
bad() {
    printf 'FAIL %s\n' "$*"
    milter_fail=$((milter_fail + 1))
}

milter_cleanup() {
    local pid
    if declare -F extra_cleanup >/dev/null; then
        extra_cleanup || true
    fi
    for pid in "${MILTER_PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${MILTER_PIDS[@]}"; do
        wait_gone "$pid" 30 || kill -KILL "$pid" 2>/dev/null || true
    done
    if [ -n "${T:-}" ] && [ -d "$T" ] && [ -z "${KEEP_TMP:-}" ]; then
        rm -rf "$T"
    fi
}

# wait_for SECONDS COMMAND...: poll COMMAND every 0.1 s until it succeeds or time runs out.
wait_for() {
    local limit=$1
    shift
    local deadline=$((SECONDS + limit))
    while ! "$@" >/dev/null 2>&1; do
        [ $SECONDS -ge $deadline ] && return 1
        sleep 0.1
    done
    return 0
}

wait_gone() { wait_for "$2" sh -c "! kill -0 $1"; }

milter_setup() {
    if [ "$(id -u)" != 0 ]; then
        echo "SKIP: needs root (starts the milter as root to test the privilege drop)"
        exit 77
    fi
    T=$(mktemp -d /tmp/m365milter.XXXXXX)
    chmod 0755 "$T"
    trap milter_cleanup EXIT
    mkdir -p "$T/store" "$T/log" "$T/sock"
    # The socket directory belongs to the milter user, as /var/spool/postfix/m365gate does in
    # production, so the milter can remove its socket at stop after dropping privileges.
    chown nobody "$T/log" "$T/sock"
}

# Make the store readable by nobody (tests only; production: group m365gate, 0640/0660).
store_open_to_milter() {
    chmod 0777 "$T/store"
    chmod 0666 "$T/store"/*.mdb
}

# fill_store TENANT LAST_SUCCESS DOMAIN... < addresses
fill_store() {
    local tenant=$1 last=$2
    shift 2
    local args=()
    local d
    for d in "$@"; do args+=(--domain "$d"); done
    "$STORE_FILL" --store "$T/store" --tenant "$tenant" "${args[@]}" --addresses - \
        --last-success "$last" --max-size 256M >"$T/log/fill.out" || return 1
    store_open_to_milter
}

# write_config FILE SOCKET [extra [milter] lines...]; CONTOSO_LINES and TAILSPIN_LINES add
# lines to those tenants' tables.
write_config() {
    local file=$1 socket=$2
    shift 2
    {
        cat <<EOF
[store]
path = "$T/store"
max_size = "256M"

[log]
target = "stderr"
level = "info"
rejections = "$T/log/rejections.jsonl"

[milter]
socket = "$socket"
socket_mode = "0660"
socket_group = "postfix"
user = "${MILTER_USER:-nobody}"
group = "nogroup"
pid_file = ""
EOF
        local line
        for line in "$@"; do printf '%s\n' "$line"; done
        cat <<EOF

[sync]
stale_after = "1d"

[[tenant]]
name = "contoso"
tenant_id = "8f0c2a43-5d1e-4b7a-9c36-2e4f1d0b7a95"
client_id = "3b9d6e1f-0a42-4c8e-b5d7-61f2a9c4e803"
client_secret_file = "/nonexistent/contoso.secret"
domains = ["customer.example", "bücher.example"]
extra_recipients = ["dyn-group@customer.example"]
${CONTOSO_LINES:-}

[[tenant]]
name = "tailspin"
tenant_id = "0c6a2b7e-93f4-4d18-a5e2-7b1c9d3f0e64"
client_id = "5e8f1a2c-7d3b-4f96-8c0e-2a4b6d8f1c37"
client_secret_file = "/nonexistent/tailspin.secret"
domains = ["tailspin.example"]
${TAILSPIN_LINES:-}
EOF
    } >"$file"
}

# start_milter CONFIG LOGFILE SOCKETPATH: start as root in its own session, pid recorded;
# waits until the socket exists. Sets MILTER_PID.
start_milter() {
    local config=$1 log=$2 sock=$3
    setsid -f sh -c "echo \$\$ > '$T/milter.pid.tmp'; exec '$MILTER' --config '$config'" \
        >"$log" 2>&1 </dev/null
    wait_for 10 test -s "$T/milter.pid.tmp" || return 1
    MILTER_PID=$(cat "$T/milter.pid.tmp")
    rm -f "$T/milter.pid.tmp"
    MILTER_PIDS+=("$MILTER_PID")
    wait_for 20 test -S "$sock" || return 1
    wait_for 20 grep -q 'event=start' "$log"
}

# stop_milter PID: SIGTERM, then wait (libmilter's listener notices within a few seconds).
stop_milter() {
    kill -TERM "$1" 2>/dev/null || true
    wait_gone "$1" 30
}

# A fresh socket path, short enough for sun_path.
socket_path() { printf '%s/sock/%s.sock' "$T" "$1"; }

finish() {
    if [ "$milter_fail" -ne 0 ]; then
        note "$milter_fail check(s) failed; logs in $T/log (set KEEP_TMP=1 to keep them)"
        for f in "$T"/log/*.log; do
            [ -f "$f" ] && { note "--- $f"; tail -n 30 "$f"; }
        done
        exit 1
    fi
    note "all passed"
    exit 0
}
