#!/bin/bash
# Confirms what a Debian admin gets from `cmake --install BUILD --prefix /usr` (staged in a
# DESTDIR under a temp dir): binaries in sbin/bin that run and have --help with examples, the
# systemd units, tmpfiles, sysusers and logrotate files, man pages that render without a
# groff warning and document every option and config key, the docs and examples under
# share/doc/m365gate, and nothing else. The units must agree with the programs' defaults
# (store, socket, pid files) and pass `systemd-analyze verify`; the sysusers and tmpfiles
# files are applied to a scratch root and the users, groups, owners and modes checked against
# DESIGN.md "Users and files". Parts whose tool is missing (systemd-analyze, systemd-sysusers,
# systemd-tmpfiles, logrotate, man) are reported as not checked; groff is required.
set -uo pipefail

src=${M365GATE_SOURCE_DIR:?}
bin=${M365GATE_BINARY_DIR:?}

work=$(mktemp -d /tmp/m365gate-install.XXXXXX)
cleanup() { rm -rf "${work:?}"; }
trap cleanup EXIT
dest=$work/dest

passed=0
failed=0
ok() { passed=$((passed + 1)); echo "PASS $*"; }
bad() { failed=$((failed + 1)); echo "FAIL $*"; }
check() {  # check LABEL -- command...: passes when the command succeeds
    local label=$1; shift 2
    if "$@" >"$work/out" 2>&1; then ok "$label"; else bad "$label"; sed 's/^/    /' "$work/out"; fi
}
not_checked() { echo "NOT CHECKED $*"; }

# --- install -------------------------------------------------------------------------------------
if DESTDIR=$dest cmake --install "$bin" --prefix /usr >"$work/install.log" 2>&1; then
    ok "cmake --install --prefix /usr into DESTDIR"
else
    bad "cmake --install failed:"; sed 's/^/    /' "$work/install.log"
    echo "passed $passed, failed $failed"; exit 1
fi

# --- the layout ----------------------------------------------------------------------------------
expect_exec() { [ -f "$dest/$1" ] && [ -x "$dest/$1" ] && ok "$1 (executable)" || bad "$1 missing or not executable"; }
expect_file() { [ -f "$dest/$1" ] && [ -s "$dest/$1" ] && ok "$1" || bad "$1 missing or empty"; }

expect_exec usr/sbin/m365gate-sync
expect_exec usr/sbin/m365gate-milter
expect_exec usr/bin/m365gatectl
expect_file usr/lib/systemd/system/m365gate-sync.service
expect_file usr/lib/systemd/system/m365gate-milter.service
expect_file usr/lib/tmpfiles.d/m365gate.conf
expect_file usr/lib/sysusers.d/m365gate.conf
expect_file etc/logrotate.d/m365gate
man8="m365gate-sync.8 m365gate-milter.8 m365gatectl.8"
for m in $man8; do expect_file "usr/share/man/man8/$m"; done
expect_file usr/share/man/man5/m365gate.toml.5
doc=usr/share/doc/m365gate
for d in README.md admin-guide.md alerts.md m365gatectl.md milter.md sync.md metrics.md \
         examples/grafana/m365gate.json examples/m365gate.toml examples/postfix/main.cf.chroot examples/postfix/main.cf.inet \
         examples/sendmail/m365gate.mc examples/fail2ban/filter.d/m365gate-harvest.conf \
         examples/fail2ban/jail.d/m365gate-harvest.conf; do
    expect_file "$doc/$d"
done
expect_exec "$doc/examples/rotate-secret"
cmp -s "$src/conf/m365gate.toml" "$dest/$doc/examples/m365gate.toml" &&
    ok "the example config is conf/m365gate.toml" || bad "examples/m365gate.toml differs from conf/"

# Nothing outside the places above: no /usr/local, no admin config overwritten, no session notes.
(cd "$dest" && find . -type f -o -type l | sed 's#^\./##' | sort) >"$work/files"
unexpected=$(grep -Ev '^(usr/sbin/m365gate-(sync|milter)|usr/bin/m365gatectl|usr/lib/systemd/system/m365gate-(sync|milter)\.service|usr/lib/(tmpfiles|sysusers)\.d/m365gate\.conf|etc/logrotate\.d/m365gate|usr/share/man/man[58]/m365gate[^/]*\.[58]|usr/share/doc/m365gate/.+)$' "$work/files")
[ -z "$unexpected" ] && ok "no file outside the Debian layout ($(wc -l <"$work/files") files)" ||
    bad "unexpected files installed: $unexpected"
