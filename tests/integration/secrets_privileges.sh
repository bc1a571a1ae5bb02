#!/bin/bash
# tests/integration/secrets_privileges.sh SYNC MILTER CTL GRAPHSIM FAULTS INSPECT TAMPER
#
# Secrets and privileges, with both daemons logging at trace level:
#   - a full sync, a failing token request (a wrong secret), and reloads of the sync daemon
#     (SIGHUP with a changed secret that works, then one that does not) and of the milter;
#     then every log file, every stderr capture, the metrics files, the store files and the
#     simulator's request record are searched for each secret (as is, URL-encoded, and inside HTTP Basic
#     credentials) and for each access token the simulator saw (and for anything shaped like
#     one, "eyJ..."), for the private key of a certificate credential (each line of its PEM
#     body) and for every client assertion signed with it (a sync that signs in with the
#     certificate), also as a PEM "PRIVATE KEY" anywhere. A secret or an assertion may appear
#     only in the body (or Basic header) of a token
#     request to the configured login endpoint; a token only in the Authorization header of a
#     Graph request to the configured Graph endpoint.
#   - the milter runs as milter.user ("nobody", group "daemon": the store's group) and not as
#     the sync worker's user ("daemon", who owns the credential file, 0600): its uids, gids and
#     capabilities in /proc, and a process with exactly its credentials (setpriv) cannot open
#     the credential file but can read the store. The unix socket has the configured mode
#     (0660) and group ("mail").
#   - bad config and credential files are refused with clear messages (exit 78), at start and
#     by --check-config; at reload they are logged and ignored, and nothing of them is applied
#     (neither the log level nor the mode that came with the error).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
SYNC_USER=daemon
MILTER_USER=nobody
MILTER_GROUP=daemon
. "$HERE/fault_lib.sh"
hardening_args "$@"
for tool in curl setpriv; do
    command -v "$tool" >/dev/null || { echo "SKIP: $tool not installed"; exit 77; }
done
getent passwd daemon >/dev/null && getent group mail >/dev/null ||
    { echo "SKIP: no user daemon or group mail"; exit 77; }
hardening_setup

GOOD=$GEN_SECRET
NEW='rotated~Secret~Value~2027~QzX'
WRONG='wrong~secret~value~0000000001'
start_sim --users 500 --groups 10 || { bad "simulator did not start"; finish; }
# The app accepts the generated secret and the rotated one.
sim_call POST "/_sim/tenants/$GEN_TENANT_ID/apps/$GEN_CLIENT_ID" \
    "{\"secrets\":[{\"value\":\"$GOOD\",\"endDateTime\":\"2028-11-01T00:00:00Z\"},{\"value\":\"$NEW\",\"endDateTime\":\"2029-01-01T00:00:00Z\"}]}" |
    grep -q '"ok":true' || { bad "control API: app secrets"; finish; }
secret_file=$T/etc/gen.secret
write_secret "$secret_file" "$GOOD"
# Both daemons write their metrics under $T/log too, so the search below covers them. Sticky
# and open to both users, as each writes only its own file.
mkdir -m 1777 "$T/log/metrics"
metrics_section=$(printf '\n[metrics]\ntextfile_dir = "%s"\ninterval = "1s"' "$T/log/metrics")
CFG_SYNC=$metrics_section CFG_LOG_LEVEL=trace CFG_LOG=$T/log/sync.log gen_config "$T/etc/sync.toml"
CFG_SYNC=$metrics_section CFG_LOG_LEVEL=trace CFG_SOCKET_GROUP=mail gen_config "$T/etc/milter.toml"
# The sync worker writes its log file as "daemon".
touch "$T/log/sync.log" && chown daemon "$T/log/sync.log"

# --- a full sync, a failing token request -------------------------------------------------------
run_sync "$T/etc/sync.toml" "$T/log/sync-once.stderr" --once && ok "full sync with the good secret" ||
    bad "full sync failed: $(tail -n 3 "$T/log/sync.log")"
write_secret "$secret_file" "$WRONG"
rc=0
run_sync "$T/etc/sync.toml" "$T/log/sync-wrong.stderr" --once || rc=$?
[ "$rc" = 1 ] && grep -q 'error_codes=7000215\|error_code=7000215' "$T/log/sync.log" &&
    ok "a wrong secret: the token request fails (7000215), exit 1" || bad "wrong secret: exit $rc"

