# shellcheck shell=bash
# scripts/lib/postfix_sandbox.sh - a throwaway Postfix instance in a directory of its own, as
# ../shared/reference/postfix-sandbox.md describes: `postfix -c DIR/etc`, no chroot, the queue
# in DIR/spool, the log in DIR/maillog, nothing of the system's Postfix touched. Sourced (bash)
# by scripts/demo, the Postfix integration tests and the Postfix benchmark. Needs root.
#
#   pf_free_port                 prints a free TCP port on 127.0.0.1
#   pf_init DIR                  DIR/etc, DIR/spool (root, 0755), DIR/data (postfix) and a
#                                main.cf that delivers nowhere, relays nothing, logs to
#                                DIR/maillog
#   pf_set DIR NAME=VALUE...     sets main.cf parameters (postconf -e: replaces, no duplicates)
#   pf_gateway DIR DOMAIN...     a relay gateway on 127.0.0.1 for DOMAINs, delivering to
#                                discard:, with every limit that would tarpit a test raised
#   pf_milter DIR SOCKET         smtpd_milters = SOCKET, tempfail when the milter fails
#   pf_master DIR [PORT]         master.cf: the services, and smtpd on 127.0.0.1:PORT if given
#   pf_start DIR [PORT]          postfix check, start, and wait until PORT answers; on failure
#                                prints why on stderr and returns 1
#   pf_stop DIR                  stops the instance, waits for its master (SIGKILL after 20 s)

pf_free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

pf_init() {
    local dir=$1
    install -d -m 0755 "$dir" "$dir/etc"
    install -d -o root -g root -m 0755 "$dir/spool"
    install -d -o postfix -g postfix -m 0700 "$dir/data"
    cat >"$dir/etc/main.cf" <<EOF
compatibility_level = 3.6
queue_directory = $dir/spool
data_directory = $dir/data
mail_owner = postfix
setgid_group = postdrop
maillog_file = $dir/maillog
maillog_file_prefixes = /var, /dev/stdout, $dir
myhostname = gw.test.example
inet_interfaces = loopback-only
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
mydestination =
local_recipient_maps =
alias_maps =
alias_database =
relay_domains =
biff = no
smtputf8_enable = no
EOF
}

pf_set() {
    local dir=$1
    shift
    postconf -c "$dir/etc" -e "$@"
}

pf_gateway() {
    local dir=$1
    shift
    local domains=$*
    pf_set "$dir" "inet_interfaces = 127.0.0.1" "relay_domains = ${domains// /, }" \
        "relay_recipient_maps =" "relay_transport = discard:" "default_transport = discard:" \
        "smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination" \
        "in_flow_delay = 0" "smtpd_soft_error_limit = 1000000" \
        "smtpd_hard_error_limit = 1000000" "smtpd_junk_command_limit = 1000000"
}

pf_milter() {
    pf_set "$1" "smtpd_milters = $2" "milter_protocol = 6" "milter_default_action = tempfail" \
        "milter_connect_timeout = 10s" "milter_command_timeout = 10s" \
        "milter_rcpt_macros = i {rcpt_addr} {rcpt_host} {rcpt_mailer}"
}

pf_master() {
    local dir=$1 port=${2:-}
    {
        [ -z "$port" ] || echo "127.0.0.1:$port inet n - n - - smtpd"
        cat <<'EOF'
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
EOF
    } >"$dir/etc/master.cf"
}

pf_start() {
    local dir=$1 port=${2:-} out
    if ! out=$(postfix -c "$dir/etc" check 2>&1); then
        printf 'postfix check failed:\n%s\n' "$out" >&2
        return 1
    fi
    if ! out=$(postfix -c "$dir/etc" start 2>&1); then
        printf 'postfix start failed:\n%s\n' "$out" >&2
        tail -n 5 "$dir/maillog" >&2 2>/dev/null || true
        return 1
    fi
    [ -n "$port" ] || return 0
    local _
    for _ in $(seq 200); do
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
        sleep 0.1
    done
    echo "postfix is not listening on 127.0.0.1:$port after 20 s" >&2
    tail -n 5 "$dir/maillog" >&2 2>/dev/null || true
    return 1
}

pf_stop() {
    local dir=$1 master _
    [ -f "$dir/spool/pid/master.pid" ] || return 0
    master=$(tr -dc '0-9' <"$dir/spool/pid/master.pid")
    postfix -c "$dir/etc" stop >/dev/null 2>&1 || true
    [ -n "$master" ] || return 0
    for _ in $(seq 200); do
        kill -0 "$master" 2>/dev/null || return 0
        sleep 0.1
    done
    kill -KILL "$master" 2>/dev/null || true
}