grep -q '^etc/m365gate/' "$work/files" && bad "something installed under /etc/m365gate (admin's files)" ||
    ok "nothing installed under /etc/m365gate: the admin's config is never overwritten"
grep -q 'SESSION-' "$work/files" && bad "session notes installed as documentation" ||
    ok "no session notes among the docs"

# --- the binaries run, with --help that has examples ----------------------------------------------
for b in usr/sbin/m365gate-sync usr/sbin/m365gate-milter usr/bin/m365gatectl; do
    if "$dest/$b" --help >"$work/help" 2>&1 && grep -q '^Examples:' "$work/help"; then
        ok "$(basename "$b") --help has examples"
    else
        bad "$(basename "$b") --help: no examples"; sed 's/^/    /' "$work/help"
    fi
    v=$("$dest/$b" --version 2>&1 || true)
    case $(basename "$b") in m365gatectl) ;; *)
        echo "$v" | grep -q "0\.1\.0\|[0-9]\+\.[0-9]\+\.[0-9]\+" && ok "$(basename "$b") --version: $v" ||
            bad "$(basename "$b") --version: $v" ;;
    esac
done
subcommands=$("$dest/usr/bin/m365gatectl" --help | sed -n '/^Subcommands:/,/^$/p' | awk 'NR>1 && NF {print $1}')
[ -n "$subcommands" ] || bad "m365gatectl --help lists no subcommands"
for c in $subcommands; do
    [ "$c" = secret ] && c="secret set"
    # shellcheck disable=SC2086
    if "$dest/usr/bin/m365gatectl" $c --help >"$work/help" 2>&1 && grep -q '^Examples:' "$work/help"; then
        ok "m365gatectl $c --help has examples"
    else
        bad "m365gatectl $c --help: no examples"; sed 's/^/    /' "$work/help"
    fi
done

# --- man pages: render without warnings, document every option and key ---------------------------
command -v groff >/dev/null || { bad "groff is not installed (scripts/setup installs groff-base)"; }
mandir=$dest/usr/share/man
for page in $mandir/man8/*.8 $mandir/man5/*.5; do
    name=$(basename "$page")
    if command -v groff >/dev/null; then
        warnings=$(groff -man -Tutf8 -ww -z "$page" 2>&1)
        [ -z "$warnings" ] && ok "$name renders without groff warnings" || bad "$name: $warnings"
        text=$(groff -man -Tutf8 -P-c -P-b -P-u "$page" 2>/dev/null)
        for section in NAME SYNOPSIS DESCRIPTION "SEE ALSO"; do
            echo "$text" | grep -q "^$section" || bad "$name has no $section section"
        done
    fi
    if command -v man >/dev/null; then
        check "man -l $name" -- sh -c 'MANWIDTH=80 man -l "$1" | grep -q "^NAME"' sh "$page"
    fi
done
command -v man >/dev/null || not_checked "man -l (man-db not installed; groff checked the pages)"

# Every long option of each program's --help appears in its man page (roff writes \-\-name;
# compared with \- read as -).
options_of() { "$@" --help 2>/dev/null | grep -oE '^ +(-[a-z],)?--[a-z][a-z-]*' | sed 's/.*--//' | sort -u; }
for page in "$mandir"/man8/*.8; do sed 's/\\-/-/g' "$page" >"$work/$(basename "$page").plain"; done
for prog in m365gate-sync:usr/sbin m365gate-milter:usr/sbin; do
    name=${prog%%:*}
    missing=""
    for o in $(options_of "$dest/${prog#*:}/$name"); do
        grep -qF -- "--$o" "$work/$name.8.plain" || missing="$missing --$o"
    done
    [ -z "$missing" ] && ok "$name.8 documents every option of --help" || bad "$name.8 lacks$missing"
done
missing=""
for o in $(options_of "$dest/usr/bin/m365gatectl"); do
    grep -qF -- "--$o" "$work/m365gatectl.8.plain" || missing="$missing --$o"
done
for c in $subcommands; do
    [ "$c" = secret ] && c="secret set"
    grep -qE "^\.B(R)? \"?$c" "$work/m365gatectl.8.plain" || missing="$missing command:$c"
    # shellcheck disable=SC2086
    for o in $(options_of "$dest/usr/bin/m365gatectl" $c); do
        grep -qF -- "--$o" "$work/m365gatectl.8.plain" || missing="$missing $c:--$o"
    done
done
[ -z "$missing" ] && ok "m365gatectl.8 documents every command and option of --help" ||
    bad "m365gatectl.8 lacks$missing"

# Every section and key of the annotated example config appears in m365gate.toml(5).
missing=""
while read -r key; do
    grep -qE "^\.(B|BR|SH) .*\b$key\b" "$mandir/man5/m365gate.toml.5" || missing="$missing $key"
done < <(sed -nE 's/^#? ?([a-z_]+) = .*/\1/p; s/^\[+([a-z]+)\]+$/\1/p' "$src/conf/m365gate.toml" | sort -u)
[ -z "$missing" ] && ok "m365gate.toml.5 documents every key of conf/m365gate.toml" ||
    bad "m365gate.toml.5 lacks:$missing"