# --- the daemon, reloaded with a changed secret that works, then one that does not ----------------------
write_secret "$secret_file" "$GOOD"
start_sync "$T/etc/sync.toml" "$T/log/sync-daemon.stderr" || bad "daemon did not start"
sync_pid=$SYNC_PID
mark=$(wc -l <"$T/log/sync.log")
synced() { tail -n +"$((mark + 1))" "$T/log/sync.log" | grep -q "$1"; }
wait_for 30 synced 'event=sync kind=[a-z]* status=ok' || bad "daemon: no first round"
write_secret "$secret_file" "$NEW"
kill -HUP "$sync_pid"
wait_for 30 synced 'event=secret_changed status=ok' && ok "SIGHUP with a rotated secret: token asked at once, it works" ||
    bad "no secret_changed ok line"
write_secret "$secret_file" "$WRONG"
kill -HUP "$sync_pid"
wait_for 30 synced 'event=secret_changed status=error' && ok "SIGHUP with a wrong secret: said at once that it fails" ||
    bad "no secret_changed error line"

# --- not half-applied: a credential file readable by others, a config with an error --------------------
write_secret "$secret_file" "$NEW"
chmod 0644 "$secret_file"
mark=$(wc -l <"$T/log/sync.log")
kill -HUP "$sync_pid"
wait_for 30 synced 'event=credential status=error keeping=previous .*by group or others' &&
    ok "SIGHUP with a credential file readable by others: refused, the previous secret kept" ||
    bad "no credential refusal line"
tail -n +"$((mark + 1))" "$T/log/sync.log" | grep -q 'event=secret_changed' &&
    bad "the refused credential file was used" || ok "and nothing was asked with it"
chmod 0600 "$secret_file"
cp "$T/etc/sync.toml" "$T/etc/sync.good"
{
    sed 's/^level = "trace"/level = "error"/' "$T/etc/sync.good"
    printf '[sync]\n'
} >"$T/etc/sync.toml"  # level changed, and [sync] twice: invalid
mark=$(wc -l <"$T/log/sync.log")
kill -HUP "$sync_pid"
wait_for 30 synced 'event=reload status=rejected keeping=previous' && ok "SIGHUP with a broken config: rejected, logged" ||
    bad "no rejected-reload line"
wait_for 30 synced 'debug: ' && ok "the log level of the broken config was not applied (debug lines go on)" ||
    bad "no debug line after the rejected reload"
cp "$T/etc/sync.good" "$T/etc/sync.toml"
kill -TERM "$sync_pid"
wait_dead "$sync_pid" 30 || bad "daemon did not stop"

# --- the milter: identity, credentials, socket, reload ---------------------------------------------------
sock=$T/sock/milter.sock
start_milter "$T/etc/milter.toml" "$T/log/milter.stderr" "$sock" || { bad "milter did not start"; finish; }
mpid=$MILTER_PID
[ "$(probe_one "unix:$sock" user7@gen.example)" = continue ] && ok "the milter answers (known)" || bad "milter: $(probe_one "unix:$sock" user7@gen.example)"
uid_n=$(id -u nobody) gid_d=$(getent group daemon | cut -d: -f3)
uids=$(awk '/^Uid:/ {print $2, $3, $4, $5}' "/proc/$mpid/status")
gids=$(awk '/^Gid:/ {print $2, $3, $4, $5}' "/proc/$mpid/status")
groups=$(awk '/^Groups:/ {$1 = ""; print}' "/proc/$mpid/status" | xargs)
capeff=$(awk '/^CapEff:/ {print $2}' "/proc/$mpid/status")
[ "$uids" = "$uid_n $uid_n $uid_n $uid_n" ] && ok "milter uids: $uids (milter.user nobody: real, effective, saved, fs)" ||
    bad "milter uids: $uids"
[ "$gids" = "$gid_d $gid_d $gid_d $gid_d" ] && ok "milter gids: $gids (milter.group daemon)" || bad "milter gids: $gids"
[ "$capeff" = 0000000000000000 ] && ok "no capabilities left (CapEff=0)" || bad "CapEff=$capeff"
[ "$(stat -c '%U %a' "$secret_file")" = "daemon 600" ] && ok "the credential file is daemon's, 0600" ||
    bad "credential file: $(stat -c '%U %a' "$secret_file")"
