#!/bin/bash
# tests/bench/postfix_compare.sh BUILD_DIR [MESSAGES] [USERS] [ROUNDS]
#
# End-to-end cost of m365gate against Postfix's native recipient check, in one run on one
# throwaway Postfix instance (loopback, port chosen at runtime, delivery to discard:):
#   native: relay_recipient_maps = lmdb:relay_recipients   (postmap of the list)
#   milter: smtpd_milters = unix:.../milter.sock            (m365gate-milter, same list)
#   null:   smtpd_milters = unix:.../null-milter.sock       (m365gate-null-milter, same list;
#           when built: one epoll thread, no libmilter, no store, so what is left is the
#           cost of Postfix's own side of the milter protocol, a bound for any milter)
#   export: relay_domains = lmdb:.../domains, relay_recipient_maps = lmdb:.../recipients
#           (the tables m365gate-sync --postfix-tables writes from the same store: [postfix]
#           export_dir, docs/sync.md "Postfix tables"; no milter)
# Every variant gets the same list: USERS filler addresses (default 100,000) plus the five
# recipients smtp-source generates that are "known". smtp-source -r 10 -t unknown@... sends
# 10unknown@ .. 2unknown@, then unknown@: 2..6unknown are in the list, 7..10unknown and
# unknown@ are not, so half of every message's recipients are refused.
# Runs as root; prints both throughputs and the ratio. Not a ctest test: timings decide
# nothing. Every run checks from the Postfix log that the unknown recipients were refused by
# the right mechanism (milter-reject lines and m365gate's log in the milter variant, "User
# unknown in relay recipient table" in the native one) and the known ones delivered; exit 1
# when a CHECK failed.
set -euo pipefail
BUILD=${1:?usage: postfix_compare.sh BUILD_DIR [MESSAGES] [USERS] [ROUNDS]}
MESSAGES=${2:-1000}
USERS=${3:-100000}
ROUNDS=${4:-2}
SESSIONS=10
MILTER=$BUILD/milter/m365gate-milter
STORE_FILL=$BUILD/tests/m365gate-store-fill
SYNC=$BUILD/sync/m365gate-sync
. "$(cd "$(dirname "$0")" && pwd)/../../scripts/lib/postfix_sandbox.sh"
for f in "$MILTER" "$STORE_FILL"; do [ -x "$f" ] || { echo "missing $f (build it first)"; exit 1; }; done
for tool in postfix postconf postmap smtp-source; do
    command -v "$tool" >/dev/null || { echo "missing $tool"; exit 1; }
done
[ "$(id -u)" = 0 ] || { echo "run as root (postfix -c needs it)"; exit 1; }

T=$(mktemp -d /tmp/m365bench.XXXXXX)
chmod 0755 "$T"
PF=$T/pf
MILTER_PID=
cleanup() {
    pf_stop "$PF"
    [ -z "$NULL_PID" ] || kill -TERM "$NULL_PID" 2>/dev/null || true
    if [ -n "$MILTER_PID" ]; then
        kill -TERM "$MILTER_PID" 2>/dev/null || true
        for _ in $(seq 300); do kill -0 "$MILTER_PID" 2>/dev/null || break; sleep 0.1; done
    fi
    [ -n "${KEEP_TMP:-}" ] || rm -rf "$T"
}
trap cleanup EXIT
wait_for() {  # wait_for SECONDS COMMAND...: fails, saying what, after SECONDS
    local limit=$1 deadline=$(($SECONDS + $1))
    shift
    until "$@" >/dev/null 2>&1; do
        if [ $SECONDS -ge $deadline ]; then
            echo "postfix_compare: gave up after ${limit} s waiting for: $*" >&2
            return 1
        fi
        sleep 0.1
    done
}

# --- the list, for both variants --------------------------------------------------------------
mkdir -p "$T/store" "$T/log"
chown nobody "$T/log"
{
    awk -v n="$USERS" 'BEGIN { for (i = 0; i < n; i++) printf "user%07d@customer.example\n", i }'
    for i in 2 3 4 5 6; do echo "${i}unknown@customer.example"; done
} >"$T/list"
t0=$(date +%s.%N)
"$STORE_FILL" --store "$T/store" --tenant contoso --domain customer.example \
    --addresses "$T/list" --max-size 1G >/dev/null
