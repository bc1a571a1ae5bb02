#!/bin/bash
# tests/integration/milter_miltertest.sh MILTER STORE_FILL LOADGEN SCRIPT.lua
#
# Runs one miltertest script against a running m365gate-milter: fills the fixture store,
# writes a config (lines of the script starting with "--@ " are added to its [milter] table,
# e.g. "--@ mode = \"report\""), starts the milter as root (it drops to nobody), runs
# `miltertest -D sock=... -s SCRIPT`, stops the milter by pid. A script with a line
# "--! no-store" runs against a milter whose store does not exist (never filled).
set -euo pipefail
MILTER=$1 STORE_FILL=$2 LOADGEN=$3 SCRIPT=$4
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/milter_lib.sh"
. "$HERE/milter_fixture.sh"
command -v miltertest >/dev/null || { echo "SKIP: miltertest not installed"; exit 77; }

milter_setup
if grep -qx -- '--! no-store' "$SCRIPT"; then
    rmdir "$T/store"
else
    fill_fixture
fi
sock=$(socket_path mt)
mapfile -t extra < <(sed -n 's/^--@ //p' "$SCRIPT")
write_config "$T/m365gate.toml" "unix:$sock" "${extra[@]}"
start_milter "$T/m365gate.toml" "$T/log/milter.log" "$sock" || {
    bad "milter did not start"
    finish
}

if out=$(miltertest -D sock="unix:$sock" -D logfile="$T/log/milter.log" -D mta="$HERE/mta.lua" -s "$SCRIPT" 2>&1); then
    printf '%s\n' "$out"
    ok "$(basename "$SCRIPT"): $(head -n 1 "$SCRIPT" | sed 's/^-- //')"
else
    printf '%s\n' "$out"
    bad "$(basename "$SCRIPT")"
fi
finish
