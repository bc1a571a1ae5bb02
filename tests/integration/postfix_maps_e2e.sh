#!/bin/bash
# tests/integration/postfix_maps_e2e.sh MILTER STORE_FILL LOADGEN SYNC
#
# The same RCPT cases through one real Postfix on loopback (scripts/lib/postfix_sandbox.sh),
# once with m365gate-milter (smtpd_milters, relay_domains listing the domains) and once with
# the tables m365gate-sync exports ([postfix] export_dir: relay_domains and relay_recipient_maps
# = lmdb:..., no milter), from the same store and config. Every case must get the same answer
# class (2xx / 4xx / 5xx) both ways, except the ones listed below with the reason: those are the
# documented differences (docs/sync.md, "Postfix tables"). Everything started is stopped by pid.
set -euo pipefail
MILTER=$1 STORE_FILL=$2 LOADGEN=$3 SYNC=$4
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/milter_lib.sh"
. "$HERE/milter_fixture.sh"
. "$HERE/../../scripts/lib/postfix_sandbox.sh"
for tool in postfix postconf postmap python3; do
    command -v "$tool" >/dev/null || { echo "SKIP: $tool not installed"; exit 77; }
done
ls /usr/lib/postfix/postfix-lmdb.so* >/dev/null 2>&1 || { echo "SKIP: postfix-lmdb not installed"; exit 77; }
getent group postfix >/dev/null || { echo "SKIP: no postfix group"; exit 77; }

milter_setup
PF=$T/pf
EXP=$T/postfix-tables
extra_cleanup() { pf_stop "$PF"; }

fill_fixture
# As in production (docs/admin-guide.md): the sync user's directory, group postfix, setgid so
# the tables are the postfix group's to read.
install -d -o nobody -g postfix -m 2750 "$EXP"
sock=$(socket_path maps)
cfg=$T/m365gate.toml
write_config "$cfg" "unix:$sock" 'subaddress_delimiters = "+-"'
sed -i 's/^stale_after = "1d"$/&\nuser = "nobody"\npid_file = ""/' "$cfg"
printf '\n[postfix]\nexport_dir = "%s"\n' "$EXP" >>"$cfg"

# --- the tables, written by the sync user from the store as it is ----------------------------
if "$SYNC" --config "$cfg" --postfix-tables >"$T/log/export.log" 2>&1; then
    ok "m365gate-sync --postfix-tables wrote the tables"
else
    bad "m365gate-sync --postfix-tables failed: $(tail -3 "$T/log/export.log")"
    finish
fi
for f in domains recipients; do
    perms=$(stat -c '%U:%G %a' "$EXP/$f.lmdb" 2>/dev/null || echo missing)
    [ "$perms" = "nobody:postfix 640" ] && ok "$f.lmdb is nobody:postfix 0640" ||
        bad "$f.lmdb: $perms, want nobody:postfix 640"
done

start_milter "$cfg" "$T/log/milter.log" "$sock" || {
    bad "milter did not start"
    finish
}

port=$(pf_free_port)
pf_init "$PF"
pf_gateway "$PF" customer.example tailspin.example xn--bcher-kva.example bücher.example
pf_set "$PF" "smtputf8_enable = yes" "recipient_delimiter = +-"
pf_milter "$PF" "unix:$sock"
pf_master "$PF" "$port"
# Postfix's own reader, as the postfix user (not root): the group read is enough.
q=$(su -s /bin/sh postfix -c "postmap -c '$PF/etc' -q alice@customer.example lmdb:$EXP/recipients" 2>&1 || true)
[ "$q" = OK ] && ok "postmap -q as user postfix finds alice@" || bad "postmap -q as postfix: [$q]"
pf_start "$PF" "$port" 2>"$T/log/postfix-start.log" || {
    bad "postfix did not start: $(tail -3 "$T/log/postfix-start.log")"
    finish
}

# CASES: address | milter | tables | why they differ (empty: they must agree). Answers are
# reply classes: 2 (accepted), 4 (try again), 5 (rejected).
CASES=(
    'alice@customer.example|2|2|'
    'Alice.Smith@Customer.Example|2|2|'
    'ALICE@CUSTOMER.EXAMPLE|2|2|'
    'bob+orders@customer.example|2|2|'
    'bob-orders@customer.example|2|2|'
    'nobody@customer.example|5|5|'
    'NOBODY@customer.example|5|5|'
    'nobody+x@customer.example|5|5|'
    'postmaster@customer.example|2|2|'
    'Abuse@customer.example|2|2|'
    'postmaster+x@customer.example|2|2|'
    'mary-jane@customer.example|2|2|'
    'mary-jane+news@customer.example|2|5|Postfix splits at the first delimiter of the set (mary + -jane+news), the milter tries each delimiter position'
    'dyn-group@customer.example|2|2|'
    'Dyn-Group@customer.example|2|2|'
    '100%off@customer.example|2|2|'
    '50%off@customer.example|5|5|'
    '"alice"@customer.example|2|2|'
    '+++@customer.example|5|5|'
    'someone@elsewhere.example|2|2|'
    'info@xn--bcher-kva.example|2|2|'
    'nobody@xn--bcher-kva.example|5|5|'
    'postmaster@xn--bcher-kva.example|2|2|'
    'dave@tailspin.example|4|2|never synced: the milter tempfails (on_cache_unavailable), a table cannot say 4xx, the tables accept the domain (@domain)'
    'postmaster@tailspin.example|2|2|'
)
UTF8_CASES=(
    'info@bücher.example|2|2|'
    'info@BÜCHER.example|2|2|'
    'nobody@bücher.example|5|5|'
)

