#!/bin/bash
# tests/integration/milter_metrics.sh MILTER STORE_FILL LOADGEN M365GATECTL
#
# Confirms that m365gate-milter writes m365gate_milter.prom ([metrics], interval 1s) with
# exactly the counts of a known sequence of RCPTs sent by miltertest (metrics-rcpts.lua): known,
# subaddress, postmaster, unmanaged, a report-mode tenant's would-tempfail, three unknowns that
# cross a harvest threshold of 3, and the 450 that follows. The file is a regular 0644 file of
# the milter's user; promtool (from PATH or Debian's .deb) checks it; `m365gatectl metrics` prints it and
# says that the sync's file is missing. Waits poll the file (no fixed sleeps).
set -euo pipefail
MILTER=$1 STORE_FILL=$2 LOADGEN=$3 CTL=$4
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/milter_lib.sh"
. "$HERE/milter_fixture.sh"
command -v miltertest >/dev/null || { echo "SKIP: miltertest not installed"; exit 77; }

. "$HERE/deb_cache.sh"

# promtool from PATH, else from Debian's prometheus .deb, extracted once into the test cache
# and never installed: installing the package would start a Prometheus server on :9090.
promtool_path() {
    local cache=/var/cache/m365gate-test/prometheus-debs
    if command -v promtool; then
        return 0
    fi
    if [ ! -x "$cache/promtool" ]; then
        deb_extract "$cache" "$T/prometheus" "$T/log/apt.log" prometheus || return 1
        install -m 0755 "$T/prometheus/usr/bin/promtool" "$cache/promtool.$$" &&
            mv "$cache/promtool.$$" "$cache/promtool" || return 1
        rm -rf "${T:?}/prometheus"
    fi
    printf '%s\n' "$cache/promtool"
}

milter_setup
fill_fixture
mkdir "$T/metrics"
chown nobody "$T/metrics"
prom="$T/metrics/m365gate_milter.prom"
sock=$(socket_path mt)
TAILSPIN_LINES='mode = "report"'
write_config "$T/m365gate.toml" "unix:$sock" 'harvest.threshold = 3' 'harvest.action = "450"' \
    '' '[metrics]' "textfile_dir = \"$T/metrics\"" 'interval = "1s"'
start_milter "$T/m365gate.toml" "$T/log/milter.log" "$sock" || {
    bad "milter did not start"
    finish
}

if wait_for 10 test -f "$prom" &&
    grep -q "event=start .* metrics=$T/metrics,1s uid=" "$T/log/milter.log"; then
    ok "m365gate_milter.prom written at start (the start line says metrics=DIR,1s)"
else
    bad "no $prom"
    finish
fi

if out=$(miltertest -D sock="unix:$sock" -D mta="$HERE/mta.lua" -s "$HERE/metrics-rcpts.lua" 2>&1); then
    ok "the RCPT sequence got the expected replies"
else
    printf '%s\n' "$out"
    bad "metrics-rcpts.lua"
    finish
fi

expected=$(sort <<'EOF2'
m365gate_milter_rcpt_total{verdict="continue",reason="known",tenant="contoso"} 1
m365gate_milter_rcpt_total{verdict="continue",reason="known_subaddress",tenant="contoso"} 1
m365gate_milter_rcpt_total{verdict="continue",reason="always_accept",tenant="contoso"} 1
m365gate_milter_rcpt_total{verdict="continue",reason="unmanaged_domain",tenant=""} 1
m365gate_milter_rcpt_total{verdict="would_tempfail",reason="cache_unavailable",tenant="tailspin"} 1
m365gate_milter_rcpt_total{verdict="reject",reason="unknown_recipient",tenant="contoso"} 3
m365gate_milter_rcpt_total{verdict="tempfail",reason="harvest_blocked",tenant="contoso"} 1
m365gate_milter_decision_duration_seconds_count 9
m365gate_milter_harvest_crossings_total{action="450"} 1
m365gate_milter_internal_errors_total 0
m365gate_milter_store_available 1
EOF2
)
# The counters and a few gauges as they are now in the file.
current() {
    grep -E '^m365gate_milter_(rcpt_total\{[^}]*\}|decision_duration_seconds_count|harvest_crossings_total\{action="450"\}|internal_errors_total|store_available) ' \
        "$prom" | sort
}
counts_match() { [ "$expected" = "$(current)" ]; }
if wait_for 10 counts_match; then
    ok "the .prom file holds exactly the expected counts"
else
    bad "counts differ; expected:"
    printf '%s\n' "$expected" "--- got:" "$(current)"
fi
if grep -qx 'm365gate_milter_decision_duration_seconds_bucket{le="+Inf"} 9' "$prom" &&
    grep -q '^# TYPE m365gate_milter_decision_duration_seconds histogram$' "$prom"; then
    ok "decision latency histogram: 9 observations"
else
    bad "histogram"
fi
if [ "$(stat -c '%a %U %F' "$prom")" = "644 nobody regular file" ]; then
    ok "written as the milter user (after the privilege drop), mode 0644"