as_milter() { setpriv --reuid="$uid_n" --regid="$gid_d" --groups="${groups// /,}" "$@"; }
[ -n "$groups" ] || as_milter() { setpriv --reuid="$uid_n" --regid="$gid_d" --clear-groups "$@"; }
if as_milter cat "$secret_file" >/dev/null 2>"$T/out/cat.err"; then
    bad "a process with the milter's credentials can read the credential file"
else
    ok "a process with the milter's credentials cannot open it ($(cat "$T/out/cat.err" | sed 's/.*: //'))"
fi
as_milter cat "$T/store/data.mdb" >/dev/null 2>&1 && ok "but can read the store" || bad "cannot read the store"
for fd in /proc/"$mpid"/fd/*; do
    [ "$(readlink "$fd")" = "$secret_file" ] && bad "the milter has the credential file open"
done
sock_info=$(stat -c '%a %U %G' "$sock")
[ "$sock_info" = "660 nobody mail" ] && ok "socket mode 0660, owner nobody, group mail (as configured)" ||
    bad "socket: $sock_info"
suid=$(awk '/^Uid:/ {print $2}' /proc/"$mpid"/status)
[ "$suid" != "$(id -u daemon)" ] && ok "the milter's user is not the sync worker's" || bad "same user"

# Milter reload with a broken config that would also switch to report mode and level error.
cp "$T/etc/milter.toml" "$T/etc/milter.good"
{
    sed 's/^level = "trace"/level = "error"/; s/^user = "nobody"/user = "nobody"\nmode = "report"/' "$T/etc/milter.good"
    printf 'unknown_key = 1\n'
} >"$T/etc/milter.toml"
mmark=$(wc -l <"$T/log/milter.stderr")
kill -USR1 "$mpid"
mlog_has() { tail -n +"$((mmark + 1))" "$T/log/milter.stderr" | grep -q "$1"; }
wait_for 20 mlog_has 'event=reload status=rejected .*keeping=previous' && ok "milter SIGUSR1 with a broken config: rejected" ||
    bad "no milter rejected-reload line"
probe_one "unix:$sock" nosuch@gen.example | grep -q '^reply 550 5.1.1' &&
    ok "its mode = \"report\" was not applied (unknown still 550)" || bad "after the rejected reload: $(probe_one "unix:$sock" nosuch@gen.example)"
probe_one "unix:$sock" user8@gen.example >/dev/null
wait_for 10 mlog_has 'debug: action=continue' && ok "nor its log level (debug lines go on)" || bad "the log level changed"
cp "$T/etc/milter.good" "$T/etc/milter.toml"
stop_pid "$mpid" || bad "milter did not stop"

# --- bad files refused at start, with clear messages ----------------------------------------------------
refusals=0
refused() {  # refused LABEL PATTERN PROGRAM ARGS...: exit 78 and PATTERN in its output
    local label=$1 pattern=$2 rc=0 out
    shift 2
    out=$("$@" 2>&1) || rc=$?
    if [ "$rc" = 78 ] && grep -qE -- "$pattern" <<<"$out"; then
        ok "$label: exit 78: $(grep -E -- "$pattern" <<<"$out" | head -n 1 | cut -c1-140)"
        refusals=$((refusals + 1))
    else
        bad "$label: exit $rc, want 78 and /$pattern/: $out"
    fi
}
sed 's/^max_retries = 2$/max_retries = "two"/' "$T/etc/sync.good" >"$T/etc/bad-type.toml"
sed 's/^max_retries = 2$/max_retries = 2\nmax_retrys = 3/' "$T/etc/sync.good" >"$T/etc/bad-key.toml"
refused "sync: wrong type" 'bad-type.toml:[0-9]+.*max_retries' "$SYNC" --config "$T/etc/bad-type.toml" --check-config
refused "sync: unknown key" 'bad-key.toml:[0-9]+.*max_retrys' "$SYNC" --config "$T/etc/bad-key.toml" --once
refused "milter: unknown key" 'bad-key.toml:[0-9]+.*max_retrys' "$MILTER" --config "$T/etc/bad-key.toml"
chmod 0644 "$secret_file"
refused "credential file readable by others" 'by group or others' "$SYNC" --config "$T/etc/sync.good" --check-config
# At start the daemon (or --once) does not refuse to run over one tenant's credential file:
# one tenant failing never stops the others (DESIGN). That tenant's sync fails, with the
# message in the log and in its state.
mark=$(wc -l <"$T/log/sync.log")
rc=0
"$SYNC" --config "$T/etc/sync.good" --once >/dev/null 2>&1 || rc=$?
if [ "$rc" = 1 ] && tail -n +"$((mark + 1))" "$T/log/sync.log" | grep -q 'tenant=gen event=credential status=error .*by group or others' &&
    grep -q 'last_error=".*by group or others' <<<"$(inspect)"; then
    ok "--once: that tenant fails (exit 1), the log and its last_error say why"
    refusals=$((refusals + 1))
else
    bad "--once with a 0644 credential file: exit $rc; $(inspect)"
fi
chmod 0600 "$secret_file"
: >"$secret_file"
refused "empty credential file" 'credential file is empty' "$SYNC" --config "$T/etc/sync.good" --check-config
printf 'secret = "%s"\nexpires = "next tuesday"\n' "$NEW" >"$secret_file"
refused "credential file with a bad expires" 'expires' "$SYNC" --config "$T/etc/sync.good" --check-config
rm -f "$secret_file"
refused "missing credential file" "$secret_file" "$SYNC" --config "$T/etc/sync.good" --check-config
write_secret "$secret_file" "$GOOD"
"$SYNC" --config "$T/etc/sync.good" --check-config >/dev/null 2>&1 && ok "the good files pass --check-config" ||
    bad "good files refused"

# --- a certificate credential: a sync that signs in with a client assertion ---------------------------
cert_file=$T/etc/gen.pem
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/out/gen.key" -out "$T/out/gen.cer" \
    -days 30 -subj "/CN=m365gate test" 2>/dev/null
cat "$T/out/gen.key" "$T/out/gen.cer" >"$cert_file"
chown "$SYNC_USER" "$cert_file" && chmod 0600 "$cert_file"
sim_call POST "/_sim/tenants/$GEN_TENANT_ID/apps/$GEN_CLIENT_ID" "$(python3 -c '
import json, sys; print(json.dumps({"certificates": [{"pem": open(sys.argv[1]).read()}]}))' \
    "$T/out/gen.cer")" | grep -q '"ok":true' || bad "control API: app certificate"
sed "s|^client_secret_file = .*|client_certificate_file = \"$cert_file\"|" "$T/etc/sync.toml" \
    >"$T/etc/sync-cert.toml"
run_sync "$T/etc/sync-cert.toml" "$T/log/sync-cert.stderr" --once &&
    ok "full sync signed in with a certificate (client assertion)" ||
    bad "certificate sync failed: $(tail -n 3 "$T/log/sync.log")"

# --- where the secrets and tokens went ------------------------------------------------------------------
[ -s "$T/log/metrics/m365gate_sync.prom" ] && [ -s "$T/log/metrics/m365gate_milter.prom" ] &&
    ok "both daemons wrote their metrics (searched below with the logs)" || bad "no .prom files"
find "$T/log" "$T/store" -type f >"$T/out/files"
KEY_FILE=$T/out/gen.key python3 - "$T/log/sim.record" "$T/out/files" "$GEN_CLIENT_ID" "$SIM_URL" \
    "$GOOD" "$NEW" "$WRONG" >"$T/out/leaks" <<'LEAKS_PY' || true
import base64, json, os, sys, urllib.parse
record, files, client_id, sim = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
secrets = sys.argv[5:]
forms = {}
# The certificate's private key: each base64 line of its PEM body, wherever it would go.
for line in open(os.environ["KEY_FILE"]).read().split("\n"):
    if len(line) >= 40 and not line.startswith("-----"):
        forms[line] = "private key"
for s in secrets:
    for f in (s, urllib.parse.quote(s, safe=""), urllib.parse.quote_plus(s),
              base64.b64encode(("%s:%s" % (client_id, s)).encode()).decode(),
              base64.b64encode(("%s:%s" % (urllib.parse.quote(client_id), urllib.parse.quote(s, safe=""))).encode()).decode()):
        forms[f] = s
# The test's own control API calls (setting the app's secrets) are not m365gate's requests.
recs = [r for r in (json.loads(l) for l in open(record) if l.strip()) if not r["target"].startswith("/_sim/")]
tokens = set()
assertions = set()  # client assertions: only ever in the body of a token request
for r in recs:
    a = r.get("headers", {}).get("authorization", "")
    if a.lower().startswith("bearer "):
        tokens.add(a[7:])
    for pair in r.get("body", "").split("&"):
        if pair.startswith("client_assertion="):
            assertions.add(urllib.parse.unquote(pair[len("client_assertion="):]))
leaks, allowed = [], {"secret": 0, "token": 0}
for r in recs:
    is_token_req = r["target"].split("?")[0].endswith("/oauth2/v2.0/token") and r.get("listener") == "main"
    is_graph = r["target"].startswith("/v1.0/") and r.get("listener") == "main"
    for field, text in [("body", r.get("body", ""))] + [("header " + k, v) for k, v in r.get("headers", {}).items()] + [("target", r["target"])]:
        for f, s in forms.items():
            if f in text:
                if is_token_req and (field == "body" or field == "header authorization"):
                    allowed["secret"] += 1
                else:
                    leaks.append("record: secret %s... in %s of %s %s" % (s[:6], field, r["method"], r["target"][:60]))
        for t in tokens:
            if t in text:
                if is_graph and field == "header authorization":
                    allowed["token"] += 1
                else:
                    leaks.append("record: token in %s of %s %s" % (field, r["method"], r["target"][:60]))
        for t in assertions:
            if t in text and not (is_token_req and field == "body"):
                leaks.append("record: client assertion in %s of %s %s" % (field, r["method"], r["target"][:60]))
n_files = 0
for path in open(files).read().split("\n"):
    if not path or path == record:
        continue
    n_files += 1
    data = open(path, "rb").read()
    for f, s in forms.items():
        if f.encode() in data:
            leaks.append("%s: secret %s..." % (path, s[:6]))
    for t in tokens:
        if t.encode() in data:
            leaks.append("%s: token %s..." % (path, t[:10]))
    for t in assertions:
        if t.encode() in data or t.split(".")[-1].encode() in data:
            leaks.append("%s: client assertion %s..." % (path, t[:10]))
    if b"PRIVATE KEY" in data:
        leaks.append("%s: a PEM private key" % path)
    if b"eyJ" in data and not path.endswith(".mdb"):
        leaks.append("%s: something shaped like a JWT (eyJ...)" % path)
print("files=%d records=%d tokens=%d secret_in_token_requests=%d token_in_graph_auth=%d assertions=%d leaks=%d" % (
    n_files, len(recs), len(tokens), allowed["secret"], allowed["token"], len(assertions), len(leaks)))
for l in leaks[:20]:
    print("  " + l)
LEAKS_PY
leak_line=$(head -n 1 "$T/out/leaks")
note "$leak_line"
tail -n +2 "$T/out/leaks" | sed 's/^/    /'
leaks=$(field "$leak_line" leaks)
[ "${leaks:-x}" = 0 ] && ok "no secret or token outside the token requests and the Graph Authorization headers" ||
    bad "${leaks:-?} leaks"
[ "$(field "$leak_line" tokens)" -ge 2 ] && [ "$(field "$leak_line" secret_in_token_requests)" -ge 3 ] &&
    [ "$(field "$leak_line" assertions)" -ge 1 ] &&
    ok "the search saw what it looks for ($(field "$leak_line" tokens) tokens, $(field "$leak_line" secret_in_token_requests) token requests, $(field "$leak_line" assertions) client assertions)" ||
    bad "the search found too little to be meaningful: $leak_line"
trace_lines=$(cat "$T/log/sync.log" "$T/log/milter.stderr" | grep -c 'trace: ' || true)
note "searched $(field "$leak_line" files) files with $trace_lines trace lines"

summary secrets_privileges "files_searched=$(field "$leak_line" files) records=$(field "$leak_line" records) tokens=$(field "$leak_line" tokens) secrets=3 assertions=$(field "$leak_line" assertions) leaks=${leaks:-?} milter_uid=nobody cred_file_readable_by_milter=no socket=0660:mail bad_files_refused=$refusals/8 reloads_not_half_applied=yes"
finish