# answers MODE: one session per group, "ADDRESS CLASS" lines into $T/answers.MODE.
answers() {
    local mode=$1 c addrs=() utf8=()
    for c in "${CASES[@]}"; do addrs+=("${c%%|*}"); done
    for c in "${UTF8_CASES[@]}"; do utf8+=("${c%%|*}"); done
    {
        python3 "$HERE/smtp_rcpt.py" "127.0.0.1:$port" s@outside.example "${addrs[@]}" || true
        python3 "$HERE/smtp_rcpt.py" --smtputf8 "127.0.0.1:$port" s@outside.example "${utf8[@]}" || true
    } 2>&1 | tee "$T/log/session.$mode.log" |
        sed -n 's/^RCPT <\(.*\)> -> \([0-9]\)[0-9][0-9] .*/\1 \2/p' >"$T/answers.$mode"
}
answer_of() { awk -v a="$2" '$1 == a { print $2 }' "$T/answers.$1"; }

answers milter

# --- the same Postfix, now with the exported tables and no milter -----------------------------
pf_set "$PF" "smtpd_milters =" "relay_domains = lmdb:$EXP/domains" \
    "relay_recipient_maps = lmdb:$EXP/recipients"
postfix -c "$PF/etc" reload >/dev/null 2>&1
wait_for 10 grep -q 'reload -- version' "$PF/maillog" || bad "no Postfix reload line"
# The smtpd processes that still have the milter settings exit after the reload; a session
# then gets a new one with the tables.
master=$(tr -dc '0-9' <"$PF/spool/pid/master.pid")
wait_for 20 sh -c "! pgrep -P $master -x smtpd" || bad "old smtpd processes still running"
answers tables

differ=0
for c in "${CASES[@]}" "${UTF8_CASES[@]}"; do
    IFS='|' read -r addr want_milter want_tables why <<<"$c"
    got_milter=$(answer_of milter "$addr")
    got_tables=$(answer_of tables "$addr")
    if [ "$got_milter" != "$want_milter" ] || [ "$got_tables" != "$want_tables" ]; then
        bad "$addr: milter ${got_milter:-none} (want $want_milter), tables ${got_tables:-none} (want $want_tables)"
    elif [ -n "$why" ]; then
        differ=$((differ + 1))
        ok "$addr: milter $got_milter, tables $got_tables (documented difference: $why)"
    else
        ok "$addr: ${got_milter}xx both ways"
    fi
done
grep -q 'User unknown in relay recipient table' "$T/log/session.tables.log" &&
    ok "the tables' rejection is Postfix's 550 5.1.1 User unknown in relay recipient table" ||
    bad "no 'User unknown in relay recipient table' reply"
if grep -qE 'warning|fatal|panic' "$PF/maillog"; then
    note "Postfix warnings:"
    grep -E 'warning|fatal|panic' "$PF/maillog" | tail -n 5
fi
grep -qE 'fatal|panic|lmdb.*(error|corrupt)' "$PF/maillog" && bad "Postfix reported a table error"

# --- a new export while Postfix has the tables open: the next session sees it -----------------
printf '%s\n' 'alice@customer.example alice.smith@customer.example' 'bob@customer.example' \
    '100%off@customer.example' 'mary-jane@customer.example' 'newbie@customer.example' \
    'info@xn--bcher-kva.example' | fill_store contoso now customer.example xn--bcher-kva.example
ino=$(stat -c %i "$EXP/recipients.lmdb")
"$SYNC" --config "$cfg" --postfix-tables >>"$T/log/export.log" 2>&1 || bad "second export failed"
[ "$(stat -c %i "$EXP/recipients.lmdb")" != "$ino" ] && ok "the changed table is a new file" ||
    bad "recipients.lmdb was written in place"
ok_newbie() { python3 "$HERE/smtp_rcpt.py" "127.0.0.1:$port" s@outside.example newbie@customer.example | grep -q ' -> 250 '; }
wait_for 15 ok_newbie && ok "Postfix answers from the new table (newbie@ -> 250)" ||
    bad "Postfix did not pick up the new table"
note "SUMMARY cases=$((${#CASES[@]} + ${#UTF8_CASES[@]})) documented_differences=$differ"
finish
