#!/bin/bash
# tests/integration/fs_symlinks.sh SYNC MILTER CTL GRAPHSIM FAULTS INSPECT TAMPER [FS_RACE]
#
# Confirms that neither daemon, started as root, writes through a symlink (or a second hard
# link) planted at its pid file or its log file by a less privileged user.
# Users as in production, only renamed: the sync worker "daemon", the milter "nobody".
#   sync  pid file in its own run directory, a symlink there to a root file: replaced by a new
#         file (the target unchanged);
#   sync  pid file in a directory both users' group can write (the old shared /run/m365gate),
#         a symlink there to a file of the sync user: not written at all (the directory is
#         refused);
#   sync  log.file in a directory of the milter's user, a symlink (and then a hard link) to a
#         file of the sync user (a credential, say): refused, exit 78;
#   milter pid file in its own run directory, a symlink to a root file: replaced;
#   milter log.file, a symlink to a root file: refused, exit 78.
# Each target's owner, mode and content are compared before and after.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/fault_lib.sh"
hardening_args "$@"
getent passwd daemon >/dev/null || { echo "SKIP: no user daemon"; exit 77; }
milter_setup

mkdir -p "$T/srun" "$T/mrun" "$T/shared" "$T/mlog" "$T/store" "$T/etc"
chown daemon "$T/srun" "$T/store"
chown nobody "$T/mrun" "$T/mlog"
chown root:daemon "$T/shared"
chmod 0775 "$T/shared"
chmod 0755 "$T/srun" "$T/mrun" "$T/mlog" "$T/etc"
describe() { printf '%s %s\n' "$(stat -c '%u:%g %a %h' "$1")" "$(sha256sum <"$1" | cut -c1-16)"; }
# target NAME OWNER: a 0600 file outside the planted directories.
target() {
    printf 'keep %s\n' "$1" >"$T/$1"
    chown "$2" "$T/$1"
    chmod 0600 "$T/$1"
}
target root-a root
target daemon-b daemon
target daemon-c daemon
target root-d root
target root-e root
declare -A before
for f in root-a daemon-b daemon-c root-d root-e; do before[$f]=$(describe "$T/$f"); done
unchanged() {  # unchanged NAME WHAT
    local now
    now=$(describe "$T/$1")
    [ "$now" = "${before[$1]}" ] && ok "$2: the target is unchanged" ||
        bad "$2: the target changed: '${before[$1]}' -> '$now'"
}

# config FILE SYNC_PID MILTER_PID LOG: both daemons' settings in one file.
config() {
    local log_lines='target = "stderr"'
    [ "$4" = stderr ] || log_lines=$(printf 'target = "file"\nfile = "%s"' "$4")
    cat >"$1" <<CONF
[store]
path = "$T/store"
max_size = "64M"

[log]
$log_lines
level = "info"

[milter]
socket = "unix:$T/sock/milter.sock"
socket_mode = "0660"
socket_group = "nogroup"
user = "nobody"
group = "nogroup"
pid_file = "$3"

[sync]
user = "daemon"
pid_file = "$2"
interval = "1h"

[alerts]
sendmail = "/bin/true"
CONF
    chmod 0644 "$1"
}

# start DAEMON CONFIG OUT: in the background, recorded for the EXIT trap; sets PID.
start() {
    "$1" --config "$2" >"$3" 2>&1 </dev/null &
    PID=$!
    MILTER_PIDS+=("$PID")
}
# ended PID SECONDS: the process exited within SECONDS; its status in RC.
ended() {
    local deadline=$((SECONDS + $2))
    while alive "$1"; do
        [ $SECONDS -ge $deadline ] && return 1
        sleep 0.05
    done
    RC=0
    wait "$1" 2>/dev/null || RC=$?
    forget_pid "$1"
}
holds_pid() { [ -f "$1" ] && [ ! -L "$1" ] && [ "$(cat "$1")" = "$2" ]; }

# --- sync: pid file, own run directory --------------------------------------------------------
ln -s "$T/root-a" "$T/srun/sync.pid"
config "$T/etc/a.toml" "$T/srun/sync.pid" "" stderr
start "$SYNC" "$T/etc/a.toml" "$T/log/a.out"
wait_for 10 holds_pid "$T/srun/sync.pid" "$PID" &&
    ok "sync: the symlink at its pid file was replaced by a pid file ($(stat -c '%U %a' "$T/srun/sync.pid"))" ||
    bad "sync: no pid file in place of the symlink: $(ls -l "$T/srun"; cat "$T/log/a.out")"
unchanged root-a "sync pid file symlink"
kill -TERM "$PID"
ended "$PID" 20 && [ ! -e "$T/srun/sync.pid" ] && ok "sync: stopped, its pid file removed" ||
    bad "sync: did not stop or left its pid file"

