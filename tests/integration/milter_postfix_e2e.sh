#!/bin/bash
# tests/integration/milter_postfix_e2e.sh MILTER STORE_FILL LOADGEN
#
# End to end with a real Postfix on loopback: a throwaway instance in its own config directory
# under a mktemp dir (postfix -c, chroot off, no syslog), m365gate-milter on a unix socket
# (mode 0660, group postfix, as in production), delivery to discard:. SMTP sessions with
# swaks check what a sending MTA sees, and both Postfix's milter-reject line and m365gate's
# rejection line are checked. Everything started is stopped by pid in the EXIT trap.
set -euo pipefail
MILTER=$1 STORE_FILL=$2 LOADGEN=$3
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/milter_lib.sh"
. "$HERE/milter_fixture.sh"
for tool in postfix postconf swaks; do
    command -v "$tool" >/dev/null || { echo "SKIP: $tool not installed"; exit 77; }
done

milter_setup
PF=$T/pf
extra_cleanup() {
    if [ -f "$PF/spool/pid/master.pid" ]; then
        local master
        master=$(tr -d ' ' <"$PF/spool/pid/master.pid")
        postfix -c "$PF/etc" stop >/dev/null 2>&1 || true
        wait_gone "$master" 20 || kill -KILL "$master" 2>/dev/null || true
    fi
}

fill_fixture
sock=$(socket_path e2e)
cfg=$T/m365gate.toml
write_config "$cfg" "unix:$sock"
start_milter "$cfg" "$T/log/milter.log" "$sock" || {
    bad "milter did not start"
    finish
}
milter_pid=$MILTER_PID

