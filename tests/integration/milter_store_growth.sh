#!/bin/bash
# tests/integration/milter_store_growth.sh MILTER STORE_FILL LOADGEN
#
# Confirms that a sync which grows the store file several times over never breaks the
# milter's mapping (it maps the environment at store.max_size, DESIGN "Store"): load runs on
# 4 milter connections while a publish grows the store from 1,000 to 200,000 addresses; no
# connection fails, the milter keeps running, and the new addresses are known at once.
set -euo pipefail
MILTER=$1 STORE_FILL=$2 LOADGEN=$3
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/milter_lib.sh"

milter_setup
users() { awk -v n="$1" 'BEGIN { for (i = 0; i < n; i++) printf "user%07d@customer.example\n", i }'; }
users 1000 | fill_store contoso now customer.example
small=$(stat -c %s "$T/store/data.mdb")

sock=$(socket_path grow)
write_config "$T/m365gate.toml" "unix:$sock"
start_milter "$T/m365gate.toml" "$T/log/milter.log" "$sock" || {
    bad "milter did not start"
    finish
}
pid=$MILTER_PID

# Load for 8 s on 4 connections, recipients drawn from the first 1,000 users (known before
# and after) and unknown ones; meanwhile the store grows.
"$LOADGEN" --socket "unix:$sock" --connections 4 --seconds 8 --users 1000 \
    --domain customer.example >"$T/log/loadgen.log" 2>&1 &
load=$!
wait_for 5 grep -q 'event=start' "$T/log/milter.log"
sleep 1  # let the load run against the small store first
users 200000 | fill_store contoso now customer.example
big=$(stat -c %s "$T/store/data.mdb")
wait "$load" && ok "load generator finished" || bad "load generator failed"
cat "$T/log/loadgen.log"

[ "$big" -ge $((small * 4)) ] && ok "store grew from $small to $big bytes" ||
    bad "store grew only from $small to $big bytes"
errors=$(awk 'NR == 2 { print $NF }' "$T/log/loadgen.log")
rcpts=$(awk 'NR == 2 { print $2 }' "$T/log/loadgen.log")
[ "$errors" = 0 ] && ok "no milter connection failed during the growth" || bad "$errors connection errors"
[ "${rcpts:-0}" -gt 0 ] && ok "$rcpts RCPT answered during the run" || bad "no RCPT answered"
kill -0 "$pid" 2>/dev/null && ok "milter still running" || bad "milter died"

out=$("$LOADGEN" --socket "unix:$sock" --probe --rcpt user0199999@customer.example \
    --rcpt user0000001@customer.example --rcpt nouser@customer.example 2>&1 || true)
grep -qxF '<user0199999@customer.example> continue' <<<"$out" && ok "a newly published user is known" ||
    bad "new user: $out"
grep -qxF '<user0000001@customer.example> continue' <<<"$out" && ok "an old user is still known" ||
    bad "old user: $out"
grep -q '^<nouser@customer.example> reply 550 5.1.1 ' <<<"$out" && ok "unknown still refused" ||
    bad "unknown: $out"
if grep -q 'event=store_read status=error\|event=internal_error' "$T/log/milter.log"; then
    bad "the milter logged read errors"
else
    ok "no store read error logged"
fi
finish
