# tests/integration/milter_fixture.sh - the store every milter integration test starts from
# (sourced after milter_lib.sh; uses fill_store).
#   contoso  (customer.example, xn--bcher-kva.example = bücher.example), synced now: alice (+
#            alias alice.smith), bob, 100%off, mary-jane, info@xn--bcher-kva.example
#   tailspin (tailspin.example), never synced: everything there is on_cache_unavailable
fill_fixture() {
    printf '%s\n' 'alice@customer.example alice.smith@customer.example' \
        'bob@customer.example' '100%off@customer.example' 'mary-jane@customer.example' \
        'info@xn--bcher-kva.example' |
        fill_store contoso now customer.example xn--bcher-kva.example || return 1
    printf '%s\n' 'dave@tailspin.example' | fill_store tailspin never tailspin.example
}
