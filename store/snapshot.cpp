// store/snapshot.cpp - Snapshot: one read transaction and the reads of the decision and of
// m365gatectl (see store.h).
#include <lmdb.h>

#include <cstring>

#include "store/store.h"
#include "store/store_internal.h"

namespace m365gate::store {

using namespace detail;

namespace detail {

// The reads Writer shares (store_internal.h).

std::optional<TenantRec> read_rec(MDB_txn* txn, const Store::Impl& s, std::string_view tenant) {
    const auto v = get(txn, s.tenants, tenant, s.dir);
    if (!v) return std::nullopt;
    return decode_rec(*v);
}

std::optional<TenantState> read_state(MDB_txn* txn, const Store::Impl& s, std::string_view tenant) {
    const auto v = get(txn, s.state, tenant, s.dir);
    if (!v) return std::nullopt;
    return decode_state(*v);
}

std::vector<std::string> read_tenants(MDB_txn* txn, const Store::Impl& s) {
    std::vector<std::string> out;
    Cursor c(txn, s.tenants, s.dir);
    MDB_val k{}, v{};
    for (int rc = mdb_cursor_get(c.get(), &k, &v, MDB_FIRST); rc == MDB_SUCCESS;
         rc = mdb_cursor_get(c.get(), &k, &v, MDB_NEXT))
        out.emplace_back(to_view(k));
    return out;
}

std::vector<std::string> read_domains(MDB_txn* txn, const Store::Impl& s, std::string_view tenant) {
    std::vector<std::string> out;
    Cursor c(txn, s.domains, s.dir);
    MDB_val k{}, v{};
    for (int rc = mdb_cursor_get(c.get(), &k, &v, MDB_FIRST); rc == MDB_SUCCESS;
         rc = mdb_cursor_get(c.get(), &k, &v, MDB_NEXT))
        if (to_view(v) == tenant) out.emplace_back(to_view(k));
    return out;
}

}  // namespace detail

namespace {

// Calls fn(key, value) for every key of `dbi` starting with `prefix`; stops when fn is false.
template <typename F>
void scan_prefix(MDB_txn* txn, MDB_dbi dbi, std::string_view prefix,
                 const std::filesystem::path& dir, F&& fn) {
    Cursor c(txn, dbi, dir);
    MDB_val k = to_val(prefix), v{};
    for (int rc = mdb_cursor_get(c.get(), &k, &v, MDB_SET_RANGE); rc == MDB_SUCCESS;
         rc = mdb_cursor_get(c.get(), &k, &v, MDB_NEXT)) {
        const auto key = to_view(k);
        if (!starts_with(key, prefix)) break;
        if (!fn(key, to_view(v))) break;
    }
}

// The tenant's current generation.
std::optional<std::uint32_t> read_generation(MDB_txn* txn, const Store::Impl& s,
                                             std::string_view tenant) {
    if (const auto rec = read_rec(txn, s, tenant)) return rec->id;
    return std::nullopt;
}

}  // namespace

Snapshot::Snapshot(const Store& store)
    : store_(store), txn_(store.impl().readers.acquire(store.impl().env, store.dir())) {}

Snapshot::~Snapshot() = default;  // the transaction goes back to the pool

std::optional<std::string> Snapshot::tenant_of_domain(std::string_view canonical_domain) const {
    std::optional<std::string> tenant;
    if (const auto v = get(txn_.get(), store_.impl().domains, canonical_domain, store_.dir()))
        tenant.emplace(*v);
    return tenant;
}

std::optional<std::int64_t> Snapshot::last_success(std::string_view tenant) const {
    const auto v = get(txn_.get(), store_.impl().state, tenant, store_.dir());
    if (!v) return std::nullopt;
    return decode_last_success(*v);
}

std::optional<TenantState> Snapshot::tenant_state(std::string_view tenant) const {
    return read_state(txn_.get(), store_.impl(), tenant);
}

std::optional<Recipient> Snapshot::find(std::string_view tenant,
                                        std::string_view canonical_address) const {
    const auto generation = read_generation(txn_.get(), store_.impl(), tenant);
    if (!generation) return std::nullopt;
    std::string key = generation_prefix(*generation);
    key.append(canonical_address);
    const auto v = get(txn_.get(), store_.impl().addresses, key, store_.dir());
    if (!v) return std::nullopt;
    return decode_recipient(tenant, *v);
}

bool Snapshot::contains(std::string_view tenant, std::string_view canonical_address) const {
    const auto generation = read_generation(txn_.get(), store_.impl(), tenant);
    if (!generation) return false;
    // The milter's hot path: the key on the stack, no allocation.
    char key[4 + 1024];
    if (canonical_address.size() > sizeof key - 4) return false;  // longer than any we store
    const std::string prefix = generation_prefix(*generation);    // short: no allocation
    std::memcpy(key, prefix.data(), 4);
    std::memcpy(key + 4, canonical_address.data(), canonical_address.size());
    MDB_val k{4 + canonical_address.size(), key}, v{};
    const int rc = mdb_get(txn_.get(), store_.impl().addresses, &k, &v);
    if (rc == MDB_NOTFOUND) return false;
    check(rc, "mdb_get", store_.dir());
    return true;
}

Snapshot::Totals Snapshot::totals() const {
    const auto& s = store_.impl();
    Totals t;
    MDB_stat st{};
    check(mdb_stat(txn_.get(), s.addresses, &st), "mdb_stat", s.dir);
    t.address_entries = st.ms_entries;
    check(mdb_stat(txn_.get(), s.objects, &st), "mdb_stat", s.dir);
    t.object_entries = st.ms_entries;
    scan_prefix(txn_.get(), s.meta, generation_key_prefix, s.dir,
                [&](std::string_view, std::string_view) {
                    ++t.unused_generations;
                    return true;
                });
    return t;
}

std::vector<std::string> Snapshot::tenants() const {
    return read_tenants(txn_.get(), store_.impl());
}

std::vector<std::string> Snapshot::domains(std::string_view tenant) const {
    return read_domains(txn_.get(), store_.impl(), tenant);
}

std::uint64_t Snapshot::address_count(std::string_view tenant) const {
    const auto rec = read_rec(txn_.get(), store_.impl(), tenant);
    return rec ? rec->addresses : 0;
}

void Snapshot::for_each_address(
    std::string_view tenant,
    const std::function<bool(std::string_view, const Recipient&)>& fn) const {
    const auto rec = read_rec(txn_.get(), store_.impl(), tenant);
    if (!rec) return;
    const std::string prefix = generation_prefix(rec->id);
    scan_prefix(txn_.get(), store_.impl().addresses, prefix, store_.dir(),
                [&](std::string_view key, std::string_view value) {
                    const auto r = decode_recipient(tenant, value);
                    if (!r) return true;
                    return fn(key.substr(prefix.size()), *r);
                });
}

}  // namespace m365gate::store
