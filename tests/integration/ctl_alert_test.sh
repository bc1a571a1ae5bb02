#!/bin/bash
# Confirms that `m365gatectl alert test --tenant NAME` sends a test alert through every
# configured channel and says which failed: mail through a stand-in sendmail (the message
# parsed with Python's email package: headers, RFC 2047 subject in the tenant's language, the
# body in its charset, both of the tenant's recipients), the webhook over verified TLS to the
# Graph simulator's /_sim/webhook (its JSON checked); exit 1 naming the channel when sendmail
# fails or the webhook's certificate does not verify (not retried, so this stays fast), exit
# 1 with no channel configured, exit 2 for an unknown tenant. Exit 77: a binary is not built.
set -euo pipefail

src=${M365GATE_SOURCE_DIR:?}
bin=${M365GATE_BINARY_DIR:?}
ctl_bin=$bin/ctl/m365gatectl
sync_bin=$bin/sync/m365gate-sync
sim_bin=$bin/tests/graphsim/m365gate-graphsim
for b in "$ctl_bin" "$sync_bin" "$sim_bin"; do
    [ -x "$b" ] || { echo "SKIP: $b not built"; exit 77; }
done

work=$(mktemp -d /tmp/m365gate-alert-test.XXXXXX)
chmod 755 "$work"
sim_pid=""
cleanup() {
    if [ -n "$sim_pid" ]; then
        kill "$sim_pid" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$sim_pid" 2>/dev/null || break; sleep 0.1; done
    fi
    rm -rf "$work"
}
trap cleanup EXIT

passed=0
failed=0
ok() { passed=$((passed + 1)); echo "PASS $*"; }
bad() { failed=$((failed + 1)); echo "FAIL $*"; }
expect_exit() {  # expect_exit CODE LABEL -- command...
    local want=$1 label=$2; shift 3
    local got=0
    "$@" >"$work/out" 2>"$work/err" || got=$?
    if [ "$got" = "$want" ]; then ok "$label (exit $got)"; else
        bad "$label: exit $got, want $want"; sed 's/^/    out: /' "$work/out"; sed 's/^/    err: /' "$work/err"
    fi
}
expect_in() {  # expect_in LABEL FILE PATTERN: grep -E
    if grep -qE -- "$3" "$2"; then ok "$1"; else bad "$1: no /$3/ in:"; sed 's/^/    /' "$2"; fi
}

# Run as root, m365gate-sync drops to sync.user: it must reach the files below.
if [ "$(id -u)" = 0 ]; then sync_user=nobody; else sync_user=$(id -un); fi
mkdir -p "$work/mail" "$work/log"
chmod 777 "$work/mail" "$work/log"

bash "$src/tests/graphsim/make-test-ca.sh" "$work/tls"
chmod 755 "$work/tls"; chmod 644 "$work/tls/ca.pem" "$work/tls/wrong-ca.pem"
setsid -f sh -c 'echo $$ > "$1/sim.pid"; exec "$2" --listen 127.0.0.1:0 --cert "$1/tls/server.pem" \
    --key "$1/tls/server.key" --fixture "$3" --port-file "$1/port"' \
    sh "$work" "$sim_bin" "$src/tests/fixtures/contoso.json" >"$work/sim.log" 2>&1 </dev/null
for _ in $(seq 100); do [ -s "$work/port" ] && break; sleep 0.1; done
[ -s "$work/port" ] || { echo "simulator did not start:"; cat "$work/sim.log"; exit 1; }
sim_pid=$(cat "$work/sim.pid")
sim=https://127.0.0.1:$(cat "$work/port")

# Stand-in sendmail: fails while $work/mail/down exists, else keeps the message and its args.
cat >"$work/sendmail" <<EOF
#!/bin/sh
if [ -e "$work/mail/down" ]; then echo "sendmail: fatal: queue file write error" >&2; exit 75; fi
echo "\$@" > "$work/mail/args"
cat > "$work/mail/msg"
EOF
chmod 755 "$work/sendmail"

