#!/bin/bash
# Confirms that every m365gatectl command works against a store made by a real m365gate-sync
# from the Graph simulator (real TLS, real LMDB): output, exit codes, `check` in each state,
# `--json` parsed back, and that `secret set` + a sync uses the new secret (the simulator's
# request record shows it) with the credential file at 0600; `secret set` against the running
# daemon (event=secret_changed, the new secret in a token request), and contrib/rotate-secret
# with a stand-in `az` on PATH. Exit 77: a binary is not built.
set -euo pipefail

src=${M365GATE_SOURCE_DIR:?}
bin=${M365GATE_BINARY_DIR:?}
ctl_bin=$bin/ctl/m365gatectl
sync_bin=$bin/sync/m365gate-sync
sim_bin=$bin/tests/graphsim/m365gate-graphsim
for b in "$ctl_bin" "$sync_bin" "$sim_bin"; do
    [ -x "$b" ] || { echo "SKIP: $b not built"; exit 77; }
done

work=$(mktemp -d /tmp/m365gate-ctl-test.XXXXXX)
chmod 755 "$work"
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do
        for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    done
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
expect_out() {  # expect_out LABEL PATTERN: grep -E in the last command's stdout
    if grep -qE -- "$2" "$work/out"; then ok "$1"; else
        bad "$1: no /$2/ in:"; sed 's/^/    /' "$work/out"
    fi
}
json() {  # json PYTHON-EXPRESSION: evaluated with d = the last command's stdout as JSON
    python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$work/out" "$1"
}
expect_json() {  # expect_json LABEL EXPRESSION WANT
    local got
    got=$(json "$2" 2>&1) || true
    if [ "$got" = "$3" ]; then ok "$1"; else bad "$1: $2 = $got, want $3"; fi
}

# wait_for SECONDS COMMAND...: until COMMAND succeeds (polled every 0.1 s), or fail.
wait_for() {
    local limit=$1; shift
    local i
    for i in $(seq $((limit * 10))); do
        "$@" && return 0
        sleep 0.1
    done
    return 1
}
log_lines() { wc -l <"$work/log/m365gate.log" 2>/dev/null || echo 0; }
record_lines() { wc -l <"$work/requests.jsonl" 2>/dev/null || echo 0; }
# log_since LINE NEEDLE: NEEDLE in the sync log after line LINE.
log_since() { tail -n +"$(($1 + 1))" "$work/log/m365gate.log" | grep -qF -- "$2"; }
# token_secret_since LINE SECRET: a token request after record line LINE sent SECRET.
token_secret_since() {
    tail -n +"$(($1 + 1))" "$work/requests.jsonl" | python3 -c '
import json, sys, urllib.parse
for line in sys.stdin:
    r = json.loads(line)
    if r["target"].endswith("/oauth2/v2.0/token") and \
            urllib.parse.parse_qs(r["body"]).get("client_secret", [""])[0] == sys.argv[1]:
        sys.exit(0)
sys.exit(1)' "$2"
}
# add_app_secrets JSON...: the app's secrets become the two used so far (Graph's expiry of the
# first $k1_days, of the second 700 days from now) plus these.
k1_days=200
add_app_secrets() {
    local extra=""
    [ $# -gt 0 ] && extra=,$(IFS=,; echo "$*")
    curl -sf --cacert "$work/tls/ca.pem" -X POST -H 'Content-Type: application/json' \
        -d '{"secrets":[{"value":"s3cr3t~contoso~value~0001","keyId":"k1","endDateTime":"'"$(in_days "$k1_days")"'"},{"value":"n3w~rotated~secret~0002","keyId":"k2","endDateTime":"'"$(in_days 700)"'"}'"$extra"']}' \
        "$sim/_sim/tenants/11111111-1111-1111-1111-111111111111/apps/22222222-2222-2222-2222-222222222222" >/dev/null
}
# set_permissions PERMISSION...: the app's granted Graph permissions.
set_permissions() {
    local list
    list=$(printf '"%s",' "$@")
    curl -sf --cacert "$work/tls/ca.pem" -X POST -H 'Content-Type: application/json' \
        -d '{"permissions":['"${list%,}"']}' \
        "$sim/_sim/tenants/11111111-1111-1111-1111-111111111111/apps/22222222-2222-2222-2222-222222222222" >/dev/null
}
# Alert mail: a stand-in sendmail keeps each message as a file in $work/mail.
mail_count() { find "$work/mail" -type f | wc -l; }
# mail_subjects_since N: the decoded subjects of the mails after the first N (oldest first).
mail_subjects_since() {
    ls -tr "$work/mail" | tail -n +"$(($1 + 1))" | while read -r f; do
        python3 -c 'import email,email.header,sys; m=email.message_from_binary_file(open(sys.argv[1],"rb")); print(str(email.header.make_header(email.header.decode_header(m["Subject"]))).replace("\n",""))' "$work/mail/$f"
    done
}

# contrib/rotate-secret against the running daemon, with a stand-in `az` first on PATH that
# answers the calls the script makes as the Azure CLI does (JSON on stdout) and logs them.
rotate_test() {
    local fake=$work/fakebin az_log=$work/az.log rot=$work/rotate.out
    mkdir -p "$fake"
    cat >"$fake/az" <<'FAKE_AZ_END'
#!/bin/bash
# Stand-in for the Azure CLI: `az account show`, `az ad app credential reset|list`.
printf '%s\n' "$*" >>"$FAKE_AZ_LOG"
# FAKE_AZ_FAIL="ad app credential reset" (a prefix of the arguments): that call fails.
if [ -n "${FAKE_AZ_FAIL:-}" ] && [[ "$*" == "$FAKE_AZ_FAIL"* ]]; then
    echo "ERROR: (fake az) $FAKE_AZ_FAIL failed" >&2
    exit 1
fi
id="" name="" end=""
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
    case ${args[i]} in
        --id) id=${args[i+1]} ;;
        --display-name) name=${args[i+1]} ;;
        --end-date) end=${args[i+1]} ;;
    esac