chmod 0777 "$T/store"
chmod 0666 "$T/store"/*.mdb
calc() { awk "BEGIN { print $1 }"; }
printf 'list of %d addresses in the store (%.1f s)\n' "$(wc -l <"$T/list")" \
    "$(calc "$(date +%s.%N) - $t0")"

# --- milter -----------------------------------------------------------------------------------
sock=$T/log/milter.sock  # in a directory of the milter user: it removes the socket at stop
cat >"$T/m365gate.toml" <<EOF
[store]
path = "$T/store"
max_size = "1G"
[log]
target = "file"
file = "$T/log/milter.log"
level = "info"
[milter]
socket = "unix:$sock"
socket_mode = "0660"
socket_group = "postfix"
user = "nobody"
group = "nogroup"
pid_file = ""
[[tenant]]
name = "contoso"
tenant_id = "8f0c2a43-5d1e-4b7a-9c36-2e4f1d0b7a95"
client_id = "3b9d6e1f-0a42-4c8e-b5d7-61f2a9c4e803"
client_secret_file = "/nonexistent/contoso.secret"
domains = ["customer.example"]
[sync]
user = "nobody"
pid_file = ""
[postfix]
export_dir = "$T/exported"
EOF
# launch NAME SOCKET COMMAND...: starts COMMAND detached (output in $T/log/NAME.out), sets
# LAUNCHED_PID, and exits the script unless SOCKET appears within 20 s.
launch() {
    local name=$1 socket=$2
    shift 2
    setsid -f sh -c 'echo $$ > "$1"; shift; exec "$@"' sh "$T/$name.pid" "$@" \
        >"$T/log/$name.out" 2>&1 </dev/null
    wait_for 10 test -s "$T/$name.pid"
    LAUNCHED_PID=$(cat "$T/$name.pid")
    wait_for 20 test -S "$socket" || { echo "$name did not start"; cat "$T/log/$name.out"; exit 1; }
}
launch milter "$sock" "$MILTER" --config "$T/m365gate.toml"
MILTER_PID=$LAUNCHED_PID

# --- the null milter (no libmilter, no store): what Postfix's side of the protocol costs -------
NULL_MILTER=$BUILD/tests/m365gate-null-milter
NULL_PID=
nsock=$T/log/null-milter.sock
if [ -x "$NULL_MILTER" ]; then
    launch null-milter "$nsock" "$NULL_MILTER" --socket "$nsock" --known "$T/list"
    NULL_PID=$LAUNCHED_PID
fi

# --- Postfix ----------------------------------------------------------------------------------
port=$(pf_free_port)
pf_init "$PF"
pf_gateway "$PF" customer.example
pf_milter "$PF" "unix:$sock"
pf_set "$PF" "smtpd_milters ="  # each variant sets its own (below)
pf_master "$PF" "$port"
sed 's/$/\tOK/' "$T/list" >"$PF/etc/relay_recipients"
postmap -c "$PF/etc" "lmdb:$PF/etc/relay_recipients"
pf_start "$PF" "$port" || exit 1

# --- the exported tables ([postfix] export_dir), from the same store --------------------------
EXPORT=
if [ -x "$SYNC" ]; then
    install -d -o nobody -g postfix -m 2750 "$T/exported"
    t0=$(date +%s.%N)
    if "$SYNC" --config "$T/m365gate.toml" --postfix-tables >"$T/log/export.out" 2>&1; then
        EXPORT=1
        printf 'exported tables written by m365gate-sync --postfix-tables (%.2f s)\n' \
            "$(calc "$(date +%s.%N) - $t0")"
    else
        echo "m365gate-sync --postfix-tables failed: $(tail -n 3 "$T/log/export.out")"
    fi
fi

queue_empty() {
    [ "$(find "$PF/spool/incoming" "$PF/spool/active" "$PF/spool/deferred" "$PF/spool/maildrop" -type f | wc -l)" = 0 ]
}
master=$(tr -d ' ' <"$PF/spool/pid/master.pid")
no_smtpd() { ! pgrep -P "$master" -x smtpd; }
# log_since LINE: the maillog from line LINE+1 on
log_since() { tail -n +$(($1 + 1)) "$PF/maillog"; }
milter_cpu() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }  # milter_cpu PID: user+system ticks
check_failed=0
check() {  # check LABEL GOT WANT
    if [ "$2" = "$3" ]; then
        printf 'CHECK ok   %s: %s\n' "$1" "$2"
    else
        printf 'CHECK FAIL %s: %s, want %s\n' "$1" "$2" "$3"
        check_failed=1
    fi
}

# run VARIANT: prints one result line and its checks, records msg/s in RESULT.
run() {
    local variant=$1 milt rrm cpu_pid=$MILTER_PID
    local rd=customer.example
    case $variant in
        native) milt='' rrm="lmdb:$PF/etc/relay_recipients" ;;
        milter) milt="unix:$sock" rrm= ;;
        null) milt="unix:$nsock" rrm='' cpu_pid=$NULL_PID ;;
        export) milt='' rrm="lmdb:$T/exported/recipients" rd="lmdb:$T/exported/domains" ;;
    esac
    postconf -c "$PF/etc" -e "smtpd_milters = $milt" "relay_recipient_maps = $rrm" \
        "relay_domains = $rd"
    local reloads
    reloads=$(grep -c 'reload -- version' "$PF/maillog" || true)
    postfix -c "$PF/etc" reload >/dev/null 2>&1
    wait_for 20 test "$(grep -c 'reload -- version' "$PF/maillog")" -gt "$reloads"
    wait_for 20 no_smtpd  # smtpd processes with the old settings have exited
    wait_for 60 queue_empty
    local n0 t_start t_end cpu0 cpu1 milter_lines0
    n0=$(wc -l <"$PF/maillog")
    milter_lines0=$(grep -c 'action=reject ' "$T/log/milter.log" || true)
    cpu0=$(milter_cpu "$cpu_pid")
    t_start=$(date +%s.%N)
    smtp-source -A -s "$SESSIONS" -m "$MESSAGES" -r 10 -f bench@client.example \
        -t unknown@customer.example -M client.example "127.0.0.1:$port" 2>"$T/log/smtp-source.err" ||
        echo "smtp-source failed: $(head -n 3 "$T/log/smtp-source.err")"
    t_end=$(date +%s.%N)
    cpu1=$(milter_cpu "$cpu_pid")
    wait_for 60 queue_empty || echo "queue not drained after 60 s"
    # qmgr logs "removed" for every message once delivered: wait for all of them
    wait_for 20 test "$(log_since "$n0" | grep -c ': removed$')" -ge "$MESSAGES"
    local milter_rejects table_rejects other_rejects queued_rcpts delivered m365_lines
    milter_rejects=$(log_since "$n0" | grep -c 'milter-reject: RCPT from .* 550 5.1.1 ' || true)
    table_rejects=$(log_since "$n0" | grep -c ' reject: RCPT from .*User unknown in relay recipient table' || true)
    other_rejects=$(log_since "$n0" | grep -E 'reject: ' | grep -vc -e 'milter-reject: RCPT from .* 550 5.1.1 ' \
        -e ' reject: RCPT from .*User unknown in relay recipient table' || true)
    queued_rcpts=$(log_since "$n0" | sed -n 's/.*, nrcpt=\([0-9]*\) (queue active)$/\1/p' |
        awk '{ s += $1 } END { print s + 0 }')
    # the known recipients are 2unknown@ .. 6unknown@
    delivered=$(log_since "$n0" | grep -c 'postfix/discard\[[0-9]*\]: [0-9A-F]*: to=<[2-6]unknown@customer.example>, .*status=sent' || true)
    m365_lines=$(($(grep -c 'action=reject ' "$T/log/milter.log" || true) - milter_lines0))
    RESULT=$(calc "$MESSAGES / ($t_end - $t_start)")
    CPU_SECONDS=$(calc "($cpu1 - $cpu0) / $(getconf CLK_TCK)")
    printf '%-7s %5d msgs x 10 rcpt, %2d sessions: %6.2f s = %6.1f msg/s, %7.1f rcpt/s; milter CPU %.2f s\n' \
        "$variant" "$MESSAGES" "$SESSIONS" "$(calc "$t_end - $t_start")" "$RESULT" \
        "$(calc "$RESULT * 10")" "$CPU_SECONDS"
    local half=$((MESSAGES * 5))
    if [ "$variant" = milter ]; then
        check "$variant: unknown RCPT rejected by the milter (Postfix milter-reject lines)" "$milter_rejects" "$half"
        check "$variant: m365gate rejection log lines" "$m365_lines" "$half"
        check "$variant: rejected by relay_recipient_maps" "$table_rejects" 0
    elif [ "$variant" = null ]; then
        check "$variant: unknown RCPT rejected by the null milter" "$milter_rejects" "$half"
        check "$variant: m365gate rejection log lines" "$m365_lines" 0
        check "$variant: rejected by relay_recipient_maps" "$table_rejects" 0
    else  # native, export
        check "$variant: unknown RCPT rejected by relay_recipient_maps" "$table_rejects" "$half"
        check "$variant: rejected by the milter" "$((milter_rejects + m365_lines))" 0
    fi
    check "$variant: other rejections" "$other_rejects" 0
    check "$variant: known RCPT queued (sum of nrcpt)" "$queued_rcpts" "$half"
    check "$variant: known recipients delivered (discard)" "$delivered" "$half"
}

native=()
milter=()
null=()
exported=()
milter_cpu_total=0
null_cpu_total=0
for round in $(seq "$ROUNDS"); do
    echo "round $round"
    run native
    native+=("$RESULT")
    run milter
    milter+=("$RESULT")
    milter_cpu_total=$(calc "$milter_cpu_total + $CPU_SECONDS")
    if [ -n "$NULL_PID" ]; then
        run null
        null+=("$RESULT")
        null_cpu_total=$(calc "$null_cpu_total + $CPU_SECONDS")
    fi
    if [ -n "$EXPORT" ]; then
        run export
        exported+=("$RESULT")
    fi
done
best() { printf '%s\n' "$@" | sort -g | tail -n 1; }
n=$(best "${native[@]}")
m=$(best "${milter[@]}")
printf 'best of %d: native lmdb %.1f msg/s, milter %.1f msg/s, milter/native = %.2f\n' \
    "$ROUNDS" "$n" "$m" "$(calc "$m / $n")"
if [ -n "$NULL_PID" ]; then
    z=$(best "${null[@]}")
    printf 'best of %d: null milter (one epoll thread, no libmilter, no store) %.1f msg/s, null/native = %.2f\n' \
        "$ROUNDS" "$z" "$(calc "$z / $n")"
    printf 'best of %d: milter/null = %.2f\n' "$ROUNDS" "$(calc "$m / $z")"
    # One message per SMTP session (smtp-source without -d): seconds per 1,000 sessions.
    mc=$(calc "$milter_cpu_total / $ROUNDS * 1000 / $MESSAGES")
    zc=$(calc "$null_cpu_total / $ROUNDS * 1000 / $MESSAGES")
    printf 'CPU per 1,000 SMTP sessions (mean of %d): milter %.2f s, null milter %.2f s, milter/null = %s\n' \
        "$ROUNDS" "$mc" "$zc" "$(awk -v a="$mc" -v b="$zc" 'BEGIN { if (b > 0) printf "%.1f", a / b; else print "n/a" }')"
fi
if [ -n "$EXPORT" ]; then
    e=$(best "${exported[@]}")
    printf 'best of %d: exported tables (m365gate-sync [postfix] export_dir) %.1f msg/s, export/native = %.2f\n' \
        "$ROUNDS" "$e" "$(calc "$e / $n")"
fi
exit "$check_failed"