cfg=$work/m365gate.toml
write_config() {  # write_config CA_FILE MAIL_TO WEBHOOK
    cat >"$cfg" <<EOF
[log]
target = "file"
file = "$work/log/m365gate.log"
[sync]
user = "$sync_user"
ca_file = "$1"
[alerts]
mail_to = [$2]
mail_from = "m365gate@gw.example.net"
sendmail = "$work/sendmail"
webhook = "$3"
language = "en"
host_label = "gw.example.net"
[[tenant]]
name = "contoso"
tenant_id = "11111111-1111-1111-1111-111111111111"
client_id = "22222222-2222-2222-2222-222222222222"
client_secret_file = "$work/contoso.secret"
alert_mail_to = ["it@contoso.example"]
language = "ja"
EOF
    chmod 644 "$cfg"
}
ctl() { "$ctl_bin" --config "$cfg" alert test --sync "$sync_bin" "$@"; }

# --- both channels deliver ---------------------------------------------------------------------
write_config "$work/tls/ca.pem" '"postmaster@example.net"' "$sim/_sim/webhook/alerts"
expect_exit 0 "alert test: mail and webhook delivered" -- ctl --tenant contoso
expect_in "alert test: says mail sent" "$work/out" "^mail: sent$"
expect_in "alert test: says webhook sent" "$work/out" "^webhook: sent$"
expect_in "sendmail called as sendmail -f FROM -t -i" "$work/mail/args" "^-f m365gate@gw.example.net -t -i$"
if python3 - "$work/mail/msg" <<'PY'
import email, email.policy, sys
msg = email.message_from_bytes(open(sys.argv[1], "rb").read(), policy=email.policy.default)
assert not msg.defects, msg.defects
subject = str(msg["Subject"])
assert subject == "[m365gate] contoso: テストメッセージ", subject
assert msg["X-M365gate-Event"] == "test", msg["X-M365gate-Event"]
to = [a.addr_spec for a in msg["To"].addresses]
assert to == ["postmaster@example.net", "it@contoso.example"], to
body = msg.get_payload(decode=True).decode(msg.get_content_charset())
assert "gw.example.net の m365gate-sync" in body, body
assert "m365gatectl alert test" in body, body
PY
then ok "test mail: Japanese subject decodes, both recipients, host label"; else bad "test mail: $(cat "$work/mail/msg")"; fi
curl -sS --cacert "$work/tls/ca.pem" "$sim/_sim/requests" >"$work/requests.json"
if python3 - "$work/requests.json" <<'PY'
import json, sys
reqs = [r for r in json.load(open(sys.argv[1])) if r["target"].startswith("/_sim/webhook/alerts")]
assert len(reqs) == 1, "%d webhook requests" % len(reqs)
j = json.loads(reqs[0]["body"])
assert j["event"] == "test" and j["severity"] == "info", j
assert j["tenant"] == "contoso" and j["language"] == "ja" and j["host"] == "gw.example.net", j
PY
then ok "webhook: the test event arrived over verified TLS"; else bad "webhook request: $(cat "$work/requests.json")"; fi

# --- a failing channel is named, and the exit status says so -----------------------------------
touch "$work/mail/down"
expect_exit 1 "alert test: sendmail fails" -- ctl --tenant contoso
expect_in "alert test: names the failed mail channel" "$work/out" "^mail: failed: .*exited with status 75"
expect_in "alert test: the webhook still went out" "$work/out" "^webhook: sent$"
expect_in "alert test: says not every channel delivered" "$work/err" "not every channel delivered"
rm "$work/mail/down"

write_config "$work/tls/wrong-ca.pem" '"postmaster@example.net"' "$sim/_sim/webhook/alerts"
expect_exit 1 "alert test: webhook certificate does not verify" -- ctl --tenant contoso
expect_in "alert test: mail sent" "$work/out" "^mail: sent$"
expect_in "alert test: names the failed webhook" "$work/out" "^webhook: failed: "

# --- nothing configured, unknown tenant ------------------------------------------------------------
write_config "$work/tls/ca.pem" "" ""
sed -i '/^alert_mail_to/d' "$cfg"
expect_exit 1 "alert test: no channel configured" -- ctl --tenant contoso
expect_in "alert test: says no channel is configured" "$work/out" "no channel configured"
expect_exit 2 "alert test: unknown tenant" -- ctl --tenant nosuch
expect_in "alert test: names the unknown tenant" "$work/err" 'no tenant "nosuch"'

echo "SUMMARY ctl_alert_test passed=$passed failed=$failed"
[ "$failed" = 0 ]
