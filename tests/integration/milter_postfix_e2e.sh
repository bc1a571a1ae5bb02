#!/bin/bash
# tests/integration/milter_postfix_e2e.sh MILTER STORE_FILL LOADGEN
#
# End to end with a real Postfix on loopback: a throwaway instance in its own config directory
# under a mktemp dir (postfix -c, chroot off, no syslog), m365gate-milter on a unix socket
# (mode 0660, group postfix, as in production), delivery to discard:. SMTP sessions with
# swaks check what a sending MTA sees, and both Postfix's milter-reject line and m365gate's
# rejection line are checked; UTF-8 addresses go through smtp_rcpt.py with SMTPUTF8 (swaks
# cannot). Everything started is stopped by pid in the EXIT trap.
set -euo pipefail
MILTER=$1 STORE_FILL=$2 LOADGEN=$3
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/milter_lib.sh"
. "$HERE/milter_fixture.sh"
. "$HERE/../../scripts/lib/postfix_sandbox.sh"
for tool in postfix postconf swaks; do
    command -v "$tool" >/dev/null || { echo "SKIP: $tool not installed"; exit 77; }
done

milter_setup
PF=$T/pf
extra_cleanup() { pf_stop "$PF"; }

fill_fixture
sock=$(socket_path e2e)
cfg=$T/m365gate.toml
write_config "$cfg" "unix:$sock" 'subaddress_delimiters = "+-"'
start_milter "$cfg" "$T/log/milter.log" "$sock" || {
    bad "milter did not start"
    finish
}
milter_pid=$MILTER_PID

# --- the Postfix instance -------------------------------------------------------------------
port=$(pf_free_port)
pf_init "$PF"
pf_gateway "$PF" customer.example tailspin.example xn--bcher-kva.example
pf_set "$PF" "smtputf8_enable = yes"
pf_milter "$PF" "unix:$sock"
pf_master "$PF" "$port"
pf_start "$PF" "$port" 2>"$T/log/postfix-start.log" || {
    bad "postfix did not start: $(tail -3 "$T/log/postfix-start.log")"
    finish
}
ok "postfix listening on 127.0.0.1:$port"