else
    bad "owner/mode: $(stat -c '%a %U %F' "$prom")"
fi
if ls -a "$T/metrics" | grep -q '^\.m365gate_milter\.prom\.'; then
    bad "a temporary file was left behind"
fi

if promtool=$(promtool_path); then
    if "$promtool" check metrics <"$prom" >"$T/log/promtool.out" 2>&1; then
        ok "promtool check metrics: clean"
    else
        bad "promtool check metrics: $(cat "$T/log/promtool.out")"
    fi
    # Every query of the Grafana dashboard parses (as recording rules, Grafana's variables
    # replaced) and names a metric the milter or the sync writes.
    python3 - "$M365GATE_SOURCE_DIR/contrib/grafana/m365gate.json" >"$T/dashboard-rules.yml" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
print("groups:\n- name: dashboard\n  rules:")
for i, t in enumerate(t for p in d["panels"] for t in p["targets"]):
    e = t["expr"].replace("$__rate_interval", "5m").replace("$tenant", ".*")
    print(f"  - record: m365gate:dashboard_{i}\n    expr: {json.dumps(e)}")
PY
    if "$promtool" check rules "$T/dashboard-rules.yml" >"$T/log/promtool-rules.out" 2>&1; then
        ok "promtool: every query of contrib/grafana/m365gate.json parses"
    else
        bad "dashboard queries: $(cat "$T/log/promtool-rules.out")"
    fi
else
    note "no promtool (.deb not downloadable): the format is checked by metrics_test's parser"
fi
unknown=""
for m in $(grep -o 'm365gate_[a-z_]*' "$M365GATE_SOURCE_DIR/contrib/grafana/m365gate.json" | sort -u); do
    base=${m%_bucket}
    grep -q "^# TYPE $base " "$prom" || grep -qF "| \`$base\` |" "$M365GATE_SOURCE_DIR/docs/metrics.md" ||
        unknown="$unknown $m"
done
[ -z "$unknown" ] && ok "the dashboard names only metrics the milter writes or docs/metrics.md lists" ||
    bad "dashboard metrics unknown:$unknown"

# A symlink planted at the file's name is replaced, never written through.
printf 'precious\n' >"$T/victim"
ln -sfn "$T/victim" "$prom"
if wait_for 10 test ! -L "$prom" && [ "$(cat "$T/victim")" = precious ] && [ -f "$prom" ]; then
    ok "a symlink at m365gate_milter.prom is replaced, its target untouched"
else
    bad "symlink at the .prom path: victim=$(cat "$T/victim")"
fi

# m365gatectl metrics: the milter's file, and the sync's named as missing.
set +e
ctl_out=$("$CTL" --config "$T/m365gate.toml" metrics 2>"$T/log/ctl.err")
ctl_rc=$?
set -e
if [ $ctl_rc = 1 ] && grep -q "^# $prom: written [0-9]*s ago$" <<<"$ctl_out" &&
    grep -q '^m365gate_milter_rcpt_total{verdict="reject",reason="unknown_recipient",tenant="contoso"} 3$' <<<"$ctl_out" &&
    grep -q "^# $T/metrics/m365gate_sync.prom: missing$" <<<"$ctl_out" &&
    grep -q "m365gate_sync.prom: missing: is m365gate-sync running" "$T/log/ctl.err"; then
    ok "m365gatectl metrics prints the milter's file and names the sync's as missing (exit 1)"
else
    bad "m365gatectl metrics (exit $ctl_rc): $ctl_out $(cat "$T/log/ctl.err")"
fi

# A reload (SIGUSR1) moves the file to a new directory at once; a broken value keeps the old.
mkdir "$T/metrics2"
chown nobody "$T/metrics2"
sed -i "s|^textfile_dir = .*|textfile_dir = \"$T/metrics2\"|" "$T/m365gate.toml"
kill -USR1 "$MILTER_PID"
if wait_for 10 test -f "$T/metrics2/m365gate_milter.prom" &&
    grep -q '^m365gate_milter_rcpt_total{verdict="reject",reason="unknown_recipient",tenant="contoso"} 3$' \
        "$T/metrics2/m365gate_milter.prom"; then
    grep -q "event=reload status=ok .* metrics=$T/metrics2,1s" "$T/log/milter.log" ||
        bad "the reload line does not name the new textfile_dir"
    ok "reload: written in the new textfile_dir, counts kept"
else
    bad "reload to a new textfile_dir"
fi
sed -i 's|^interval = "1s"|interval = "2h"|' "$T/m365gate.toml"
kill -USR1 "$MILTER_PID"
if wait_for 10 grep -q 'event=reload status=rejected.*\[metrics\] interval: must be from 1s to 1h' \
    "$T/log/milter.log"; then
    ok "reload with a broken interval is rejected, the old config stays"
else
    bad "broken interval on reload"
fi

stop_milter "$MILTER_PID"
finish