# --- the units agree with the programs' defaults ---------------------------------------------------
unitdir=$dest/usr/lib/systemd/system
sync_unit=$unitdir/m365gate-sync.service
milter_unit=$unitdir/m365gate-milter.service
key() { sed -n "s/^$2=//p" "$1"; }  # key UNIT NAME: the values of NAME= (one per line)

for u in "$sync_unit" "$milter_unit"; do
    exe=$(key "$u" ExecStart | awk '{print $1}')
    [ -x "$dest$exe" ] && ok "$(basename "$u"): ExecStart $exe is installed" || bad "$(basename "$u"): ExecStart $exe not installed"
done
[ "$(key "$sync_unit" ExecReload)" = '/bin/kill -HUP $MAINPID' ] && ok "sync reloads with SIGHUP" ||
    bad "sync ExecReload: $(key "$sync_unit" ExecReload)"
[ "$(key "$milter_unit" ExecReload)" = '/bin/kill -USR1 $MAINPID' ] && ok "milter reloads with SIGUSR1 (SIGHUP stops libmilter)" ||
    bad "milter ExecReload: $(key "$milter_unit" ExecReload)"
[ "$(key "$sync_unit" User)" = m365gate ] && [ "$(key "$milter_unit" User)" = m365gate-milter ] &&
    [ "$(key "$sync_unit" Group)" = m365gate ] && [ "$(key "$milter_unit" Group)" = m365gate ] &&
    ok "users m365gate and m365gate-milter, group m365gate" || bad "User=/Group= of the units"
for u in "$sync_unit" "$milter_unit"; do
    n=$(basename "$u")
    for want in ProtectSystem=strict NoNewPrivileges=yes PrivateTmp=yes CapabilityBoundingSet= \
                ProtectHome=yes PrivateDevices=yes; do
        grep -qx "$want" "$u" || bad "$n lacks $want"
    done
done
grep -qx 'RestrictAddressFamilies=AF_UNIX' "$milter_unit" && ok "the milter may create unix sockets only" ||
    bad "milter RestrictAddressFamilies: $(key "$milter_unit" RestrictAddressFamilies)"

