// store/reclaim.cpp - generations (store_internal.h): their allocation, their marks, and
// reclaim(), which deletes the keys of the marked ones.
#include <lmdb.h>

#include <algorithm>
#include <cerrno>
#include <mutex>

#include "store/store.h"
#include "store/store_internal.h"

namespace m365gate::store {

using namespace detail;

namespace {

std::string generation_key(std::uint32_t generation) {
    return std::string(generation_key_prefix) + generation_prefix(generation);
}

}  // namespace

namespace detail {

// Generations only grow, so the newest generation's keys sort last.
std::uint32_t allocate_generation(MDB_txn* txn, const Store::Impl& s) {
    std::uint32_t next = 1;
    if (const auto v = get(txn, s.meta, "next_tenant_id", s.dir); v && v->size() == 4)
        next = get_le<std::uint32_t>(*v, 0);
    if (next == UINT32_MAX)
        throw StoreError(StoreError::Kind::other, "generations exhausted; rebuild the store");
    std::string enc;
    put_le(enc, next + 1);
    put(txn, s.meta, "next_tenant_id", enc, s.dir);
    return next;
}

void mark_generation(MDB_txn* txn, const Store::Impl& s, std::uint32_t generation, char mark) {
    put(txn, s.meta, generation_key(generation), std::string(1, mark), s.dir);
}

void unmark_generation(MDB_txn* txn, const Store::Impl& s, std::uint32_t generation) {
    del(txn, s.meta, generation_key(generation), s.dir);
}

std::uint64_t delete_prefix(MDB_txn* txn, MDB_dbi dbi, std::string_view prefix, std::uint64_t limit,
                            bool& done, const std::filesystem::path& dir) {
    std::uint64_t n = 0;
    Cursor c(txn, dbi, dir);
    MDB_val k = to_val(prefix), v{};
    int rc = mdb_cursor_get(c.get(), &k, &v, MDB_SET_RANGE);
    while (rc == MDB_SUCCESS && starts_with(to_view(k), prefix) && n < limit) {
        check(mdb_cursor_del(c.get(), 0), "mdb_cursor_del", dir);
        ++n;
        // After a delete the cursor points at the next item (LMDB); re-read it.
        rc = mdb_cursor_get(c.get(), &k, &v, MDB_GET_CURRENT);
        if (rc == MDB_NOTFOUND || rc == EINVAL) rc = mdb_cursor_get(c.get(), &k, &v, MDB_NEXT);
    }
    if (rc != MDB_SUCCESS && rc != MDB_NOTFOUND) check(rc, "mdb_cursor_get", dir);
    done = rc == MDB_NOTFOUND || !starts_with(to_view(k), prefix);
    return n;
}

}  // namespace detail

namespace {

// The first marked generation that no Rebuild of this process is writing, or 0.
std::uint32_t next_reclaimable(MDB_txn* txn, Store::Impl& s) {
    std::lock_guard<std::mutex> lock(s.rebuilds_mu);
    Cursor c(txn, s.meta, s.dir);
    MDB_val k = to_val(generation_key_prefix), v{};
    for (int rc = mdb_cursor_get(c.get(), &k, &v, MDB_SET_RANGE); rc == MDB_SUCCESS;
         rc = mdb_cursor_get(c.get(), &k, &v, MDB_NEXT)) {
        const auto key = to_view(k);
        if (!starts_with(key, generation_key_prefix)) break;
        if (key.size() != generation_key_prefix.size() + 4) continue;
        const std::uint32_t g = generation_of(key.substr(generation_key_prefix.size()));
        if (g != 0 && s.active_rebuilds.count(g) == 0) return g;
    }
    return 0;
}

}  // namespace

std::uint64_t reclaim(Store& store, std::size_t chunk) {
    if (store.read_only()) return 0;
    auto& s = store.impl();
    // Reader slots of processes that died (a killed m365gate-sync, milter or m365gatectl) stay
    // taken in lock.mdb until someone clears them; enough of them and readers get
    // MDB_READERS_FULL. They also pin old pages. Cheap: a scan of the reader table.
    int dead = 0;
    mdb_reader_check(s.env, &dead);
    const std::uint64_t limit = std::max<std::size_t>(chunk, 1);
    std::uint64_t deleted = 0;
    for (;;) {  // every round deletes at least one key or one mark: this ends
        WriteTxn round(s.env, s.dir);
        MDB_txn* const txn = round.get();
        const std::uint32_t g = next_reclaimable(txn, s);
        if (g == 0) return deleted;
        const std::string prefix = generation_prefix(g);
        bool addresses_done = false, objects_done = false;
        std::uint64_t n = delete_prefix(txn, s.addresses, prefix, limit, addresses_done, s.dir);
        if (addresses_done && n < limit)
            n += delete_prefix(txn, s.objects, prefix, limit - n, objects_done, s.dir);
        if (addresses_done && objects_done) unmark_generation(txn, s, g);
        round.commit(s.dir);
        deleted += n;
        s.drop_mapped_pages();
    }
}

}  // namespace m365gate::store
