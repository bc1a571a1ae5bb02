#!/bin/bash
# tests/integration/milter_sendmail_e2e.sh MILTER STORE_FILL LOADGEN
#
# End to end with a real Sendmail on loopback, the counterpart of milter_postfix_e2e.sh.
# Installing sendmail-bin would remove Postfix (both Conflict on mail-transport-agent), so
# Debian's sendmail 8.17 is run from its .debs, extracted under a mktemp dir
# (reference/postfix-sandbox.md section 7):
#   - the .debs are fetched once with `apt-get download` into $SENDMAIL_DEB_CACHE (default
#     /var/cache/m365gate-test/sendmail-debs), reused by later runs; no package access: exit 77;
#   - the packaged binary is setgid mail, so ld.so would ignore LD_LIBRARY_PATH (libwrap comes
#     from the extracted debs): run a plain copy;
#   - Sendmail sleeps 60 s at start when the host name has no dot: it runs in its own mount
#     and UTS namespace (unshare) with hostname gw.test.example and a private /etc/hosts bind
#     mount; neither the system's host name nor its /etc/hosts changes;
#   - Sendmail has no syslog here: its side of each SMTP dialogue is read from the -X trace.
# m365gate-milter listens on a unix socket, INPUT_MAIL_FILTER with F=T. Delivery mode is
# queue-only (the queue is under $T). Everything started is stopped by pid in the EXIT trap.
set -euo pipefail
MILTER=$1 STORE_FILL=$2 LOADGEN=$3
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/milter_lib.sh"
. "$HERE/milter_fixture.sh"
. "$HERE/deb_cache.sh"
for tool in swaks unshare apt-get dpkg-deb flock python3; do
    command -v "$tool" >/dev/null || { echo "SKIP: $tool not installed"; exit 77; }
done

milter_setup
SM=$T/sm
host_before="$(hostname) $(md5sum </etc/hosts)"
SM_PID=
extra_cleanup() {
    [ -n "$SM_PID" ] || return 0
    local children pid
    children=$(ps -o pid= --ppid "$SM_PID" 2>/dev/null || true)  # per-connection children
    kill -TERM "$SM_PID" 2>/dev/null || true
    for pid in $children; do kill -TERM "$pid" 2>/dev/null || true; done
    wait_gone "$SM_PID" 20 || kill -KILL "$SM_PID" 2>/dev/null || true
    for pid in $children; do
        wait_gone "$pid" 10 || kill -KILL "$pid" 2>/dev/null || true
    done
}

# --- Sendmail from its .debs ----------------------------------------------------------------
debs="sendmail-bin sendmail-cf sendmail-base m4 libwrap0"
mkdir -p "$SM/root" "$SM/mqueue"
chmod 0700 "$SM/mqueue"
# shellcheck disable=SC2086
if ! deb_extract "${SENDMAIL_DEB_CACHE:-/var/cache/m365gate-test/sendmail-debs}" "$SM/root" \
    "$T/log/apt-download.log" $debs; then
    echo "SKIP: cannot download the Sendmail .debs ($debs) with apt-get download:"
    tail -n 5 "$T/log/apt-download.log"
    exit 77
fi
R=$SM/root
cp "$R/usr/libexec/sendmail/sendmail" "$SM/sendmail.bin"  # a plain copy: not setgid
libs=$R/lib/x86_64-linux-gnu:$R/usr/lib/x86_64-linux-gnu
missing_libs=$(LD_LIBRARY_PATH=$libs ldd "$SM/sendmail.bin" | grep 'not found' || true)
if [ -n "$missing_libs" ]; then
    bad "sendmail needs libraries that are not installed: $missing_libs"
    finish
fi

