#!/bin/bash
# tests/bench/postfix_compare.sh BUILD_DIR [MESSAGES] [USERS] [ROUNDS]
#
# End-to-end cost of m365gate against Postfix's native recipient check, in one run on one
# throwaway Postfix instance (loopback, port chosen at runtime, delivery to discard:):
#   native: relay_recipient_maps = lmdb:relay_recipients   (postmap of the list)
#   milter: smtpd_milters = unix:.../milter.sock            (m365gate-milter, same list)
# Both variants get the same list: USERS filler addresses (default 100,000) plus the five
# recipients smtp-source generates that are "known". smtp-source -r 10 -t unknown@... sends
# 10unknown@ .. 2unknown@, then unknown@: 2..6unknown are in the list, 7..10unknown and
# unknown@ are not, so half of every message's recipients are refused.
# Runs as root; prints both throughputs and the ratio. Not a ctest test (no pass/fail).
set -euo pipefail
BUILD=${1:?usage: postfix_compare.sh BUILD_DIR [MESSAGES] [USERS] [ROUNDS]}
MESSAGES=${2:-1000}
USERS=${3:-100000}
ROUNDS=${4:-2}
SESSIONS=10
MILTER=$BUILD/milter/m365gate-milter
STORE_FILL=$BUILD/tests/m365gate-store-fill
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
    if [ -f "$PF/spool/pid/master.pid" ]; then
        local master
        master=$(tr -d ' ' <"$PF/spool/pid/master.pid")
        postfix -c "$PF/etc" stop >/dev/null 2>&1 || true
        for _ in $(seq 100); do kill -0 "$master" 2>/dev/null || break; sleep 0.1; done
    fi
    if [ -n "$MILTER_PID" ]; then
        kill -TERM "$MILTER_PID" 2>/dev/null || true
        for _ in $(seq 300); do kill -0 "$MILTER_PID" 2>/dev/null || break; sleep 0.1; done
    fi
    [ -n "${KEEP_TMP:-}" ] || rm -rf "$T"
}
trap cleanup EXIT
wait_for() {  # wait_for SECONDS COMMAND...
    local deadline=$((SECONDS + $1))
    shift
    until "$@" >/dev/null 2>&1; do
        [ $SECONDS -ge $deadline ] && return 1
        sleep 0.1
    done
}

# --- the list, for both variants --------------------------------------------------------------
mkdir -p "$T/store" "$T/log" "$PF/etc" "$PF/data"
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
sock=$T/milter.sock
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
EOF
setsid -f sh -c "echo \$\$ > '$T/milter.pid'; exec '$MILTER' --config '$T/m365gate.toml'" \
    >"$T/log/milter.out" 2>&1 </dev/null
wait_for 10 test -s "$T/milter.pid"
MILTER_PID=$(cat "$T/milter.pid")
wait_for 20 test -S "$sock" || { echo "milter did not start"; cat "$T/log/milter.out"; exit 1; }

# --- Postfix ----------------------------------------------------------------------------------
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
install -d -o root -g root -m 755 "$PF/spool"
chown postfix:postfix "$PF/data"
cat >"$PF/etc/main.cf" <<EOF
compatibility_level = 3.6
queue_directory = $PF/spool
data_directory = $PF/data
mail_owner = postfix
setgid_group = postdrop
maillog_file = $PF/maillog
maillog_file_prefixes = $PF
myhostname = gw.test.example
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
mydestination =
local_recipient_maps =
alias_maps =
alias_database =
relay_domains = customer.example
relay_recipient_maps =
relay_transport = discard:
default_transport = discard:
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
smtputf8_enable = no
biff = no
smtpd_milters =
milter_default_action = tempfail
in_flow_delay = 0
smtpd_soft_error_limit = 1000000
smtpd_hard_error_limit = 1000000
smtpd_junk_command_limit = 1000000
EOF
cat >"$PF/etc/master.cf" <<EOF
127.0.0.1:$port inet n - n - - smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
EOF
sed 's/$/\tOK/' "$T/list" >"$PF/etc/relay_recipients"
postmap -c "$PF/etc" "lmdb:$PF/etc/relay_recipients"
postfix -c "$PF/etc" check
postfix -c "$PF/etc" start >/dev/null
wait_for 20 bash -c "exec 3<>/dev/tcp/127.0.0.1/$port"

queue_empty() {
    [ "$(find "$PF/spool/incoming" "$PF/spool/active" "$PF/spool/deferred" "$PF/spool/maildrop" -type f | wc -l)" = 0 ]
}

# run VARIANT: prints one result line, records msg/s in RESULT.
run() {
    local variant=$1 milt rrm
    case $variant in
        native) milt= rrm="lmdb:$PF/etc/relay_recipients" ;;
        milter) milt="unix:$sock" rrm= ;;
    esac
    postconf -c "$PF/etc" -e "smtpd_milters = $milt" "relay_recipient_maps = $rrm"
    local reloads
    reloads=$(grep -c 'reload -- version' "$PF/maillog" || true)
    postfix -c "$PF/etc" reload >/dev/null 2>&1
    wait_for 20 test "$(grep -c 'reload -- version' "$PF/maillog")" -gt "$reloads"
    sleep 1  # old smtpd processes finish their idle sessions
    wait_for 60 queue_empty
    local n0 t_start t_end
    n0=$(wc -l <"$PF/maillog")
    t_start=$(date +%s.%N)
    smtp-source -A -s "$SESSIONS" -m "$MESSAGES" -r 10 -f bench@client.example \
        -t unknown@customer.example -M client.example "127.0.0.1:$port" 2>"$T/log/smtp-source.err"
    t_end=$(date +%s.%N)
    wait_for 60 queue_empty
    sleep 0.5
    local rejected queued
    rejected=$(tail -n +$((n0 + 1)) "$PF/maillog" | grep -c 'reject: RCPT' || true)
    queued=$(tail -n +$((n0 + 1)) "$PF/maillog" | grep -c 'nrcpt=' || true)
    RESULT=$(calc "$MESSAGES / ($t_end - $t_start)")
    printf '%-7s %5d msgs x 10 rcpt, %2d sessions: %6.2f s = %6.1f msg/s, %7.1f rcpt/s; queued=%d rejected rcpt=%d\n' \
        "$variant" "$MESSAGES" "$SESSIONS" "$(calc "$t_end - $t_start")" "$RESULT" \
        "$(calc "$RESULT * 10")" "$queued" "$rejected"
}

native=()
milter=()
for round in $(seq "$ROUNDS"); do
    echo "round $round"
    run native
    native+=("$RESULT")
    run milter
    milter+=("$RESULT")
done
best() { printf '%s\n' "$@" | sort -g | tail -n 1; }
n=$(best "${native[@]}")
m=$(best "${milter[@]}")
printf 'best of %d: native lmdb %.1f msg/s, milter %.1f msg/s, milter/native = %.2f\n' \
    "$ROUNDS" "$n" "$m" "$(calc "$m / $n")"