# --- sync: pid file in a directory the other daemon's group can write -------------------------
ln -s "$T/daemon-b" "$T/shared/sync.pid"
config "$T/etc/b.toml" "$T/shared/sync.pid" "" stderr
start "$SYNC" "$T/etc/b.toml" "$T/log/b.out"
wait_for 10 grep -q 'event=pid_file status=error' "$T/log/b.out" &&
    grep -q 'writable by group or others' "$T/log/b.out" &&
    ok "sync: a pid file directory writable by group is refused (logged)" ||
    bad "sync: no refusal of the group-writable directory: $(cat "$T/log/b.out")"
[ -L "$T/shared/sync.pid" ] && ok "sync: the symlink there was left alone" || bad "sync: the symlink was replaced"
unchanged daemon-b "sync pid file in a shared directory"
kill -TERM "$PID"
ended "$PID" 20 || bad "sync (b) did not stop"

# --- sync: log file in a directory of the milter's user ---------------------------------------
ln -s "$T/daemon-c" "$T/mlog/sync.log"
config "$T/etc/c.toml" "" "" "$T/mlog/sync.log"
start "$SYNC" "$T/etc/c.toml" "$T/log/c.out"
if ended "$PID" 20; then
    [ "$RC" = 78 ] && grep -q 'symbolic link' "$T/log/c.out" &&
        ok "sync: a symlink at log.file is refused (exit 78: $(grep -o 'cannot open log file.*' "$T/log/c.out" | head -n 1))" ||
        bad "sync: symlinked log file: exit $RC: $(cat "$T/log/c.out")"
else
    bad "sync: kept running with a symlink at log.file"
    kill -TERM "$PID"
    ended "$PID" 20 || true
fi
unchanged daemon-c "sync log file symlink"
rm "$T/mlog/sync.log"
ln "$T/daemon-c" "$T/mlog/sync.log"  # a hard link (root may; the milter's user could not)
start "$SYNC" "$T/etc/c.toml" "$T/log/c2.out"
if ended "$PID" 20; then
    [ "$RC" = 78 ] && grep -q 'hard links' "$T/log/c2.out" &&
        ok "sync: a second hard link at log.file is refused (exit 78)" ||
        bad "sync: hard-linked log file: exit $RC: $(cat "$T/log/c2.out")"
else
    bad "sync: kept running with a hard link at log.file"
    kill -TERM "$PID"
    ended "$PID" 20 || true
fi
rm "$T/mlog/sync.log"
unchanged daemon-c "sync log file hard link"

# --- milter: pid file, own run directory ------------------------------------------------------
ln -s "$T/root-d" "$T/mrun/milter.pid"
config "$T/etc/d.toml" "" "$T/mrun/milter.pid" stderr
start "$MILTER" "$T/etc/d.toml" "$T/log/d.out"
wait_for 10 holds_pid "$T/mrun/milter.pid" "$PID" &&
    ok "milter: the symlink at its pid file was replaced by a pid file ($(stat -c '%U %a' "$T/mrun/milter.pid"))" ||
    bad "milter: no pid file in place of the symlink: $(ls -l "$T/mrun"; cat "$T/log/d.out")"
unchanged root-d "milter pid file symlink"
kill -KILL "$PID"
ended "$PID" 10 || bad "milter (d) did not stop"

# --- milter: log file -------------------------------------------------------------------------
ln -s "$T/root-e" "$T/mlog/milter.log"
config "$T/etc/e.toml" "" "" "$T/mlog/milter.log"
start "$MILTER" "$T/etc/e.toml" "$T/log/e.out"
if ended "$PID" 20; then
    [ "$RC" = 78 ] && grep -q 'symbolic link' "$T/log/e.out" &&
        ok "milter: a symlink at log.file is refused (exit 78)" ||
        bad "milter: symlinked log file: exit $RC: $(cat "$T/log/e.out")"
else
    bad "milter: kept running with a symlink at log.file"
    kill -KILL "$PID"
    ended "$PID" 10 || true
fi
unchanged root-e "milter log file symlink"

# --- and a log file that is a plain file still works, opened as the daemon's user --------------
rm "$T/mlog/milter.log"
start "$MILTER" "$T/etc/e.toml" "$T/log/f.out"
wait_for 10 grep -q 'event=start' "$T/mlog/milter.log" &&
    ok "milter: a log file of its own is created and written ($(stat -c '%U %a' "$T/mlog/milter.log"))" ||
    bad "milter: no start line in its log file: $(cat "$T/log/f.out")"
kill -KILL "$PID"
ended "$PID" 10 || true
finish