fill_fixture
# The socket directory as contrib/sendmail/m365gate.mc says: writable by its owner only (a
# group-writable directory anywhere above the socket and Sendmail does not start).
chmod 0750 "$T/sock"
sock=$(socket_path sm)
cfg=$T/m365gate.toml
write_config "$cfg" "unix:$sock" 'subaddress_delimiters = "+-"'
start_milter "$cfg" "$T/log/milter.log" "$sock" || {
    bad "milter did not start"
    finish
}
milter_pid=$MILTER_PID

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
: >"$SM/aliases"
: >"$SM/local-host-names"
printf '%s\n' customer.example tailspin.example xn--bcher-kva.example >"$SM/relay-domains"
printf 'hosts\tfiles\naliases\tfiles\n' >"$SM/service.switch"
printf '127.0.0.1\tgw.test.example localhost\n' >"$SM/hosts"
# The INPUT_MAIL_FILTER line is contrib/sendmail/m365gate.mc's, with this test's socket.
filter=$(sed -n 's/^INPUT_MAIL_FILTER(`m365gate'"'"', `S=[^,]*, \(.*\)'"'"')dnl$/\1/p' \
    "$HERE/../../contrib/sendmail/m365gate.mc")
[ -n "$filter" ] || { bad "no INPUT_MAIL_FILTER line in contrib/sendmail/m365gate.mc"; finish; }
cat >"$SM/test.mc" <<EOF
divert(0)dnl
VERSIONID(\`m365gate sendmail end-to-end test')dnl
OSTYPE(\`linux')dnl
define(\`QUEUE_DIR', \`$SM/mqueue')dnl
define(\`STATUS_FILE', \`$SM/statistics')dnl
define(\`confPID_FILE', \`$SM/sendmail.pid')dnl
define(\`ALIAS_FILE', \`$SM/aliases')dnl
define(\`confCW_FILE', \`-o $SM/local-host-names')dnl
define(\`confCR_FILE', \`-o $SM/relay-domains')dnl
define(\`confSERVICE_SWITCH_FILE', \`$SM/service.switch')dnl
define(\`confHOSTS_FILE', \`$SM/hosts')dnl
define(\`confDONT_PROBE_INTERFACES', \`True')dnl
define(\`confDELIVERY_MODE', \`queue')dnl
define(\`confDOMAIN_NAME', \`gw.test.example')dnl
dnl the socket lives under /tmp (sticky, world-writable): Sendmail refuses it without this
define(\`confDONT_BLAME_SENDMAIL', \`TrustStickyBit')dnl
define(\`confLOG_LEVEL', \`9')dnl
define(\`confMILTER_LOG_LEVEL', \`6')dnl
FEATURE(\`nocanonify')dnl
FEATURE(\`accept_unresolvable_domains')dnl
FEATURE(\`no_default_msa')dnl
DAEMON_OPTIONS(\`Port=$port, Addr=127.0.0.1, Name=MTA')dnl
INPUT_MAIL_FILTER(\`m365gate', \`S=local:$sock, $filter')dnl
define(\`confMILTER_MACROS_ENVRCPT', \`{rcpt_mailer}, {rcpt_host}, {rcpt_addr}')dnl
MAILER(\`smtp')dnl
EOF
"$R/usr/bin/m4" -D_CF_DIR_="$R/usr/share/sendmail/cf/" "$R/usr/share/sendmail/cf/m4/cf.m4" \
    "$SM/test.mc" >"$SM/test.cf" 2>"$T/log/m4.log" || { bad "m4 test.mc"; finish; }

# unshare without --fork execs: the pid written by sh is unshare's, then sendmail's.
setsid -f unshare --mount --uts sh -c "
    mount --bind '$SM/hosts' /etc/hosts && hostname gw.test.example &&
    echo \$\$ > '$SM/sm.pid.tmp' &&
    LD_LIBRARY_PATH='$libs' exec '$SM/sendmail.bin' -C '$SM/test.cf' -bD -X '$SM/trace.log'" \
    >"$T/log/sendmail.log" 2>&1 </dev/null
wait_for 10 test -s "$SM/sm.pid.tmp" || { bad "sendmail did not start"; finish; }
SM_PID=$(cat "$SM/sm.pid.tmp")
smtp_up() { (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; }
sm_settled() { ! kill -0 "$SM_PID" 2>/dev/null || smtp_up; }  # exited, or listening
wait_for 30 sm_settled || true
kill -0 "$SM_PID" 2>/dev/null || { bad "sendmail exited"; finish; }
smtp_up || { bad "sendmail not listening on $port"; finish; }
ok "sendmail $(dpkg-deb -f "$(ls -1 "$cache"/sendmail-bin_*.deb | sort -V | tail -n 1)" Version) listening on 127.0.0.1:$port (pid $SM_PID)"

swaks_rcpt() {  # swaks_rcpt TO[,TO...]: one SMTP session up to RCPT; prints the transcript
    swaks --server "127.0.0.1:$port" --helo client.example --from s@outside.example \
        --to "$1" --quit-after RCPT --timeout 30 2>&1 || true
}
expect() {  # expect LABEL TRANSCRIPT FIXED-STRING
    if grep -qF -- "$3" <<<"$2"; then ok "$1"; else
        bad "$1: want [$3]"
        printf '%s\n' "$2" | grep -E '^(<|->|RCPT|SMTP)' | tail -n 8 || true
    fi
}
milterlog_has() { grep -qF -- "$1" "$T/log/milter.log"; }
# Sendmail's side of the dialogue: the -X trace has lines "PID >>> 550 5.1.1 ...".
trace_has() { grep -qF -- ">>> $1" "$SM/trace.log"; }
# rejected ADDRESS [QUEUE-ID]: Sendmail's trace has the 550 and m365gate logged the rejection
# with Sendmail's queue id (assigned at MAIL FROM, sent to the milter as macro i).
rejected() {
    local addr=$1 qid=${2:-}
    wait_for 10 trace_has "550 5.1.1 <$addr>... <$addr>: Recipient address rejected: user unknown" &&
        ok "sendmail's trace shows the 550 for <$addr>" || bad "no 550 for <$addr> in sendmail's trace"
    local line
    wait_for 10 milterlog_has "to=<$addr> tenant=contoso reason=unknown_recipient code=550 status=5.1.1"
    line=$(grep -F "to=<$addr> tenant=contoso reason=unknown_recipient code=550 status=5.1.1" \
        "$T/log/milter.log" | head -n 1)
    local want="action=reject queue_id=${qid:-[0-9A-Za-z]{14\}} client=gw\.test\.example\[127\.0\.0\.1\] from=<s@outside\.example> to=<"
    if grep -qE -- "$want" <<<"$line"; then
        ok "m365gate logs the rejection of <$addr> ($(grep -o 'queue_id=[^ ]*' <<<"$line"))"
    else
        bad "m365gate's rejection line for <$addr>, queue id ${qid:-any}: [$line]"
    fi
}
ok250() { printf '<-  250 2.1.5 <%s>... Recipient ok' "$1"; }
unknown550() {
    printf '<** 550 5.1.1 <%s>... <%s>: Recipient address rejected: user unknown' "$1" "$1"
}

# --- enforce mode -----------------------------------------------------------------------------
expect "known address -> 250" "$(swaks_rcpt alice@customer.example)" "$(ok250 alice@customer.example)"
expect "alias -> 250" "$(swaks_rcpt Alice.Smith@Customer.Example)" \
    "$(ok250 Alice.Smith@Customer.Example)"
expect "subaddress -> 250" "$(swaks_rcpt bob+orders@customer.example)" \
    "$(ok250 bob+orders@customer.example)"
out=$(swaks_rcpt nobody@customer.example)
expect "unknown -> 550 5.1.1 with m365gate's text" "$out" "$(unknown550 nobody@customer.example)"
rejected nobody@customer.example
expect "% survives into the reply" "$(swaks_rcpt 50%off@customer.example)" \
    "$(unknown550 50%off@customer.example)"
expect "postmaster -> 250" "$(swaks_rcpt postmaster@customer.example)" \
    "$(ok250 postmaster@customer.example)"
expect "unmanaged domain -> 250" "$(swaks_rcpt someone@elsewhere.example)" \
    "$(ok250 someone@elsewhere.example)"
# Sendmail puts "<addr>... " before a 5xx text only; a 4xx reaches the client as the milter sent it.
expect "never-synced tenant -> 451 4.3.0" "$(swaks_rcpt dave@tailspin.example)" \
    '<** 451 4.3.0 <dave@tailspin.example>: Recipient address lookup failed: try again later'
wait_for 10 milterlog_has 'action=tempfail queue_id=' &&
    milterlog_has 'to=<dave@tailspin.example> tenant=tailspin reason=cache_unavailable code=451 status=4.3.0' &&
    ok "m365gate logs the tempfail" || bad "no m365gate tempfail line"

# --- the revised decision: quoted local parts (Sendmail hands them on quoted), role addresses, delimiters --
# rcpt_lines [--smtputf8] TO...: one session, one "RCPT <to> -> CODE TEXT" line per recipient.
rcpt_lines() {
    local utf8=()
    if [ "$1" = --smtputf8 ]; then
        utf8=(--smtputf8)
        shift
    fi
    python3 "$HERE/smtp_rcpt.py" "${utf8[@]}" "127.0.0.1:$port" s@outside.example "$@" 2>&1 || true
}
out=$(rcpt_lines '"alice"@customer.example' 'postmaster+x@customer.example' \
    'mary-jane+news@customer.example' '"a\lice"@customer.example' 'abuse+x@customer.example' \
    '+++@customer.example' '"john doe"@customer.example')
expect "quoted dot-atom -> 250" "$out" 'RCPT <"alice"@customer.example> -> 250 2.1.5'
expect "postmaster+x -> 250" "$out" 'RCPT <postmaster+x@customer.example> -> 250 2.1.5'
expect "mary-jane+news, delimiters +- -> 250" "$out" 'RCPT <mary-jane+news@customer.example> -> 250 2.1.5'
expect "escaped quoted dot-atom -> 250" "$out" 'RCPT <"a\lice"@customer.example> -> 250 2.1.5'
expect "abuse+x -> 250" "$out" 'RCPT <abuse+x@customer.example> -> 250 2.1.5'
expect "all delimiters -> 550" "$out" 'RCPT <+++@customer.example> -> 550 5.1.1'
expect "quoted non-dot-atom, unknown -> 550" "$out" 'RCPT <"john doe"@customer.example> -> 550 5.1.1'
# UTF-8 addresses need SMTPUTF8, which this Sendmail build may not offer.
out=$(rcpt_lines --smtputf8 'nobody@bücher.example' 'info@BÜCHER.example')
if grep -q 'does not offer SMTPUTF8' <<<"$out"; then
    note "skip: this Sendmail does not offer SMTPUTF8; U-label domains are covered by miltertest and Postfix"
else
    expect "U-label domain, unknown user -> 550" "$out" 'RCPT <nobody@bücher.example> -> 550 5.1.1'
    expect "U-label in upper case, known -> 250" "$out" 'RCPT <info@BÜCHER.example> -> 250 2.1.5'
fi

# A whole message: a known first recipient does not let an unknown second one through, and the
# message is accepted for the first.
out=$(swaks --server "127.0.0.1:$port" --helo client.example --from s@outside.example \
    --to bob@customer.example,nobody2@customer.example --timeout 30 2>&1 || true)
expect "known first RCPT -> 250" "$out" "$(ok250 bob@customer.example)"
expect "unknown second RCPT still -> 550" "$out" "$(unknown550 nobody2@customer.example)"
expect "the message is accepted for the known one" "$out" 'Message accepted for delivery'
qid=$(sed -n 's/^<-  250 2\.0\.0 \([0-9A-Za-z]*\) Message accepted for delivery$/\1/p' <<<"$out")
if [ -n "$qid" ]; then
    rejected nobody2@customer.example "$qid"
    # the queued message has exactly one recipient: bob@ (the qf file's R lines)
    rcpts=$(sed -n 's/^R[^:]*://p' "$SM/mqueue/qf$qid" 2>/dev/null || true)
    if [ "$rcpts" = '<bob@customer.example>' ]; then
        ok "queue file $qid holds one recipient, <bob@customer.example>"
    else
        bad "queue file $qid: recipients [$rcpts]"
    fi
else
    bad "no queue id in Sendmail's 250 after DATA"
fi
grep -qF '"to":"nobody@customer.example","tenant":"contoso","reason":"unknown_recipient","code":"550","status":"5.1.1"}' "$T/log/rejections.jsonl" &&
    ok "JSON rejection line written" || bad "no JSON rejection line"

# --- a user published while Sendmail and the milter run ---------------------------------------
expect "not yet published -> 550" "$(swaks_rcpt newbie@customer.example)" \
    "$(unknown550 newbie@customer.example)"
rejected newbie@customer.example
printf '%s\n' 'alice@customer.example alice.smith@customer.example' 'bob@customer.example' \
    '100%off@customer.example' 'newbie@customer.example' |
    fill_store contoso now customer.example
expect "published -> 250 on the next RCPT" "$(swaks_rcpt newbie@customer.example)" \
    "$(ok250 newbie@customer.example)"

# --- report mode, by SIGUSR1 reload ------------------------------------------------------------
write_config "$cfg" "unix:$sock" 'mode = "report"'
kill -USR1 "$milter_pid"
wait_for 10 grep -q 'event=reload status=ok .*mode=report' "$T/log/milter.log" || bad "no reload"
expect "report mode: unknown -> 250" "$(swaks_rcpt ghost@customer.example)" \
    "$(ok250 ghost@customer.example)"
wait_for 10 milterlog_has 'from=<s@outside.example> to=<ghost@customer.example> tenant=contoso reason=unknown_recipient code=550 status=5.1.1' &&
    grep -F 'to=<ghost@customer.example>' "$T/log/milter.log" | grep -q 'action=would_reject queue_id=' &&
    ok "report mode: would_reject logged" || bad "no would_reject line"
if grep -qF '<ghost@customer.example>... <ghost' "$SM/trace.log"; then
    bad "report mode: Sendmail rejected ghost@"
else
    ok "report mode: Sendmail rejected nothing"
fi

# --- milter down: F=T makes Sendmail answer 4xx ------------------------------------------------
# Sendmail connects to the milter at the SMTP connection; unreachable with F=T, it answers
# every MAIL FROM of that session with a 4xx (like Postfix's milter_default_action = tempfail).
stop_milter "$milter_pid" || bad "milter did not stop"
out=$(swaks_rcpt alice@customer.example)
expect "milter stopped -> 451 4.3.2 at MAIL FROM (F=T)" "$out" '<** 451 4.3.2 Please try again later'
if grep -qE '^<-  250 2\.1\.5' <<<"$out"; then bad "milter stopped: a RCPT was accepted"; fi

# --- the store missing: postmaster still continues (RFC 5321 4.5.1), the rest is tempfailed ----
mv "$T/store" "$T/store.away"
write_config "$cfg" "unix:$sock"
start_milter "$cfg" "$T/log/milter-nostore.log" "$sock" || bad "milter did not start without a store"
out=$(rcpt_lines postmaster@customer.example postmaster+x@customer.example alice@customer.example \
    someone@elsewhere.example)
expect "no store: postmaster -> 250" "$out" 'RCPT <postmaster@customer.example> -> 250 2.1.5'
expect "no store: postmaster+x -> 250" "$out" 'RCPT <postmaster+x@customer.example> -> 250 2.1.5'
expect "no store: a user -> 451 4.3.0" "$out" 'RCPT <alice@customer.example> -> 451 4.3.0'
expect "no store: another domain -> 250" "$out" 'RCPT <someone@elsewhere.example> -> 250 2.1.5'

# Only Sendmail's namespace saw the test host name and /etc/hosts.
[ "$(hostname) $(md5sum </etc/hosts)" = "$host_before" ] &&
    ok "the system's host name and /etc/hosts are unchanged" || bad "host name or /etc/hosts changed"
finish
