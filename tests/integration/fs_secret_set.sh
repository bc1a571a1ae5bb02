#!/bin/bash
# tests/integration/fs_secret_set.sh SYNC MILTER CTL GRAPHSIM FAULTS INSPECT TAMPER [FS_RACE]
#
# Confirms that `m365gatectl secret set`, run as root, writes a credential only where nobody but
# root and sync.user ("daemon" here) can interfere:
#   - into a world-writable directory (sticky, as /tmp): refused, exit 77, nothing written;
#   - over a file that belongs to another user ("nobody", who could have pre-created it to
#     read the secret): refused, exit 77, the file untouched;
#   - otherwise a NEW file (another inode) owned by sync.user, mode 0600, whoever owned the
#     file it replaces.
# The secret must not appear in any file but the one written in the last case.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/fault_lib.sh"
hardening_args "$@"
getent passwd daemon >/dev/null || { echo "SKIP: no user daemon"; exit 77; }
milter_setup

SECRET='fs~test~secret~value~9Zq'
mkdir -p "$T/etc" "$T/ww" "$T/sec" "$T/ok"
chmod 1777 "$T/ww"
chmod 0700 "$T/sec" "$T/ok"
# config FILE SECRET_FILE
config() {
    cat >"$1" <<CONF
[store]
path = "$T/store"

[sync]
user = "daemon"
pid_file = ""

[[tenant]]
name = "contoso"
tenant_id = "8f0c2a43-5d1e-4b7a-9c36-2e4f1d0b7a95"
client_id = "3b9d6e1f-0a42-4c8e-b5d7-61f2a9c4e803"
client_secret_file = "$2"
domains = ["customer.example"]
CONF
    chmod 0644 "$1"
}
# secret_set CONFIG OUT: prints the exit status.
secret_set() {
    local rc=0
    printf '%s\n' "$SECRET" | "$CTL" --config "$1" secret set --tenant contoso --no-reload --no-verify >"$2" 2>&1 || rc=$?
    echo "$rc"
}

# --- a world-writable directory ---------------------------------------------------------------
config "$T/etc/ww.toml" "$T/ww/contoso.secret"
rc=$(secret_set "$T/etc/ww.toml" "$T/log/ww.out")
[ "$rc" = 77 ] && grep -q 'writable by group or others' "$T/log/ww.out" &&
    ok "a world-writable directory is refused, exit 77 ($(grep -o 'refusing.*' "$T/log/ww.out" | cut -c1-90)...)" ||
    bad "world-writable directory: exit $rc: $(cat "$T/log/ww.out")"
[ -z "$(ls -A "$T/ww")" ] && ok "nothing was written there" || bad "files were written: $(ls -la "$T/ww")"

# --- a file of another user -------------------------------------------------------------------
printf 'planted\n' >"$T/sec/contoso.secret"
chown nobody "$T/sec/contoso.secret"
chmod 0644 "$T/sec/contoso.secret"
config "$T/etc/sec.toml" "$T/sec/contoso.secret"
rc=$(secret_set "$T/etc/sec.toml" "$T/log/sec.out")
[ "$rc" = 77 ] && grep -q 'belongs to uid' "$T/log/sec.out" &&
    ok "a credential file of another user is refused, exit 77" ||
    bad "file of another user: exit $rc: $(cat "$T/log/sec.out")"
[ "$(stat -c '%U %a' "$T/sec/contoso.secret") $(cat "$T/sec/contoso.secret")" = "nobody 644 planted" ] &&
    [ "$(ls -A "$T/sec")" = contoso.secret ] &&
    ok "that file is untouched and no temporary is left" || bad "the directory now holds: $(ls -la "$T/sec")"

# --- the normal case: a new file, sync.user's, whoever owned the old one ----------------------
printf 'old-secret\n' >"$T/ok/contoso.secret"
chmod 0600 "$T/ok/contoso.secret"  # root's, as an older secret set as root could leave it
inode=$(stat -c %i "$T/ok/contoso.secret")
config "$T/etc/ok.toml" "$T/ok/contoso.secret"
rc=$(secret_set "$T/etc/ok.toml" "$T/log/ok.out")
[ "$rc" = 0 ] && ok "a safe directory: written, exit 0" || bad "safe directory: exit $rc: $(cat "$T/log/ok.out")"
[ "$(stat -c '%U %a' "$T/ok/contoso.secret")" = "daemon 600" ] &&
    ok "the credential file belongs to sync.user, mode 0600" || bad "credential file: $(stat -c '%U %a' "$T/ok/contoso.secret")"
[ "$(stat -c %i "$T/ok/contoso.secret")" != "$inode" ] && ok "it is a new file (another inode)" ||
    bad "the old file was written in place"
grep -qF "$SECRET" "$T/ok/contoso.secret" && ok "it holds the new secret" || bad "the new secret is not in it"
leaks=$(grep -rlF "$SECRET" "$T" 2>/dev/null | grep -v "^$T/ok/contoso.secret$" || true)
[ -z "$leaks" ] && ok "the secret is in no other file" || bad "the secret is also in: $leaks"
finish