done
case "$1 $2 $3 $4" in
    "account show"*)
        printf '{"environmentName": "AzureCloud", "tenantId": "%s", "user": {"name": "admin@contoso.example", "type": "user"}}\n' "$FAKE_AZ_TENANT" ;;
    "ad app credential reset")
        printf '%s\n' "$name" >"$FAKE_AZ_STATE"
        printf 'The output includes credentials that you must protect. Be sure that you do not include these credentials in your code or check the credentials into your source control.\n' >&2
        printf '{\n  "appId": "%s",\n  "password": "%s",\n  "tenant": "%s"\n}\n' "$id" "$FAKE_AZ_PASSWORD" "$FAKE_AZ_TENANT" ;;
    "ad app credential list")
        made=$(cat "$FAKE_AZ_STATE" 2>/dev/null || true)
        printf '[\n  {"customKeyIdentifier": null, "displayName": "m365gate 2026", "endDateTime": "2027-11-01T00:00:00Z", "hint": "s3c", "keyId": "0b9a8c7d-6e5f-4a3b-8c2d-1e0f9a8b7c02", "secretText": null, "startDateTime": "2025-11-01T00:00:00Z"}'
        [ -n "$made" ] && printf ',\n  {"customKeyIdentifier": null, "displayName": "%s", "endDateTime": "2028-11-01T00:00:00Z", "hint": "az~", "keyId": "%s", "secretText": null, "startDateTime": "2026-11-01T00:00:00Z"}' "$made" "$FAKE_AZ_KEY_ID"
        printf '\n]\n' ;;
    *) echo "fake az: unexpected call: $*" >&2; exit 2 ;;
