#!/bin/bash
# tests/integration/milter_replies.sh MILTER STORE_FILL LOADGEN
#
# Confirms the exact reply each RCPT gets over the milter protocol (code, enhanced status and
# text, which miltertest cannot show at RCPT time), through m365gate-milter-loadgen --probe,
# and the rejection log lines (key=value and JSON) written for them.
set -euo pipefail
MILTER=$1 STORE_FILL=$2 LOADGEN=$3
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/milter_lib.sh"
. "$HERE/milter_fixture.sh"

milter_setup
fill_fixture
sock=$(socket_path replies)
write_config "$T/m365gate.toml" "unix:$sock"
start_milter "$T/m365gate.toml" "$T/log/milter.log" "$sock" || {
    bad "milter did not start"
    finish
}

out=$("$LOADGEN" --socket "unix:$sock" --probe --from s@outside.example \
    --rcpt alice@customer.example --rcpt nobody@customer.example \
    --rcpt dave@tailspin.example --rcpt 50%off@customer.example \
    --rcpt 100%off@customer.example --rcpt "$(printf 'evil\r\n250 ok@customer.example')" \
    --rcpt postmaster@customer.example --rcpt someone@elsewhere.example 2>&1) || true
printf '%s\n' "$out" | tr '\r' '^'

expect_line() {  # expect_line LABEL EXACT-LINE
    if grep -qxF -- "$2" <<<"$out"; then ok "$1"; else bad "$1: want [$2]"; fi
}
expect_line "known -> continue" "<alice@customer.example> continue"
expect_line "unknown -> 550 5.1.1 with the exact text" \
    "<nobody@customer.example> reply 550 5.1.1 <nobody@customer.example>: Recipient address rejected: user unknown"
expect_line "never synced -> 451 4.3.0" \
    "<dave@tailspin.example> reply 451 4.3.0 <dave@tailspin.example>: Recipient address lookup failed: try again later"
expect_line "% in the address is doubled for smfi_setreply" \
    "<50%off@customer.example> reply 550 5.1.1 <50%%off@customer.example>: Recipient address rejected: user unknown"
expect_line "known address with % -> continue" "<100%off@customer.example> continue"
expect_line "CR/LF never reach the reply" \
    "$(printf '<evil\r\n250 ok@customer.example>') reply 550 5.1.1 <evil250 ok@customer.example>: Recipient address rejected: user unknown"
expect_line "postmaster -> continue" "<postmaster@customer.example> continue"
expect_line "unmanaged domain -> continue" "<someone@elsewhere.example> continue"

# The log lines, key=value (spdlog) and JSON (log.rejections); polled, the writes are async
# to us.
line='action=reject queue_id=- client=client.example[192.0.2.7] from=<s@outside.example> to=<nobody@customer.example> tenant=contoso reason=unknown_recipient code=550 status=5.1.1'
if wait_for 10 grep -qF "$line" "$T/log/milter.log"; then ok "key=value rejection line"; else bad "no line: $line"; fi
line='action=tempfail queue_id=- client=client.example[192.0.2.7] from=<s@outside.example> to=<dave@tailspin.example> tenant=tailspin reason=cache_unavailable code=451 status=4.3.0'
if wait_for 10 grep -qF "$line" "$T/log/milter.log"; then ok "key=value tempfail line"; else bad "no line: $line"; fi
json='"action":"reject","queue_id":"","client_addr":"192.0.2.7","client_name":"client.example","from":"s@outside.example","to":"nobody@customer.example","tenant":"contoso","reason":"unknown_recipient","code":"550","status":"5.1.1"}'
if wait_for 10 grep -qF "$json" "$T/log/rejections.jsonl"; then ok "JSON rejection line"; else bad "no JSON line: $json"; fi
if python3 -c 'import json,sys; [json.loads(l) for l in open(sys.argv[1])]' "$T/log/rejections.jsonl"; then
    ok "every JSON line parses ($(wc -l <"$T/log/rejections.jsonl") lines)"
else
    bad "rejections.jsonl has a line that is not JSON"
fi
if grep -q 'action=reject.*to=<alice@\|action=.*to=<postmaster@' "$T/log/milter.log"; then
    bad "an accepted recipient was logged as a rejection"
else
    ok "accepted recipients are not logged as rejections"
fi
finish