# swaks_rcpt TO[,TO...]: one SMTP session up to RCPT; prints swaks' transcript.
swaks_rcpt() {
    swaks --server "127.0.0.1:$port" --helo client.example --from s@outside.example \
        --to "$1" --quit-after RCPT --timeout 30 2>&1 || true
}
expect() {  # expect LABEL TRANSCRIPT FIXED-STRING
    if grep -qF -- "$3" <<<"$2"; then ok "$1"; else
        bad "$1: want [$3]"
        printf '%s\n' "$2" | grep -E '^(<|->|RCPT|SMTP)' | tail -n 8 || true
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

# --- the revised decision: quoted local parts, a U-label domain over SMTPUTF8, role addresses, delimiters ---
# rcpt_lines [--smtputf8] TO...: one session, one "RCPT <to> -> CODE TEXT" line per recipient.
rcpt_lines() {
    local utf8=()
    if [ "$1" = --smtputf8 ]; then
        utf8=(--smtputf8)
        shift
    fi
    python3 "$HERE/smtp_rcpt.py" "${utf8[@]}" "127.0.0.1:$port" s@outside.example "$@" 2>&1 || true
}
out=$(rcpt_lines --smtputf8 '"alice"@customer.example' 'nobody@bücher.example' \
    'postmaster+x@customer.example' 'mary-jane+news@customer.example' '"a\lice"@customer.example' \
    'info@BÜCHER.example' 'info@☃.example' 'abuse+x@customer.example' '+++@customer.example')
expect "quoted dot-atom -> 250" "$out" 'RCPT <"alice"@customer.example> -> 250 2.1.5 Ok'
expect "U-label domain over SMTPUTF8, unknown user -> 550" "$out" \
    'RCPT <nobody@bücher.example> -> 550 5.1.1 <nobody@b??cher.example>: Recipient address rejected'
expect "postmaster+x -> 250" "$out" 'RCPT <postmaster+x@customer.example> -> 250 2.1.5 Ok'
expect "mary-jane+news, delimiters +- -> 250" "$out" 'RCPT <mary-jane+news@customer.example> -> 250 2.1.5 Ok'
expect "escaped quoted dot-atom -> 250" "$out" 'RCPT <"a\lice"@customer.example> -> 250 2.1.5 Ok'
expect "U-label in upper case, known -> 250" "$out" 'RCPT <info@BÜCHER.example> -> 250 2.1.5 Ok'
expect "abuse+x -> 250" "$out" 'RCPT <abuse+x@customer.example> -> 250 2.1.5 Ok'
expect "all delimiters -> 550" "$out" 'RCPT <+++@customer.example> -> 550 5.1.1'
if grep -q 'RCPT <info@☃.example> -> 550' <<<"$out"; then
    bad "an invalid U-label got a 550 from m365gate: $out"
else
    ok "an invalid U-label is not m365gate's to judge (Postfix: $(sed -n 's/^RCPT <info@☃.example> -> //p' <<<"$out"))"
fi
# Client text in replies and log lines is masked: a non-ASCII byte is '?'.
milterlog_has 'to=<nobody@b??cher.example> tenant=contoso reason=unknown_recipient code=550' &&
    ok "m365gate logs the U-label rejection" || bad "no m365gate line for nobody@bücher.example"

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

# --- per-tenant rollout, by SIGUSR1 reload: one tenant reports while the other enforces --------
# reload_with LABEL [milter lines...]: rewrite the config, SIGUSR1, wait for this reload's line.
reloads=1
reload_with() {
    write_config "$cfg" "unix:$sock" "${@:2}"
    kill -USR1 "$milter_pid"
    reloads=$((reloads + 1))
    wait_for 10 sh -c "[ \$(grep -c 'event=reload status=ok' '$T/log/milter.log') -ge $reloads ]" ||
        bad "$1: no reload"
}
TAILSPIN_LINES='mode = "report"' reload_with "tailspin reports, [milter] enforces"
out=$(rcpt_lines nobody3@customer.example dave@tailspin.example)
expect "enforcing tenant: unknown -> 550" "$out" 'RCPT <nobody3@customer.example> -> 550 5.1.1'
expect "reporting tenant: never synced -> 250" "$out" 'RCPT <dave@tailspin.example> -> 250 2.1.5 Ok'
wait_for 10 milterlog_has 'action=would_tempfail queue_id=- client=localhost[127.0.0.1] from=<s@outside.example> to=<dave@tailspin.example> tenant=tailspin reason=cache_unavailable' &&
    ok "reporting tenant: would_tempfail logged" || bad "no would_tempfail line for tailspin"
milterlog_has 'mode=enforce tenants=contoso:1,tailspin:1(report)' &&
    ok "the reload line names the tenant's own mode" || bad "no per-tenant mode in the reload line"

CONTOSO_LINES='mode = "enforce"' reload_with "contoso enforces, [milter] reports" 'mode = "report"'
out=$(rcpt_lines nobody4@customer.example dave@tailspin.example)
expect "[milter] report, contoso enforce: unknown -> 550" "$out" 'RCPT <nobody4@customer.example> -> 550 5.1.1'
expect "[milter] report: tailspin -> 250" "$out" 'RCPT <dave@tailspin.example> -> 250 2.1.5 Ok'

TAILSPIN_LINES='enabled = false' reload_with "tailspin disabled"
out=$(rcpt_lines nobody5@customer.example frank@tailspin.example)
expect "disabled tenant: its domain -> 250" "$out" 'RCPT <frank@tailspin.example> -> 250 2.1.5 Ok'
expect "the enabled tenant still enforces -> 550" "$out" 'RCPT <nobody5@customer.example> -> 550 5.1.1'
wait_for 10 milterlog_has 'to=<nobody5@customer.example>' || bad "no line for nobody5@"
if milterlog_has 'to=<frank@tailspin.example>'; then
    bad "disabled tenant: m365gate logged a verdict for frank@: $(grep -F 'to=<frank@' "$T/log/milter.log")"
else
    ok "disabled tenant: no reject, tempfail or would-be line"
fi

reload_with "both enforce again"
expect "enabled again: never synced -> 451" "$(swaks_rcpt dave@tailspin.example)" '<** 451 4.3.0'

# --- milter down: Postfix applies milter_default_action = tempfail -----------------------------
stop_milter "$milter_pid" || bad "milter did not stop"
expect "milter stopped -> 451 (milter_default_action)" "$(swaks_rcpt alice@customer.example)" \
    '<** 451 4.7.1 Service unavailable - try again later'

# --- the store missing: postmaster still continues (RFC 5321 4.5.1), the rest is tempfailed ----
mv "$T/store" "$T/store.away"
write_config "$cfg" "unix:$sock"
start_milter "$cfg" "$T/log/milter-nostore.log" "$sock" || bad "milter did not start without a store"
out=$(rcpt_lines --smtputf8 postmaster@customer.example postmaster+x@customer.example \
    'postmaster@bücher.example' alice@customer.example someone@elsewhere.example)
expect "no store: postmaster -> 250" "$out" 'RCPT <postmaster@customer.example> -> 250 2.1.5 Ok'
expect "no store: postmaster+x -> 250" "$out" 'RCPT <postmaster+x@customer.example> -> 250 2.1.5 Ok'
expect "no store: postmaster at the U-label domain -> 250" "$out" 'RCPT <postmaster@bücher.example> -> 250 2.1.5 Ok'
expect "no store: a user -> 451 4.3.0" "$out" 'RCPT <alice@customer.example> -> 451 4.3.0'
expect "no store: another domain -> 250" "$out" 'RCPT <someone@elsewhere.example> -> 250 2.1.5 Ok'
finish