# The defaults as the programs see them: check-config on a minimal config prints them.
cat >"$work/min.toml" <<'EOF'
[[tenant]]
name = "contoso"
tenant_id = "11111111-1111-1111-1111-111111111111"
client_id = "22222222-2222-2222-2222-222222222222"
client_secret_file = "/etc/m365gate/secrets/contoso.secret"
EOF
"$dest/usr/bin/m365gatectl" check-config "$work/min.toml" >"$work/defaults" 2>/dev/null
store=$(sed -n 's/^\[store\] *path \([^,]*\),.*/\1/p' "$work/defaults")
socket=$(sed -n 's/^\[milter\] *socket unix:\([^ ]*\) .*/\1/p' "$work/defaults")
milter_pid=$(sed -n 's/.*pid file \(\/[^ ]*\).*/\1/p' "$work/defaults")
sync_pid=$(sed -n 's/^# pid_file = "\(\/run\/[^"]*sync[^"]*\)"/\1/p' "$src/conf/m365gate.toml")
if [ -z "$store" ] || [ -z "$socket" ] || [ -z "$milter_pid" ] || [ -z "$sync_pid" ]; then
    bad "cannot read the defaults (store=$store socket=$socket milter_pid=$milter_pid sync_pid=$sync_pid):"
    sed 's/^/    /' "$work/defaults"
else
    [ "/var/lib/$(key "$sync_unit" StateDirectory)" = "$store" ] &&
        ok "sync StateDirectory is the default store $store" || bad "StateDirectory vs store $store"
    # Each daemon its own run directory (a directory both users could write would let the
    # milter's user plant links for the sync worker): docs/security.md.
    [ "/run/$(key "$sync_unit" RuntimeDirectory)" = "$(dirname "$sync_pid")" ] ||
        bad "sync RuntimeDirectory is not $(dirname "$sync_pid") (pid file $sync_pid)"
    [ "/run/$(key "$milter_unit" RuntimeDirectory)" = "$(dirname "$milter_pid")" ] ||
        bad "milter RuntimeDirectory is not $(dirname "$milter_pid") (pid file $milter_pid)"
    [ "$(dirname "$sync_pid")" != "$(dirname "$milter_pid")" ] ||
        bad "both pid files in one directory $(dirname "$sync_pid")"
    ok "each unit's RuntimeDirectory holds its own default pid file: $sync_pid, $milter_pid"
    key "$milter_unit" ReadWritePaths | grep -qx -- "-\?$(dirname "$socket")" &&
        ok "the milter may write its default socket directory $(dirname "$socket")" ||
        bad "milter ReadWritePaths lacks $(dirname "$socket")"
    key "$milter_unit" ReadWritePaths | grep -qx -- "-\?$store" &&
        ok "the milter may write lock.mdb in $store" || bad "milter ReadWritePaths lacks $store"
    grep -q "^d  *$(dirname "$socket")  *0750 m365gate-milter postfix" "$dest/usr/lib/tmpfiles.d/m365gate.conf" &&
        ok "tmpfiles creates the socket directory for the milter, group postfix" ||
        bad "tmpfiles: no line for $(dirname "$socket")"
fi

