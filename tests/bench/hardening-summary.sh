#!/bin/bash
# tests/bench/hardening-summary.sh [BUILD_DIR] - the SUMMARY lines of the hardening tests
# (tests/cmake/hardening.cmake: fault_*, load_*, secrets_*), as one block for README's
# reliability section. Each test writes its line to BUILD_DIR/hardening/<test>.summary when
# it runs (ctest -L hardening); other *.summary files there (sanitizer, fuzzing) are added
# after them. A test that has not run is listed as such.
set -euo pipefail
dir=${1:-build}/hardening
order=(fault_sigkill fault_map_full fault_corrupt fault_graph fault_milter_abort
    load_postfix_sync secrets_privileges)
rev=$(git -C "$(dirname "$0")" rev-parse --short HEAD 2>/dev/null || echo unknown)
printf 'm365gate hardening summary (commit %s, %s, %s cores)\n' "$rev" \
    "$(date -u +%Y-%m-%dT%H:%MZ)" "$(nproc)"
for name in "${order[@]}"; do
    if [ -s "$dir/$name.summary" ]; then
        cat "$dir/$name.summary"
    else
        printf 'SUMMARY %s: not run (ctest -R %s)\n' "$name" "$name"
    fi
done
shopt -s nullglob
for f in "$dir"/*.summary; do
    name=$(basename "$f" .summary)
    [[ " ${order[*]} " == *" $name "* ]] || cat "$f"
done