# --- the Postfix instance -------------------------------------------------------------------
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p "$PF/etc" "$PF/data"
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
relay_domains = customer.example, tailspin.example
relay_recipient_maps =
relay_transport = discard:
default_transport = discard:
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
smtputf8_enable = no
biff = no
smtpd_milters = unix:$sock
milter_protocol = 6
milter_default_action = tempfail
milter_connect_timeout = 10s
milter_command_timeout = 10s
milter_rcpt_macros = i {rcpt_addr} {rcpt_host} {rcpt_mailer}
in_flow_delay = 0
smtpd_soft_error_limit = 1000
smtpd_hard_error_limit = 1000
EOF
cat >"$PF/etc/master.cf" <<EOF
127.0.0.1:$port inet n - n - - smtpd
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
postfix -c "$PF/etc" check >"$T/log/postfix-check.log" 2>&1 || { bad "postfix check"; finish; }
postfix -c "$PF/etc" start >"$T/log/postfix-start.log" 2>&1 || { bad "postfix start"; finish; }
smtp_up() { (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; }
wait_for 20 smtp_up || { bad "postfix not listening on $port"; finish; }
ok "postfix listening on 127.0.0.1:$port"

# swaks_rcpt TO[,TO...]: one SMTP session up to RCPT; prints swaks' transcript.
swaks_rcpt() {
    swaks --server "127.0.0.1:$port" --helo client.example --from s@outside.example \
        --to "$1" --quit-after RCPT --timeout 30 2>&1 || true
}
expect() {  # expect LABEL TRANSCRIPT FIXED-STRING
    if grep -qF -- "$3" <<<"$2"; then ok "$1"; else
        bad "$1: want [$3]"
        printf '%s\n' "$2" | grep -E '^(<|->)' | tail -n 8
    fi
}
maillog_has() { grep -qF -- "$1" "$PF/maillog"; }
milterlog_has() { grep -qF -- "$1" "$T/log/milter.log"; }

# --- enforce mode -----------------------------------------------------------------------------
expect "known address -> 250" "$(swaks_rcpt alice@customer.example)" '<-  250 2.1.5 Ok'
expect "alias -> 250" "$(swaks_rcpt Alice.Smith@Customer.Example)" '<-  250 2.1.5 Ok'
expect "subaddress -> 250" "$(swaks_rcpt bob+orders@customer.example)" '<-  250 2.1.5 Ok'
expect "unknown -> 550 5.1.1 with m365gate's text" "$(swaks_rcpt nobody@customer.example)" \
    '<** 550 5.1.1 <nobody@customer.example>: Recipient address rejected: user unknown'
expect "postmaster -> 250" "$(swaks_rcpt postmaster@customer.example)" '<-  250 2.1.5 Ok'
expect "unmanaged domain -> 250" "$(swaks_rcpt someone@elsewhere.example)" '<-  250 2.1.5 Ok'
expect "% survives into the reply" "$(swaks_rcpt 50%off@customer.example)" \
    '<** 550 5.1.1 <50%off@customer.example>: Recipient address rejected: user unknown'
expect "never-synced tenant -> 451 4.3.0" "$(swaks_rcpt dave@tailspin.example)" \
    '<** 451 4.3.0 <dave@tailspin.example>: Recipient address lookup failed: try again later'

# A whole message: a known first recipient does not let an unknown second one through.
out=$(swaks --server "127.0.0.1:$port" --helo client.example --from s@outside.example \
    --to bob@customer.example,nobody2@customer.example --timeout 30 2>&1 || true)
expect "known first RCPT -> 250" "$out" ' -> RCPT TO:<bob@customer.example>'
expect "unknown second RCPT still -> 550" "$out" \
    '<** 550 5.1.1 <nobody2@customer.example>: Recipient address rejected: user unknown'
expect "the message is queued for the known one" "$out" '<-  250 2.0.0 Ok: queued as'

wait_for 10 maillog_has 'NOQUEUE: milter-reject: RCPT from localhost[127.0.0.1]: 550 5.1.1 <nobody@customer.example>: Recipient address rejected: user unknown; from=<s@outside.example> to=<nobody@customer.example>' &&
    ok "postfix logs milter-reject for the unknown recipient" || bad "no Postfix milter-reject line"
milterlog_has 'action=reject queue_id=- client=localhost[127.0.0.1] from=<s@outside.example> to=<nobody@customer.example> tenant=contoso reason=unknown_recipient code=550 status=5.1.1' &&
    ok "m365gate logs the rejection" || bad "no m365gate rejection line"
qid=$(sed -n 's/.*: \([0-9A-F]\{6,\}\): milter-reject: RCPT .*to=<nobody2@customer.example>.*/\1/p' "$PF/maillog" | head -n 1)
if [ -n "$qid" ] && milterlog_has "action=reject queue_id=$qid client=localhost[127.0.0.1] from=<s@outside.example> to=<nobody2@customer.example>"; then
    ok "the second recipient's rejection carries Postfix's queue id ($qid) in both logs"
else
    bad "queue id of the second recipient: postfix=[$qid]"
fi
milterlog_has 'action=tempfail queue_id=- client=localhost[127.0.0.1] from=<s@outside.example> to=<dave@tailspin.example> tenant=tailspin reason=cache_unavailable code=451 status=4.3.0' &&
    ok "m365gate logs the tempfail" || bad "no m365gate tempfail line"
grep -qF '"to":"nobody@customer.example","tenant":"contoso","reason":"unknown_recipient","code":"550","status":"5.1.1"}' "$T/log/rejections.jsonl" &&
    ok "JSON rejection line written" || bad "no JSON rejection line"

# --- a user published while Postfix and the milter run ----------------------------------------
expect "not yet published -> 550" "$(swaks_rcpt newbie@customer.example)" '<** 550 5.1.1'
printf '%s\n' 'alice@customer.example alice.smith@customer.example' 'bob@customer.example' \
    '100%off@customer.example' 'newbie@customer.example' |
    fill_store contoso now customer.example
expect "published -> 250 on the next RCPT" "$(swaks_rcpt newbie@customer.example)" '<-  250 2.1.5 Ok'

# --- report mode, by SIGUSR1 reload ------------------------------------------------------------
write_config "$cfg" "unix:$sock" 'mode = "report"'
kill -USR1 "$milter_pid"
wait_for 10 grep -q 'event=reload status=ok .*mode=report' "$T/log/milter.log" || bad "no reload"
expect "report mode: unknown -> 250" "$(swaks_rcpt ghost@customer.example)" '<-  250 2.1.5 Ok'
wait_for 10 milterlog_has 'action=would_reject queue_id=- client=localhost[127.0.0.1] from=<s@outside.example> to=<ghost@customer.example> tenant=contoso reason=unknown_recipient code=550 status=5.1.1' &&
    ok "report mode: would_reject logged" || bad "no would_reject line"
if grep -q 'milter-reject: RCPT .*to=<ghost@customer.example>' "$PF/maillog"; then
    bad "report mode: Postfix rejected ghost@"
else
    ok "report mode: Postfix rejected nothing"
fi

# --- milter down: Postfix applies milter_default_action = tempfail -----------------------------
stop_milter "$milter_pid" || bad "milter did not stop"
expect "milter stopped -> 451 (milter_default_action)" "$(swaks_rcpt alice@customer.example)" \
    '<** 451 4.7.1 Service unavailable - try again later'
finish