esac
FAKE_AZ_END
    chmod 755 "$fake/az"
    export FAKE_AZ_LOG=$az_log FAKE_AZ_STATE=$work/az.state FAKE_AZ_TENANT=11111111-1111-1111-1111-111111111111
    export FAKE_AZ_KEY_ID=5e5e5e5e-0000-4000-8000-00000000f00d
    local secret_file=$work/etc/contoso.secret
    local end
    end=$(date -u -d "+24 months" +%Y-%m-%d)

    # Success: the new secret lands in the credential file with its expiry, mode 0600, and the
    # running daemon uses it.
    add_app_secrets '{"value":"r0tated~third~secret~0003","keyId":"k3","endDateTime":"2029-11-01T00:00:00Z"}' \
        '{"value":"az~fourth~secret~0004","keyId":"k4","endDateTime":"2028-11-01T00:00:00Z"}'
    local log_mark rec_mark
    log_mark=$(log_lines); rec_mark=$(record_lines)
    expect_exit 0 "rotate-secret with the Azure CLI stand-in" -- env PATH="$fake:$PATH" \
        M365GATECTL="$ctl_bin" FAKE_AZ_PASSWORD='az~fourth~secret~0004' \
        bash "$src/contrib/rotate-secret" --config "$cfg" contoso
    cp "$work/out" "$rot"
    if [ "$(cat "$secret_file")" = "$(printf 'secret = "az~fourth~secret~0004"\nexpires = %sT00:00:00Z' "$end")" ]; then
        ok "rotate-secret: the credential file holds the new secret and its expiry"
    else
        bad "rotate-secret: credential file is: $(sed 's/secret = .*/secret = (hidden)/' "$secret_file")"
    fi
    [ "$(stat -c %a "$secret_file")" = 600 ] && ok "rotate-secret: credential file is 0600" || bad "rotate-secret: mode $(stat -c %a "$secret_file")"
    [ "$(stat -c %U "$secret_file")" = "$sync_user" ] && ok "rotate-secret: credential file belongs to sync.user" || bad "rotate-secret: owner $(stat -c %U "$secret_file")"
    grep -q -- "ad app credential reset --id 22222222-2222-2222-2222-222222222222 --append --display-name m365gate $(date -u +%Y-%m-%d) --end-date $end -o json" "$az_log" &&
        ok "rotate-secret: az credential reset --append with the end date" || bad "rotate-secret: az calls: $(cat "$az_log")"
    grep -q "az~fourth" "$rot" "$az_log" && bad "rotate-secret: the secret appears in its output or on a command line" ||
        ok "rotate-secret: the secret is in no output and on no command line"
    log_since "$log_mark" "event=secret_changed status=ok" && ok "rotate-secret: the daemon accepted the new secret" ||
        bad "rotate-secret: no event=secret_changed status=ok in the daemon log"
    token_secret_since "$rec_mark" "az~fourth~secret~0004" && ok "rotate-secret: the token request carried the new secret" ||
        bad "rotate-secret: no token request with the new secret"
    grep -q "m365gate-sync synced with the new secret" "$rot" && ok "rotate-secret: says the sync worker synced with it" ||
        bad "rotate-secret: output:"$'\n'"$(sed 's/^/    /' "$rot")"

    # Failure after az made the secret: the credential file cannot be replaced (a symbolic
    # link is refused). The script names the orphaned credential and how to delete it.
    mv "$secret_file" "$secret_file.real"
    ln -s "$secret_file.real" "$secret_file"
    : >"$work/az.state"
    expect_exit 1 "rotate-secret: secret set fails after az created the secret" -- env PATH="$fake:$PATH" \
        M365GATECTL="$ctl_bin" FAKE_AZ_PASSWORD='az~fifth~secret~0005' \
        bash "$src/contrib/rotate-secret" --config "$cfg" contoso
    for want in "symbolic link" "could not be installed" "az ad app credential list --id 22222222-2222-2222-2222-222222222222" \
        "its keyId: $FAKE_AZ_KEY_ID" "az ad app credential delete --id 22222222-2222-2222-2222-222222222222 --key-id $FAKE_AZ_KEY_ID"; do
        grep -qF -- "$want" "$work/err" && ok "rotate-secret failure names: $want" || bad "rotate-secret failure lacks \"$want\":"$'\n'"$(sed 's/^/    /' "$work/err")"
    done
    rm -f "$secret_file"
    mv "$secret_file.real" "$secret_file"
    grep -q "az~fifth" "$secret_file" && bad "rotate-secret: the failed secret was written" || ok "rotate-secret: the credential file is unchanged after the failure"

    # Each step that fails makes the script fail (exit 1), the credential file unchanged unless
    # the new secret was accepted and installed.
    cp -p "$secret_file" "$work/secret.rotate"
    local step
    for step in "account show" "ad app credential reset"; do
        expect_exit 1 "rotate-secret: az $step fails" -- env PATH="$fake:$PATH" FAKE_AZ_FAIL="$step" \
            M365GATECTL="$ctl_bin" FAKE_AZ_PASSWORD='az~fifth~secret~0005' \
            bash "$src/contrib/rotate-secret" --config "$cfg" contoso
        cmp -s "$secret_file" "$work/secret.rotate" && ok "rotate-secret: az $step failed, credential file unchanged" ||
            bad "rotate-secret: az $step failed, but the credential file changed"
    done
    # The new secret refused by the token endpoint (not yet known to the app): secret set
    # exits 3, the script 1 with the AADSTS reason and the orphan's keyId.
    expect_exit 1 "rotate-secret: the new secret is refused" -- env PATH="$fake:$PATH" \
        M365GATECTL="$ctl_bin" FAKE_AZ_PASSWORD='az~unknown~secret~0009' \
        bash "$src/contrib/rotate-secret" --config "$cfg" --wait 0 contoso
    grep -q "AADSTS7000215" "$work/err" && ok "rotate-secret: names the AADSTS reason" || bad "rotate-secret refused: $(cat "$work/err")"
    grep -qF "az ad app credential delete --id 22222222-2222-2222-2222-222222222222 --key-id $FAKE_AZ_KEY_ID" "$work/err" &&
        ok "rotate-secret: refused, says how to delete the orphan" || bad "rotate-secret refused: no delete hint"
    cmp -s "$secret_file" "$work/secret.rotate" && ok "rotate-secret: refused, credential file unchanged" ||
        bad "rotate-secret: refused, but the credential file changed"
    # Everything worked but the last listing of the app's secrets.
    add_app_secrets '{"value":"r0tated~third~secret~0003","keyId":"k3","endDateTime":"2029-11-01T00:00:00Z"}' \
        '{"value":"az~fourth~secret~0004","keyId":"k4","endDateTime":"2028-11-01T00:00:00Z"}' \
        '{"value":"az~sixth~secret~0006","keyId":"k6","endDateTime":"2028-11-01T00:00:00Z"}'
    expect_exit 1 "rotate-secret: the final az credential list fails" -- env PATH="$fake:$PATH" \
        FAKE_AZ_FAIL="ad app credential list" M365GATECTL="$ctl_bin" FAKE_AZ_PASSWORD='az~sixth~secret~0006' \
        bash "$src/contrib/rotate-secret" --config "$cfg" contoso
    grep -q "az~sixth~secret~0006" "$secret_file" && ok "rotate-secret: the accepted secret was installed before the list failed" ||
        bad "rotate-secret: the accepted secret is not installed"
    grep -q "m365gate-sync synced with the new secret" "$work/out" && ok "rotate-secret: the daemon synced with it" ||
        bad "rotate-secret: no sync with the new secret:"$'\n'"$(sed 's/^/    /' "$work/out" "$work/err")"
}

