#!/bin/bash
# Confirms that scripts/demo - the first user's path - runs from start to finish, twice in a
# row, with the binaries of this build (M365GATE_BINARY_DIR): the three known forms get 250, the
# unknown address 550 5.1.1, the unmanaged domain 250, the report counts the one rejection, and
# nothing it started is left running.
set -euo pipefail

src=${M365GATE_SOURCE_DIR:?}
export M365GATE_BINARY_DIR=${M365GATE_BINARY_DIR:?}
if [ "$(id -u)" != 0 ]; then
    echo "SKIP: scripts/demo needs root"
    exit 0
fi
export M365GATE_DEMO_DIR=${M365GATE_DEMO_DIR:-/tmp/m365gate-demo-test}
out=$(mktemp /tmp/m365gate-demo-test.XXXXXX.out)
cleanup() {
    rm -f "$out"
    rm -rf "$M365GATE_DEMO_DIR"
}
trap cleanup EXIT

passed=0
failed=0
check() {  # check LABEL PATTERN: grep -E in the demo's output
    if grep -qE -- "$2" "$out"; then
        passed=$((passed + 1)); echo "PASS run $run: $1"
    else
        failed=$((failed + 1)); echo "FAIL run $run: $1: no /$2/"
    fi
}

for run in 1 2; do
    rc=0
    "$src/scripts/demo" >"$out" 2>&1 || rc=$?
    if [ $rc = 0 ]; then
        passed=$((passed + 1)); echo "PASS run $run: scripts/demo exit 0"
    else
        failed=$((failed + 1)); echo "FAIL run $run: scripts/demo exit $rc"; cat "$out"
    fi
    check "known address accepted" "^  known address +bob\.brown@contoso\.example +250 "
    check "alias accepted" "^  alias +aa@fabrikam\.example +250 "
    check "subaddress accepted" "^  subaddress +bob\.brown\+newsletter@contoso\.example +250 "
    check "unknown address rejected" "^  unknown address +nobody@contoso\.example +550 5\.1\.1 "
    check "unmanaged domain accepted" "^  unmanaged domain +someone@unmanaged\.example +250 "
    check "rejection log line" '"action":"reject".*"to":"nobody@contoso\.example".*"reason":"unknown_recipient"'
    check "Postfix milter-reject line" "milter-reject: RCPT from .*550 5\.1\.1 .*to=<nobody@contoso\.example>"
    check "status shows the tenant healthy" "^    tenant contoso"
    check "status health OK" "^      health: +OK"
    check "check is OK" "^    M365GATE OK - contoso: OK"
    check "report counts one rejection" "^      events: +1 \(reject 1\)"
    check "report by reason" "^ +1  unknown_recipient"
    check "report names the recipient" "^ +1  nobody@contoso\.example"
    check "says it stopped Postfix" "^stopped Postfix"
    check "says it stopped the milter" "^stopped m365gate-milter"
    check "says it stopped the simulator" "^stopped the Graph simulator"
    if [ -f "$M365GATE_DEMO_DIR/postfix/etc/main.cf" ] &&
        postfix -c "$M365GATE_DEMO_DIR/postfix/etc" status >/dev/null 2>&1; then
        failed=$((failed + 1)); echo "FAIL run $run: Postfix still running"
    else
        passed=$((passed + 1)); echo "PASS run $run: Postfix stopped"
    fi
    if [ -S "$M365GATE_DEMO_DIR/run/milter/milter.sock" ] && pgrep -f "m365gate-milter --config $M365GATE_DEMO_DIR/" >/dev/null; then
        failed=$((failed + 1)); echo "FAIL run $run: milter still running"
    else
        passed=$((passed + 1)); echo "PASS run $run: milter stopped"
    fi
done
if [ "$failed" != 0 ]; then
    echo "---- last demo output ----"
    cat "$out"
fi
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
