#!/bin/bash
# tests/integration/milter_fail2ban.sh MILTER STORE_FILL LOADGEN
#
# contrib/fail2ban's filter against the harvest lines a real m365gate-milter writes: three
# clients through miltertest (an IPv4 one and an IPv6 one that cross [milter.harvest]
# threshold, one that stays below it) plus one crossing whose client name is hostile text
# ("client_addr=6.6.6.6"). Debian's fail2ban-regex, run from the .deb without installing it
# (installing starts a daemon that bans), must find exactly the crossing addresses, in the
# milter's own log format and in syslog's.
set -euo pipefail
MILTER=$1 STORE_FILL=$2 LOADGEN=$3
HERE=$(cd "$(dirname "$0")" && pwd)
SRC=$(cd "$HERE/../.." && pwd)
. "$HERE/milter_lib.sh"
. "$HERE/milter_fixture.sh"
. "$HERE/deb_cache.sh"
for tool in miltertest apt-get dpkg-deb flock /usr/bin/python3; do
    command -v "$tool" >/dev/null || { echo "SKIP: $tool not installed"; exit 77; }
done

milter_setup
F2B=$T/f2b
if ! deb_extract "${FAIL2BAN_DEB_CACHE:-/var/cache/m365gate-test/fail2ban-debs}" "$F2B" \
    "$T/log/apt-download.log" fail2ban; then
    echo "SKIP: cannot download the fail2ban .deb with apt-get download:"
    tail -n 5 "$T/log/apt-download.log"
    exit 77
fi
cp "$SRC/contrib/fail2ban/filter.d/m365gate-harvest.conf" "$F2B/etc/fail2ban/filter.d/"
regex() {  # regex LOGFILE: the addresses fail2ban-regex finds, sorted
    PYTHONPATH=$F2B/usr/lib/python3/dist-packages /usr/bin/python3 \
        "$F2B/usr/bin/fail2ban-regex" -o ip "$1" \
        "$F2B/etc/fail2ban/filter.d/m365gate-harvest.conf" | sort
}

fill_fixture
sock=$(socket_path f2b)
write_config "$T/m365gate.toml" "unix:$sock" 'harvest.threshold = 5'
start_milter "$T/m365gate.toml" "$T/log/milter.log" "$sock" || {
    bad "milter did not start"
    finish
}

cat >"$T/clients.lua" <<'LUA'
dofile(mta)
local function client(name, addr, unknown)
   local conn = mt.connect(sock, 40, 0.25)
   if conn == nil then error("mt.connect() failed") end
   assert(mt.conninfo(conn, name, addr) == nil)
   assert(mt.mailfrom(conn, "<s@outside.example>") == nil)
   for i = 1, unknown do
      assert(mt.rcptto(conn, "<f" .. i .. "@customer.example>") == nil)
      if mt.getreply(conn) ~= SMFIR_REPLYCODE then error("f" .. i .. " was not refused") end
   end
   mt.disconnect(conn)
end
client("harvester.example", "192.0.2.66", 12)
client("harvester6.example", "2001:db8:5:6::1", 5)
client("quiet.example", "198.51.100.3", 4)
client("x client_addr=6.6.6.6 ", "203.0.113.9", 5)
LUA
if ! miltertest -D sock="unix:$sock" -D mta="$HERE/mta.lua" -s "$T/clients.lua" >"$T/log/miltertest.out" 2>&1; then
    cat "$T/log/miltertest.out"
    bad "miltertest"
    finish
fi
want=$(printf '%s\n' 192.0.2.66 2001:db8:5:6::1 203.0.113.9 | sort)
wait_for 10 sh -c "[ \$(grep -c 'event=harvest' '$T/log/milter.log') -ge 3 ]" ||
    bad "fewer than three harvest lines in the milter's log"

got=$(regex "$T/log/milter.log")
if [ "$got" = "$want" ]; then
    ok "fail2ban-regex on the milter's own log format finds the crossing clients: $(echo $got)"
else
    bad "fail2ban-regex on the milter's log: got [$(echo $got)], want [$(echo $want)]"
fi

# The same lines as rsyslog writes them: "Dec  5 17:00:00 host m365gate-milter[812]: ...".
sed -E 's/^[0-9T:-]+(Z|[+-][0-9]{2}:?[0-9]{2}) /Dec  5 17:00:00 gw.example /' \
    "$T/log/milter.log" >"$T/log/mail.log"
got=$(regex "$T/log/mail.log")
if ! grep -q '^Dec  5 17:00:00 gw.example m365gate-milter\[[0-9]*\]: warning: event=harvest' \
    "$T/log/mail.log"; then
    bad "the syslog-format copy of the log has no harvest line in syslog's format"
elif [ "$got" = "$want" ]; then
    ok "fail2ban-regex on syslog's format finds the same clients"
else
    bad "fail2ban-regex on syslog's format: got [$(echo $got)], want [$(echo $want)]"
fi
if grep -q 'client_addr=6.6.6.6' "$T/log/milter.log" && ! grep -qx '6.6.6.6' <<<"$got"; then
    ok "a client name holding client_addr=6.6.6.6 does not get 6.6.6.6 banned"
else
    bad "the hostile client name is not in the log as expected, or 6.6.6.6 was matched"
fi
finish
