// store/writer.cpp - Writer: one write transaction of deltas and state (see store.h), and
// publish(), a tenant's whole list through a Rebuild.
#include <lmdb.h>

#include <algorithm>
#include <map>

#include "store/store.h"
#include "store/store_internal.h"

namespace m365gate::store {

using namespace detail;

struct Writer::Txn {
    WriteTxn txn;
    std::map<std::string, TenantRec, std::less<>> touched;  // flushed at commit
};

namespace {

TenantRec& tenant_rec(Writer::Txn& t, const Store::Impl& s, std::string_view tenant) {
    if (auto it = t.touched.find(tenant); it != t.touched.end()) return it->second;
    auto rec = read_rec(t.txn.get(), s, tenant);
    if (!rec) rec = TenantRec{allocate_generation(t.txn.get(), s), 0, 0};
    return t.touched.emplace(std::string(tenant), *rec).first->second;
}

}  // namespace

Writer::Writer(Store& store) : store_(store), txn_(std::make_unique<Txn>()) {
    if (store.read_only())
        throw StoreError(StoreError::Kind::other, "store opened read-only cannot be written");
    txn_->txn = WriteTxn(store.impl().env, store.dir());
}

Writer::~Writer() = default;

void Writer::clear_tenant(std::string_view tenant) {
    const auto& s = store_.impl();
    auto& rec = tenant_rec(*txn_, s, tenant);
    if (rec.addresses != 0 || rec.objects != 0) {
        mark_generation(txn_->txn.get(), s, rec.id, generation_retired);
        rec.id = allocate_generation(txn_->txn.get(), s);
    }
    rec.addresses = 0;
    rec.objects = 0;
}

void Writer::adopt(Rebuild& rebuild) {
    const auto& s = store_.impl();
    const std::uint32_t generation = rebuild.generation();
    if (rebuild.apply_in_place(txn_->txn.get())) {
        auto& rec = tenant_rec(*txn_, s, rebuild.tenant());
        rec.addresses = rebuild.address_count();
        rec.objects = rebuild.object_count();
        return;
    }
    if (generation == 0) {  // stage() would need a write transaction of its own: deadlock
        throw StoreError(StoreError::Kind::other, "Writer::adopt() of a Rebuild not staged");
    }
    const std::string& tenant = rebuild.tenant();
    std::optional<TenantRec> previous;
    if (auto it = txn_->touched.find(tenant); it != txn_->touched.end()) {
        previous = it->second;
    } else {
        previous = read_rec(txn_->txn.get(), s, tenant);
    }
    if (previous && previous->id != generation) {
        mark_generation(txn_->txn.get(), s, previous->id, generation_retired);
    }
    unmark_generation(txn_->txn.get(), s, generation);
    txn_->touched[tenant] = TenantRec{generation, rebuild.address_count(), rebuild.object_count()};
}

void Writer::remove_tenant(std::string_view tenant) {
    const auto& s = store_.impl();
    if (auto it = txn_->touched.find(tenant); it != txn_->touched.end()) {
        mark_generation(txn_->txn.get(), s, it->second.id, generation_retired);
        txn_->touched.erase(it);
    } else if (const auto rec = read_rec(txn_->txn.get(), s, tenant)) {
        mark_generation(txn_->txn.get(), s, rec->id, generation_retired);
    }
    for (const auto& d : read_domains(txn_->txn.get(), s, tenant))
        del(txn_->txn.get(), s.domains, d, s.dir);
    del(txn_->txn.get(), s.state, tenant, s.dir);
    del(txn_->txn.get(), s.tenants, tenant, s.dir);
}

std::vector<std::string> Writer::set_domains(std::string_view tenant,
                                             const std::vector<std::string>& domains) {
    const auto& s = store_.impl();
    tenant_rec(*txn_, s, tenant);
    for (const auto& d : read_domains(txn_->txn.get(), s, tenant)) {
        if (std::find(domains.begin(), domains.end(), d) == domains.end())
            del(txn_->txn.get(), s.domains, d, s.dir);
    }
    std::vector<std::string> skipped;
    for (const auto& d : domains) {
        if (d.empty()) continue;
        const auto owner = get(txn_->txn.get(), s.domains, d, s.dir);
        if (owner && *owner != tenant) {
            skipped.push_back(d);
            continue;
        }
        if (!owner) put(txn_->txn.get(), s.domains, d, tenant, s.dir);
    }
    return skipped;
}

std::vector<std::string> Writer::object_addresses(std::string_view tenant,
                                                  std::string_view object_id) const {
    const auto& s = store_.impl();
    std::uint32_t id = 0;
    if (auto it = txn_->touched.find(tenant); it != txn_->touched.end()) {
        id = it->second.id;
    } else if (const auto rec = read_rec(txn_->txn.get(), s, tenant)) {
        id = rec->id;
    } else {
        return {};
    }
    const auto v =
        get(txn_->txn.get(), s.objects, generation_prefix(id) + encode_object_id(object_id), s.dir);
    if (!v || v->empty()) return {};
    return split_lines(v->substr(1));
}

void Writer::put_object(std::string_view tenant, ObjectKind kind, std::string_view object_id,
                        const std::vector<std::string>& canonical_addresses) {
    const auto& s = store_.impl();
    auto& rec = tenant_rec(*txn_, s, tenant);
    const std::string prefix = generation_prefix(rec.id);
    const std::string enc_id = encode_object_id(object_id);
    const std::string okey = prefix + enc_id;

    std::vector<std::string> now = canonical_addresses;
    tidy_addresses(now);

    const auto old_value = get(txn_->txn.get(), s.objects, okey, s.dir);
    std::vector<std::string> before;
    if (old_value && !old_value->empty()) before = split_lines(old_value->substr(1));

    std::string akey = prefix;
    for (const auto& a : before) {
        if (std::binary_search(now.begin(), now.end(), a)) continue;
        akey.resize(prefix.size());
        akey += a;
        const auto owner = get(txn_->txn.get(), s.addresses, akey, s.dir);
        // XXX: only the object that wrote an address last removes it; Exchange keeps
        // proxyAddresses unique across objects, so two owners should not happen.
        if (owner && owner->size() > 1 && owner->substr(1) == enc_id) {
            del(txn_->txn.get(), s.addresses, akey, s.dir);
            --rec.addresses;
        }
    }
    std::string value;
    value.push_back(char(kind));
    value += enc_id;
    for (const auto& a : now) {
        akey.resize(prefix.size());
        akey += a;
        const auto existing = get(txn_->txn.get(), s.addresses, akey, s.dir);
        if (existing && *existing == value) continue;
        if (!existing) ++rec.addresses;
        put(txn_->txn.get(), s.addresses, akey, value, s.dir);
    }

    if (now.empty()) {
        if (old_value) {
            del(txn_->txn.get(), s.objects, okey, s.dir);
            --rec.objects;
        }
        return;
    }
    std::string ovalue;
    ovalue.push_back(char(kind));
    for (std::size_t i = 0; i < now.size(); ++i) {
        if (i != 0) ovalue.push_back('\n');
        ovalue += now[i];
    }
    if (!old_value) ++rec.objects;
    put(txn_->txn.get(), s.objects, okey, ovalue, s.dir);
}

void Writer::remove_object(std::string_view tenant, std::string_view object_id) {
    put_object(tenant, ObjectKind::user, object_id, {});
}

std::optional<TenantState> Writer::tenant_state(std::string_view tenant) const {
    return read_state(txn_->txn.get(), store_.impl(), tenant);
}

void Writer::put_state(std::string_view tenant, const TenantState& state) {
    const auto& s = store_.impl();
    tenant_rec(*txn_, s, tenant);
    put(txn_->txn.get(), s.state, tenant, encode_state(state), s.dir);
}

std::uint64_t Writer::address_count(std::string_view tenant) const {
    if (auto it = txn_->touched.find(tenant); it != txn_->touched.end())
        return it->second.addresses;
    const auto rec = read_rec(txn_->txn.get(), store_.impl(), tenant);
    return rec ? rec->addresses : 0;
}

std::uint64_t Writer::object_count(std::string_view tenant) const {
    if (auto it = txn_->touched.find(tenant); it != txn_->touched.end()) return it->second.objects;
    const auto rec = read_rec(txn_->txn.get(), store_.impl(), tenant);
    return rec ? rec->objects : 0;
}

std::vector<std::string> Writer::tenants() const {
    auto out = read_tenants(txn_->txn.get(), store_.impl());
    for (const auto& [name, rec] : txn_->touched) {
        (void)rec;
        if (std::find(out.begin(), out.end(), name) == out.end()) out.push_back(name);
    }
    std::sort(out.begin(), out.end());
    return out;
}

void Writer::commit() {
    const auto& s = store_.impl();
    if (txn_->txn.get() == nullptr)
        throw StoreError(StoreError::Kind::other, "Writer::commit() called twice");
    for (const auto& [name, rec] : txn_->touched)
        put(txn_->txn.get(), s.tenants, name, encode_rec(rec), s.dir);
    txn_->txn.commit(s.dir);
}

void publish(Store& store, const TenantList& list) {
    WriterLock lock(store);
    reclaim(store);  // what an earlier failed or killed publish left: room for this one
    try {
        Rebuild rebuild(store, list.tenant);
        for (const auto& o : list.objects) rebuild.put_object(o.kind, o.id, o.addresses);
        rebuild.stage();
        Writer w(store);
        w.adopt(rebuild);
        w.set_domains(list.tenant, list.domains);
        TenantState state = list.state;
        state.address_count = w.address_count(list.tenant);
        state.object_count = w.object_count(list.tenant);
        state.domain_count = list.domains.size();
        w.put_state(list.tenant, state);
        w.commit();
    } catch (const StoreError&) {
        try {
            reclaim(store);  // the abandoned generation (the Rebuild is gone by now)
        } catch (const StoreError&) {
            // The first error is the one to report; the next publish reclaims again.
        }
        throw;
    }
    reclaim(store);
}

}  // namespace m365gate::store