if command -v systemd-analyze >/dev/null; then
    # verify checks that ExecStart= exists on this host: point it at the staged binaries.
    mkdir -p "$work/units"
    for u in "$sync_unit" "$milter_unit"; do
        sed "s#^ExecStart=/usr/sbin/#ExecStart=$dest/usr/sbin/#" "$u" >"$work/units/$(basename "$u")"
    done
    out=$(systemd-analyze verify --man=no "$work"/units/*.service 2>&1)
    rc=$?
    [ $rc = 0 ] && [ -z "$out" ] && ok "systemd-analyze verify: no complaint" ||
        bad "systemd-analyze verify (exit $rc): $out"
else
    not_checked "systemd-analyze verify (systemd-analyze is not installed)"
fi

# --- sysusers and tmpfiles applied to a scratch root -----------------------------------------------
root=$work/root
mkdir -p "$root/etc"
printf 'root:x:0:0:root:/root:/bin/sh\n' >"$root/etc/passwd"
printf 'root:x:0:\n' >"$root/etc/group"
: >"$root/etc/shadow"; : >"$root/etc/gshadow"
if command -v systemd-sysusers >/dev/null; then
    check "systemd-sysusers m365gate.conf" -- systemd-sysusers --root="$root" "$dest/usr/lib/sysusers.d/m365gate.conf"
    uid() { awk -F: -v n="$1" '$1 == n {print $3}' "$root/etc/passwd"; }
    pgid() { awk -F: -v n="$1" '$1 == n {print $4}' "$root/etc/passwd"; }
    gid() { awk -F: -v n="$1" '$1 == n {print $3}' "$root/etc/group"; }
    members() { awk -F: -v n="$1" '$1 == n {print $4}' "$root/etc/group"; }
    [ -n "$(uid m365gate)" ] && [ "$(pgid m365gate)" = "$(gid m365gate)" ] &&
        ok "user m365gate, primary group m365gate" || bad "user m365gate: $(grep m365gate "$root/etc/passwd")"
    [ -n "$(uid m365gate-milter)" ] && [ "$(pgid m365gate-milter)" = "$(gid m365gate)" ] &&
        ok "user m365gate-milter, primary group m365gate (reads the store)" || bad "user m365gate-milter"
    [ "$(uid m365gate)" != "$(uid m365gate-milter)" ] && ok "the milter is not the sync worker's user" ||
        bad "same uid for both daemons"
    echo ",$(members postfix)," | grep -q ',m365gate-milter,' && ok "m365gate-milter in group postfix (socket group)" ||
        bad "group postfix members: $(members postfix)"
    echo ",$(members postdrop)," | grep -q ',m365gate,' && ok "m365gate in group postdrop (alert mail under NoNewPrivileges)" ||
        bad "group postdrop members: $(members postdrop)"
    grep -q 'nologin' "$root/etc/passwd" && ! grep -E '^m365gate[^:]*:' "$root/etc/passwd" | grep -qv nologin &&
        ok "both users have no login shell" || bad "login shells: $(grep m365gate "$root/etc/passwd")"
    if [ "$(id -u)" = 0 ] && command -v systemd-tmpfiles >/dev/null; then
        check "systemd-tmpfiles --create m365gate.conf" -- \
            systemd-tmpfiles --root="$root" --create "$dest/usr/lib/tmpfiles.d/m365gate.conf"
        expect_dir() {  # expect_dir PATH MODE USER GROUP
            local got want
            got=$(stat -c '%a %u %g' "$root$1" 2>/dev/null)
            want="$2 $(uid "$3") $(gid "$4")"
            [ "$got" = "$want" ] && ok "$1 $2 $3:$4" || bad "$1: mode/uid/gid '$got', want '$want' ($2 $3:$4)"
        }
        expect_dir /etc/m365gate 750 root m365gate
        expect_dir /etc/m365gate/secrets 700 m365gate m365gate
        expect_dir /var/lib/m365gate 750 m365gate m365gate
        expect_dir /run/m365gate 755 m365gate m365gate
        expect_dir /run/m365gate-milter 755 m365gate-milter m365gate
        expect_dir /var/log/m365gate 750 m365gate-milter m365gate
        expect_dir /var/spool/postfix/m365gate 750 m365gate-milter postfix
    else
        not_checked "systemd-tmpfiles (needs root and systemd-tmpfiles)"
    fi
else
    not_checked "systemd-sysusers / systemd-tmpfiles (not installed)"
fi

# --- logrotate ---------------------------------------------------------------------------------------
if command -v logrotate >/dev/null; then
    # -d parses and plans without touching anything. The users of `su` and `create` need not
    # exist here (sysusers is checked above): replace them by root.
    sed -e 's#/var/log/m365gate#'"$work"'/log#g' -e 's/create \([0-7]*\) .*/create \1 root root/' \
        -e 's/^\( *su \).*/\1root root/' \
        "$dest/etc/logrotate.d/m365gate" >"$work/logrotate.conf"
    mkdir -p "$work/log"; echo '{}' >"$work/log/rejections.jsonl"; echo x >"$work/log/m365gate.log"
    out=$(logrotate -d -s "$work/logrotate.state" "$work/logrotate.conf" 2>&1)
    if echo "$out" | grep -qi 'error'; then bad "logrotate -d: $(echo "$out" | grep -i error)"; else
        ok "logrotate -d parses /etc/logrotate.d/m365gate"; fi
    echo "$out" | grep -q "rejections.jsonl" && ok "logrotate would rotate rejections.jsonl" ||
        bad "logrotate does not consider rejections.jsonl: $out"
else
    not_checked "logrotate -d (logrotate is not installed)"
fi

echo "passed $passed, failed $failed"
[ "$failed" = 0 ]