# Issue 17: an expiry date that can be trusted. Graph is the authority when it answers; a local
# date that differs is a WARNING and one notice, never "expired" while sign-in works; an
# unknown expiry is a WARNING and one notice. Each case in the mail, in status and in check.
expiry_date_cases() {
    local secret_file=$work/etc/contoso.secret m
    # The admin's case: the credential file says expired (2 days ago), Graph says 700 days, the
    # simulator accepts the secret. Two rounds: one notice.
    printf 'secret = "n3w~rotated~secret~0002"\nexpires = %s\n' "$(in_days -2)" >"$secret_file"
    m=$(mail_count)
    "$sync_bin" --config "$cfg" --once >/dev/null 2>&1 || true
    "$sync_bin" --config "$cfg" --once >/dev/null 2>&1 || true
    expect_exit 1 "check: a past local date that is not Graph's is a WARNING, not CRITICAL" -- ctl check
    expect_out "check: names both dates" "^M365GATE WARNING - contoso: local expiry date [0-9T:-]+Z \(from credential_file\) differs from Graph's"
    expect_exit 0 "status with a local date that is not Graph's" -- ctl status
    expect_out "status: Graph's date in use" "secret expires: .*\((699|700) days left, from graph\)"
    expect_out "status: the local date flagged" "local expiry: .*\(from credential_file\) DIFFERS from Graph's"
    expect_exit 0 "status --json" -- ctl status --json
    expect_json "status --json: mismatch" "d['tenants'][0]['secret_expiry_mismatch'], d['tenants'][0]['secret_expires_local_source']" "(True, 'credential_file')"
    expect_exit 0 "check-config: a past local date while Graph says otherwise is a warning" -- ctl check-config
    cat "$work/out" "$work/err" | grep -q "differs from Graph's" && ok "check-config names the mismatch" || bad "check-config: $(cat "$work/out" "$work/err")"
    mail_subjects_since "$m" >"$work/subjects"
    [ "$(grep -c "the local expiry date of the client secret is not Graph's" "$work/subjects")" = 1 ] &&
        ok "one mismatch mail in two rounds" || bad "mismatch mails: $(cat "$work/subjects")"
    grep -qi "expired" "$work/subjects" && bad "an expired mail while sign-in works: $(cat "$work/subjects")" ||
        ok "no expired mail while sign-in works"

    # client_secret_expires in the config that is not Graph's: the same, from the config.
    printf 'n3w~rotated~secret~0002\n' >"$secret_file"
    printf 'client_secret_expires = %s\n' "$(in_days 30)" >>"$cfg"
    m=$(mail_count)
    "$sync_bin" --config "$cfg" --once >/dev/null 2>&1 || true
    expect_exit 1 "check: a config date that is not Graph's is a WARNING" -- ctl check
    expect_out "check: names the config" "local expiry date [0-9T:-]+Z \(from config\) differs from Graph's"
    mail_subjects_since "$m" >"$work/subjects"
    grep -q "the local expiry date of the client secret is not Graph's" "$work/subjects" &&
        ok "config date: one mismatch mail" || bad "config date mails: $(cat "$work/subjects")"
    sed -i '$d' "$cfg"

    # Unknown: no Application.Read.All, no date in the file or the config, a secret Graph
    # never told us about. WARNING, one notice over two rounds.
    add_app_secrets '{"value":"unkn0wn~expiry~secret~0005","keyId":"k5","endDateTime":"'"$(in_days 90)"'"}'
    set_permissions User.Read.All GroupMember.Read.All OrgContact.Read.All Domain.Read.All
    printf 'unkn0wn~expiry~secret~0005' | ctl secret set --tenant contoso >/dev/null
    m=$(mail_count)
    "$sync_bin" --config "$cfg" --once >/dev/null 2>&1 || true
    "$sync_bin" --config "$cfg" --once >/dev/null 2>&1 || true
    expect_exit 1 "check: an unknown expiry is a WARNING" -- ctl check
    expect_out "check: says what to do" "^M365GATE WARNING - contoso: expiry unknown: grant Application.Read.All or set expires"
    expect_exit 0 "status with an unknown expiry" -- ctl status
    expect_out "status: unknown" "secret expires: unknown"
    mail_subjects_since "$m" >"$work/subjects"
    [ "$(grep -c "expiry of the client secret unknown" "$work/subjects")" = 1 ] &&
        ok "one unknown-expiry mail in two rounds" || bad "unknown-expiry mails: $(cat "$work/subjects")"
    set_permissions User.Read.All GroupMember.Read.All OrgContact.Read.All Domain.Read.All Application.Read.All
}

# The sync worker drops to sync.user when started as root: give it the files it owns.
if [ "$(id -u)" = 0 ]; then sync_user=nobody; else sync_user=$(id -un); fi
mkdir -p "$work/state" "$work/log" "$work/run" "$work/etc"
chown "$sync_user" "$work/state" "$work/log" "$work/run" "$work/etc"

# --- the Graph simulator with the contoso fixture ---------------------------------------------
bash "$src/tests/graphsim/make-test-ca.sh" "$work/tls"
chmod 755 "$work/tls"; chmod 644 "$work/tls/ca.pem"
setsid -f sh -c 'echo $$ > "$1/sim.pid"; exec "$2" --listen 127.0.0.1:0 --cert "$1/tls/server.pem" \
    --key "$1/tls/server.key" --fixture "$3" --port-file "$1/port" --record "$1/requests.jsonl"' \
    sh "$work" "$sim_bin" "$src/tests/fixtures/contoso.json" >"$work/sim.log" 2>&1 </dev/null
for _ in $(seq 100); do [ -s "$work/port" ] && break; sleep 0.1; done
[ -s "$work/port" ] || { echo "simulator did not start:"; cat "$work/sim.log"; exit 1; }
pids+=("$(cat "$work/sim.pid")")
sim=https://127.0.0.1:$(cat "$work/port")

cfg=$work/etc/m365gate.toml
write_config() {  # write_config STORE_PATH
    cat >"$cfg" <<EOF
[store]
path = "$1"
max_size = "64M"
[log]
target = "file"
file = "$work/log/m365gate.log"
level = "debug"
rejections = "$work/log/rejections.jsonl"
[milter]
pid_file = "$work/run/milter.pid"
[sync]
user = "$sync_user"
pid_file = "$work/run/sync.pid"
ca_file = "$work/tls/ca.pem"
stale_after = "24h"
[alerts]
mail_to = ["admin@alerts.example"]
mail_from = "alerts@gw.test.example"
sendmail = "$work/sendmail"
language = "en"
[[tenant]]
name = "contoso"
tenant_id = "11111111-1111-1111-1111-111111111111"
client_id = "22222222-2222-2222-2222-222222222222"
client_secret_file = "$work/etc/contoso.secret"
login_endpoint = "$sim"
graph_endpoint = "$sim"
EOF
}
write_config "$work/state/store"
ctl() { "$ctl_bin" --config "$cfg" "$@"; }
now=$(date -u +%s)
in_days() { date -u -d "@$((now + $1 * 86400))" +%Y-%m-%dT%H:%M:%SZ; }

mkdir -p "$work/mail"; chmod 1777 "$work/mail"
printf '#!/bin/sh\ncat >"$(mktemp %s/mail.XXXXXX)"\n' "$work/mail" >"$work/sendmail"
chmod 755 "$work/sendmail"
add_app_secrets  # Graph's dates, relative to now, agree with the --expires given below

# --- secret set writes the credential file; a real sync fills the store ------------------------
touch "$work/etc/contoso.secret"; chown "$sync_user" "$work/etc/contoso.secret"
expect_exit 0 "secret set (initial)" -- sh -c "printf 's3cr3t~contoso~value~0001\n' | '$ctl_bin' --config '$cfg' secret set --tenant contoso --expires $(in_days 200)"
[ "$(stat -c %a "$work/etc/contoso.secret")" = 600 ] && ok "credential file is 0600" || bad "credential file mode $(stat -c %a "$work/etc/contoso.secret")"
[ "$(stat -c %U "$work/etc/contoso.secret")" = "$sync_user" ] && ok "credential file belongs to sync.user" || bad "owner $(stat -c %U "$work/etc/contoso.secret")"
expect_out "secret set says the sync worker is not running" "m365gate-sync: not running"

expect_exit 0 "m365gate-sync --once" -- "$sync_bin" --config "$cfg" --once
expected=$(wc -l <"$src/tests/fixtures/contoso.expected")

# --- status --------------------------------------------------------------------------------------
expect_exit 0 "status" -- ctl status
expect_out "status names the tenant and its health" "^tenant contoso"
expect_out "status: healthy" "health: +OK"
expect_out "status: address count" "addresses: +$expected "
expect_out "status: last success with age" "last success: +20[0-9-]+T[0-9:]+Z \([0-9]+s ago\)"
expect_out "status: secret expiry with days left, Graph's date" "secret expires: .*\((199|200) days left, from graph\)"
expect_out "status: full/delta state" "sync: +last full"
expect_exit 0 "status --json" -- ctl status --json
expect_json "status --json: addresses" "d['tenants'][0]['addresses']" "$expected"
expect_json "status --json: domains" "','.join(d['tenants'][0]['domains'])" "contoso.example,contoso.onmicrosoft.com,fabrikam.example"
expect_json "status --json: health" "d['tenants'][0]['health']" "OK"
expect_json "status --json: last_sync_kind" "d['tenants'][0]['last_sync_kind']" "full"

# --- check in each state ---------------------------------------------------------------------------
expect_exit 0 "check: OK" -- ctl check
expect_out "check: one OK line" "^M365GATE OK - contoso: OK \| 'contoso_addresses'=$expected;;;0"
# M365GATE_TEST_NOW moves the clock only in a build with the test clock (scripts/test's).
test_clock=${M365GATE_TEST_CLOCK:-1}
if [ "$test_clock" = 1 ]; then
    expect_exit 2 "check: stale two days later" -- env M365GATE_TEST_NOW=$((now + 2 * 86400)) "$ctl_bin" --config "$cfg" check
    expect_out "check: says stale" "^M365GATE CRITICAL - contoso: stale: last successful sync"
else
    echo "SKIP check: stale two days later (needs a build with M365GATE_TEST_CLOCK=ON)"
fi
k1_days=10 add_app_secrets
printf 's3cr3t~contoso~value~0001' | ctl secret set --tenant contoso --expires "$(in_days 10)" >/dev/null
"$sync_bin" --config "$cfg" --once >/dev/null 2>&1
expect_exit 1 "check: secret within 14 days" -- ctl check
expect_out "check: says when" "^M365GATE WARNING - contoso: secret expires in (9|10) days"
if [ "$test_clock" = 1 ]; then
    expect_exit 2 "check: secret within a day" -- env M365GATE_TEST_NOW=$((now + 10 * 86400 - 3600)) "$ctl_bin" --config "$cfg" check
    expect_out "check: says hours" "secret expires in [0-9]+m|secret expires in 1h"
else
    echo "SKIP check: secret within a day (needs a build with M365GATE_TEST_CLOCK=ON)"
fi

# --- lookup ------------------------------------------------------------------------------------------
expect_exit 0 "lookup" -- ctl lookup Alice.Anderson@Contoso.example nobody@contoso.example
expect_out "lookup: known user" "^  verdict: continue"
expect_out "lookup: object of the user" "^  object:  user [0-9a-f-]{36}"
expect_out "lookup: unknown is rejected with the reply" "^  reply:   550 5.1.1 <nobody@contoso.example>"
expect_exit 0 "lookup --json" -- ctl lookup --json alice@contoso.example 'alice+tag@contoso.example' \
    nobody@contoso.example x@unmanaged.example sales@contoso.example info@contoso.example
expect_json "lookup: alias" "d[0]['reason'], d[0]['tenant'], d[0]['object']['kind']" "('known', 'contoso', 'user')"
expect_json "lookup: subaddress" "d[1]['reason'], d[1]['verdict']" "('known_subaddress', 'continue')"
expect_json "lookup: unknown" "d[2]['verdict'], d[2]['reason'], d[2]['step'], d[2]['reply']['status']" "('reject', 'unknown_recipient', 8, '5.1.1')"
expect_json "lookup: unmanaged domain" "d[3]['verdict'], d[3]['reason']" "('continue', 'unmanaged_domain')"
expect_json "lookup: group" "d[4]['object']['kind']" "group"
expect_json "lookup: shared mailbox" "d[5]['reason']" "known"

# --- dump --------------------------------------------------------------------------------------------
expect_exit 0 "dump" -- ctl dump
if diff <(sort "$work/out") <(sort "$src/tests/fixtures/contoso.expected") >/dev/null; then
    ok "dump lists exactly the expected addresses"
else
    bad "dump differs from contoso.expected"; diff <(sort "$work/out") <(sort "$src/tests/fixtures/contoso.expected") || true
fi
expect_exit 0 "dump --tenant --long" -- ctl dump --tenant contoso --long
expect_out "dump --long: tab-separated" "^sales@contoso.example	contoso	group	"
expect_exit 1 "dump of an unknown tenant" -- ctl dump --tenant nowhere

# --- secret set + sync uses the new secret; a wrong secret shows as a failed attempt --------------
add_app_secrets
# A secret the token endpoint refuses: secret set tries it first (the daemon is not running),
# exits 3 with the AADSTS reason and changes nothing.
secret_file=$work/etc/contoso.secret
cp -p "$secret_file" "$work/secret.before"
expect_exit 3 "secret set: a refused secret" -- sh -c "printf 'wrong~secret\n' | '$ctl_bin' --config '$cfg' secret set --tenant contoso --expires $(in_days 200)"
grep -q "AADSTS7000215" "$work/err" && ok "secret set: the refusal names AADSTS7000215" || bad "secret set refusal: $(cat "$work/err")"
cmp -s "$secret_file" "$work/secret.before" && ok "secret set: the old secret is still in place" || bad "secret set: the credential file changed"
[ ! -e "$secret_file.previous" ] && ok "secret set: no .previous after a refusal" || bad "secret set: .previous after a refusal"
# The token endpoint cannot be reached: exit 1 ("could not be tried"), nothing changed.
sed -e "s|^login_endpoint = .*|login_endpoint = \"https://127.0.0.1:1\"|" \
    -e 's|^\[sync\]$|[sync]\nmax_retries = 0|' "$cfg" >"$work/etc/unreachable.toml"
expect_exit 1 "secret set: the token endpoint unreachable" -- sh -c "printf 'n3w~rotated~secret~0002' | '$ctl_bin' --config '$work/etc/unreachable.toml' secret set --tenant contoso"
grep -q "could not be tried" "$work/err" && ok "secret set: says it could not try the secret" || bad "secret set unreachable: $(cat "$work/err")"
cmp -s "$secret_file" "$work/secret.before" && ok "secret set: unreachable, the old secret is still in place" || bad "secret set: unreachable, the credential file changed"
# m365gate-sync --check-credential itself: one key=value line, never the secret.
expect_exit 1 "check-credential: refused" -- sh -c "printf 'wrong~secret' | '$sync_bin' --config '$cfg' --check-credential --tenant contoso"
expect_out "check-credential: the refusal line" '^status=refused kind=token code="7000215" error="token request failed: .*AADSTS7000215'
expect_exit 0 "check-credential: accepted" -- sh -c "printf 'secret = \"s3cr3t~contoso~value~0001\"\n' | '$sync_bin' --config '$cfg' --check-credential --tenant contoso"
expect_out "check-credential: the acceptance line" '^status=accepted$'
expect_exit 78 "check-credential: no credential" -- sh -c "printf '' | '$sync_bin' --config '$cfg' --check-credential --tenant contoso"
expect_exit 64 "check-credential: needs one --tenant" -- "$sync_bin" --config "$cfg" --check-credential
grep -q 'wrong~secret\|s3cr3t~contoso' "$work/log/m365gate.log" && bad "check-credential: a secret in the log" ||
    ok "check-credential: no secret in the log"
# --no-verify installs it untried: the old one is kept as .previous (its owner and mode) and
# stays while the sync worker cannot sign in with the new one.
expect_exit 0 "secret set --no-verify" -- sh -c "printf 'wrong~secret\n' | '$ctl_bin' --config '$cfg' secret set --no-verify --tenant contoso --expires $(in_days 200)"
cmp -s "$secret_file.previous" "$work/secret.before" && ok "secret set: the old secret kept as .previous" || bad "secret set: no .previous with the old secret"
[ "$(stat -c '%a %U' "$secret_file.previous")" = "600 $sync_user" ] && ok "secret set: .previous keeps owner and mode" ||
    bad "secret set: .previous is $(stat -c '%a %U' "$secret_file.previous")"
"$sync_bin" --config "$cfg" --once >/dev/null 2>&1 || true
[ -e "$secret_file.previous" ] && ok "a refused secret: .previous stays" || bad "a refused secret: .previous was removed"
expect_exit 0 "status --json with a .previous" -- ctl status --json
expect_json "status --json: previous_credential" "d['tenants'][0]['previous_credential']" "True"
expect_exit 1 "check: last attempt failed" -- ctl check
expect_out "check: names the failure" "^M365GATE WARNING - contoso: last attempt failed"
expect_exit 0 "status after a failed attempt" -- ctl status
expect_out "status: last error with its code" "last error: +.*7000215"

curl -sf --cacert "$work/tls/ca.pem" -X DELETE "$sim/_sim/requests" >/dev/null
expect_exit 0 "secret set (rotation)" -- sh -c "printf 'n3w~rotated~secret~0002' | '$ctl_bin' --config '$cfg' secret set --tenant contoso --expires $(in_days 700)"
expect_out "secret set: the new secret was tried" "accepted the new secret"
[ "$(stat -c %a "$work/etc/contoso.secret")" = 600 ] && ok "rotated credential file is 0600" || bad "mode $(stat -c %a "$work/etc/contoso.secret")"
grep -q 'wrong~secret' "$secret_file.previous" && ok "secret set: the replaced secret is the new .previous" || bad "secret set: .previous does not hold the replaced secret"
expect_exit 0 "m365gate-sync --once with the new secret" -- "$sync_bin" --config "$cfg" --once
[ ! -e "$secret_file.previous" ] && ok "the sync signed in with the new secret: .previous removed" || bad ".previous still there after a successful sync"
curl -sf --cacert "$work/tls/ca.pem" "$sim/_sim/requests" >"$work/out"
expect_json "the token request carried the new secret" \
    "[__import__('urllib.parse').parse.parse_qs(r['body']).get('client_secret',[''])[0] for r in d if r['target'].endswith('/oauth2/v2.0/token')][-1]" \
    "n3w~rotated~secret~0002"
expect_exit 0 "check after the rotation" -- ctl check
expect_exit 0 "status --json after the rotation" -- ctl status --json
expect_json "status: new expiry" "d['tenants'][0]['secret_days_left'] >= 699" "True"

expiry_date_cases
printf 'n3w~rotated~secret~0002' | ctl secret set --tenant contoso --expires "$(in_days 700)" >/dev/null

# --- check-config ----------------------------------------------------------------------------------
expect_exit 0 "check-config" -- ctl check-config
expect_out "check-config: what would be used" "^tenant contoso: tenant_id 11111111-1111-1111-1111-111111111111, client_id 22222222-2222-2222-2222-222222222222"
expect_out "check-config: credential file" "credential file: .*mode 0600.*ok, secret present"
expect_out "check-config: [postfix] off by default" "^\[postfix\] off$"
chmod 644 "$work/etc/contoso.secret"
expect_exit 78 "check-config: credential file readable by others" -- ctl check-config
grep -q "readable by group or others" "$work/err" && ok "check-config says why" || bad "check-config reason: $(cat "$work/err")"
chmod 600 "$work/etc/contoso.secret"
expect_exit 78 "check-config: missing config file" -- "$ctl_bin" check-config "$work/etc/nothing.toml"
# [postfix] export_dir: missing, then a directory others can write, then as the admin guide says.
cp "$cfg" "$work/etc/postfix.toml"
printf '\n[postfix]\nexport_dir = "%s"\n' "$work/pf-tables" >>"$work/etc/postfix.toml"
"$ctl_bin" check-config "$work/etc/postfix.toml" >"$work/out" 2>&1 || true
expect_out "check-config: export_dir missing" "postfix.export_dir .* is not a directory"
install -d -m 0777 "$work/pf-tables"
"$ctl_bin" check-config "$work/etc/postfix.toml" >"$work/out" 2>&1 || true
expect_out "check-config: export_dir others can write" "postfix.export_dir .* the sync worker refuses"
if getent group postfix >/dev/null; then
    chown "$sync_user:postfix" "$work/pf-tables" && chmod 2750 "$work/pf-tables"
    "$ctl_bin" check-config "$work/etc/postfix.toml" >"$work/out" 2>&1 || true
    if grep -q 'postfix.export_dir' "$work/out"; then bad "check-config: export_dir as documented still warned: $(grep postfix.export_dir "$work/out")"; else ok "check-config: export_dir as documented, no warning"; fi
fi

# --- reload ----------------------------------------------------------------------------------------
expect_exit 1 "reload: neither daemon runs" -- ctl reload
setsid -f "$sync_bin" --config "$cfg" >"$work/sync-daemon.out" 2>&1 </dev/null
for _ in $(seq 100); do [ -s "$work/run/sync.pid" ] && break; sleep 0.1; done
if [ -s "$work/run/sync.pid" ]; then
    pids+=("$(cat "$work/run/sync.pid")")
    expect_exit 0 "reload: the sync worker runs" -- ctl reload
    expect_out "reload: says what was signalled" "^m365gate-sync: sent SIGHUP to pid $(cat "$work/run/sync.pid")"
    expect_exit 0 "secret set signals the running sync worker" -- sh -c "printf 'n3w~rotated~secret~0002' | '$ctl_bin' --config '$cfg' secret set --tenant contoso --expires $(in_days 700)"
    expect_out "secret set: says it signalled" "^m365gate-sync: sent SIGHUP to pid"

    # A DIFFERENT secret while the daemon runs: it asks for a token with it at once.
    add_app_secrets '{"value":"r0tated~third~secret~0003","keyId":"k3","endDateTime":"2029-11-01T00:00:00Z"}'
    log_mark=$(log_lines); rec_mark=$(record_lines)
    expect_exit 0 "secret set (another secret) with the daemon running" -- sh -c "printf 'r0tated~third~secret~0003' | '$ctl_bin' --config '$cfg' secret set --tenant contoso --expires $(in_days 600)"
    if wait_for 30 log_since "$log_mark" "event=secret_changed status=ok"; then
        ok "the daemon logs event=secret_changed status=ok for the new secret"
    else
        bad "no event=secret_changed status=ok:"; tail -n +"$((log_mark + 1))" "$work/log/m365gate.log" | sed 's/^/    /'
    fi
    if wait_for 30 token_secret_since "$rec_mark" "r0tated~third~secret~0003"; then
        ok "the daemon's token request carried the new secret"
    else
        bad "no token request with the new secret in the request record"
    fi
    if wait_for 30 log_since "$log_mark" "tenant=contoso event=sync kind=delta status=ok"; then
        ok "the daemon syncs with the new secret"
    else
        bad "no successful sync after the secret change"
    fi

    # contrib/rotate-secret, with a stand-in az that answers as the Azure CLI does.
    rotate_test
else
    bad "m365gate-sync did not write its pid file"; cat "$work/sync-daemon.out"
fi

# --- report ----------------------------------------------------------------------------------------
ts() { date -u -d "@$((now - $1))" +%Y-%m-%dT%H:%M:%SZ; }
{
    for i in 1 2 3; do
        printf '{"ts":"%s","action":"reject","queue_id":"","client_addr":"192.0.2.7","client_name":"mx.harvest.example","from":"a@b.example","to":"user%d@contoso.example","tenant":"contoso","reason":"unknown_recipient","code":"550","status":"5.1.1"}\n' "$(ts $((i * 60)))" "$i"
    done
    printf '{"ts":"%s","action":"reject","queue_id":"","client_addr":"198.51.100.1","client_name":"","from":"","to":"jon@fabrikam.example","tenant":"contoso","reason":"unknown_recipient","code":"550","status":"5.1.1"}\n' "$(ts 7200)"
    printf '{"ts":"%s","action":"tempfail","queue_id":"","client_addr":"198.51.100.1","client_name":"","from":"","to":"jon@fabrikam.example","tenant":"contoso","reason":"cache_unavailable","code":"451","status":"4.3.0"}\n' "$(ts 7300)"
    printf '{"ts":"%s","action":"reject","to":"old@contoso.example","reason":"unknown_recipient"}\n' "$(ts $((3 * 86400)))"
    printf '{"ts":"broken\n'
    printf 'garbage\n'
} >"$work/log/rejections.jsonl"
expect_exit 0 "report (log.rejections from the config)" -- ctl report
expect_out "report: events by action" "events: +5 \(reject 4, tempfail 1\)"
expect_out "report: malformed lines counted" "skipped: +2 malformed lines, 1 outside the period"
expect_out "report: by reason" "^ +4  unknown_recipient"
expect_out "report: harvester" "^ +3  192\.0\.2\.7 +mx\.harvest\.example +3 distinct recipients"
expect_exit 0 "report --json --since 7d FILE" -- ctl report --json --since 7d "$work/log/rejections.jsonl"
expect_json "report --json: events" "d['events'], d['malformed'], d['by_reason']['unknown_recipient']" "(6, 2, 5)"
expect_json "report --json: top domain" "d['by_domain'][0]['domain'], d['by_domain'][0]['count']" "('contoso.example', 4)"
expect_exit 2 "report: bad --since" -- ctl report --since yesterday
expect_exit 0 "report --tenant NAME FILE" -- ctl report --since 7d --format json --tenant contoso "$work/log/rejections.jsonl"
expect_json "report --tenant: the FILE stays a file" "d['files'] == ['$work/log/rejections.jsonl'], d['tenants']" "(True, ['contoso'])"
expect_json "report --tenant: only contoso" "d['events'], d['other_tenants'], list(d['by_tenant'])" "(5, 1, ['contoso'])"
expect_exit 0 "report --since 7d --until 1h" -- ctl report --since 7d --until 1h --json "$work/log/rejections.jsonl"
expect_json "report --until: the last hour left out" "d['events'], d['outside_period']" "(3, 3)"
expect_exit 0 "report --format csv" -- ctl report --since 7d --format csv "$work/log/rejections.jsonl"
expect_out "report --format csv: one table" "^section,tenant,key,value,detail"
expect_out "report --format csv: the null sender" "^sender,,<>,3,"
expect_exit 0 "report --format html" -- ctl report --since 7d --format html "$work/log/rejections.jsonl"
expect_out "report --format html: the count" '<td data-key="events">6</td>'
expect_exit 2 "report: --json and --format together" -- ctl report --json --format csv "$work/log/rejections.jsonl"
expect_exit 2 "report: unknown --format" -- ctl report --format xml "$work/log/rejections.jsonl"
expect_exit 2 "report: --until before --since" -- ctl report --since 1h --until 2h "$work/log/rejections.jsonl"
expect_exit 2 "report: bad --until" -- ctl report --until tomorrow "$work/log/rejections.jsonl"

# --- help, usage errors, bad config ---------------------------------------------------------------
for c in status check lookup dump report check-config reload "secret set" "alert test"; do
    # shellcheck disable=SC2086
    expect_exit 0 "$c --help" -- "$ctl_bin" $c --help
    expect_out "$c --help has examples" "^Examples:"
done
expect_exit 2 "unknown command" -- "$ctl_bin" frobnicate
expect_exit 3 "check: usage error is UNKNOWN" -- "$ctl_bin" check --bogus
expect_exit 3 "check: unreadable config is UNKNOWN" -- "$ctl_bin" --config "$work/none.toml" check
expect_out "check: UNKNOWN line" "^M365GATE UNKNOWN - "
expect_exit 78 "status: unreadable config" -- "$ctl_bin" --config "$work/none.toml" status
write_config "$work/state/missing"
expect_exit 3 "check: store unreadable is UNKNOWN" -- ctl check
expect_exit 1 "status: store unreadable" -- ctl status
expect_exit 0 "lookup without a store still answers" -- ctl lookup --json alice@contoso.example
expect_json "lookup without a store: no configured domains, so not ours" "d[0]['reason']" "unmanaged_domain"

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
