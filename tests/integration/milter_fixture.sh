# tests/integration/milter_fixture.sh - the store every milter integration test starts from
# (sourced after milter_lib.sh; uses fill_store).
#   contoso  (customer.example), synced now: alice (+ alias alice.smith), bob, 100%off
#   tailspin (tailspin.example), never synced: everything there is on_cache_unavailable
fill_fixture() {
    printf '%s\n' 'alice@customer.example alice.smith@customer.example' \
        'bob@customer.example' '100%off@customer.example' |
        fill_store contoso now customer.example || return 1
    printf '%s\n' 'dave@tailspin.example' | fill_store tailspin never tailspin.example
}
