#!/bin/bash
# tests/integration/fs_socket_race.sh SYNC MILTER CTL GRAPHSIM FAULTS INSPECT TAMPER FS_RACE
#
# Confirms that the milter's user cannot turn the socket set-up of a milter started as root
# into a chmod/chown of another file (a race once won against a path-following chown). A helper running as milter.user
# ("nobody", who owns the socket directory, as m365gate-milter owns
# /var/spool/postfix/m365gate) renames a symlink to a root-only 0600 file over the socket each
# time one appears, while the milter is started ATTEMPTS times (default 30). The target's
# owner, group, mode and content must be the same afterwards. The milter either starts with
# its socket or refuses (the socket was replaced); which one is only counted.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/fault_lib.sh"
hardening_args "$@"
RACE=${8:?usage: $0 SYNC MILTER CTL GRAPHSIM FAULTS INSPECT TAMPER FS_RACE}
ATTEMPTS=${ATTEMPTS:-30}
command -v setpriv >/dev/null || { echo "SKIP: setpriv not installed"; exit 77; }
getent group postfix >/dev/null || { echo "SKIP: no group postfix (socket_group)"; exit 77; }
milter_setup

target=$T/root-only.secret
printf 'root only\n' >"$target"
chown root:root "$target"
chmod 0600 "$target"
describe() { printf '%s %s\n' "$(stat -c '%u:%g %a %h' "$1")" "$(sha256sum <"$1" | cut -c1-16)"; }
before=$(describe "$target")
write_config "$T/milter.toml" "unix:$T/sock/milter.sock"

setpriv --reuid=nobody --regid=nogroup --clear-groups \
    "$RACE" --dir "$T/sock" --name milter.sock --target "$target" --seconds 120 \
    >"$T/log/race.out" 2>&1 </dev/null &
race_pid=$!
MILTER_PIDS+=("$race_pid")

started=0 refused=0
for i in $(seq "$ATTEMPTS"); do
    rm -f "$T/sock/milter.sock"  # a symlink left by the helper makes libmilter refuse to start
    log=$T/log/milter-$i.out
    "$MILTER" --config "$T/milter.toml" >"$log" 2>&1 </dev/null &
    mpid=$!
    MILTER_PIDS+=("$mpid")
    deadline=$((SECONDS + 10))
    while kill -0 "$mpid" 2>/dev/null && ! grep -q 'event=start' "$log" && [ $SECONDS -lt $deadline ]; do
        sleep 0.02
    done
    if grep -q 'event=start' "$log"; then
        started=$((started + 1))
    else
        refused=$((refused + 1))
    fi
    kill -KILL "$mpid" 2>/dev/null || true
    wait "$mpid" 2>/dev/null || true
    forget_pid "$mpid"
done
kill -TERM "$race_pid"
wait "$race_pid" || true
forget_pid "$race_pid"
swaps=$(sed -n 's/^swaps=//p' "$T/log/race.out")
note "attempts=$ATTEMPTS started=$started refused=$refused swaps=${swaps:-?}"

[ "${swaps:-0}" -gt 0 ] && ok "the helper replaced the socket with a symlink $swaps time(s)" ||
    bad "the helper never replaced a socket: the race was not exercised ($(cat "$T/log/race.out"))"
after=$(describe "$target")
[ "$after" = "$before" ] && ok "the root-only target is unchanged (uid:gid mode links hash: $after)" ||
    bad "the root-only target changed: before '$before', after '$after'"
[ "$(stat -c '%U %a' "$T")" = "root 755" ] && ok "the test directory above the socket directory is unchanged" ||
    bad "the test directory changed: $(stat -c '%U %a' "$T")"
grep -l 'replaced after the bind' "$T"/log/milter-*.out >/dev/null 2>&1 &&
    ok "a milter that found its socket replaced refused to start" ||
    note "no milter found its socket replaced before it checked it"
finish
