// store/rebuild.cpp - a tenant's complete new list written where no reader looks (store.h).
//
// put_object() appends records to an in-memory run; a run that outgrows run_bytes is sorted
// and written to an unlinked temporary file in the store directory. stage() merges the runs
// (runs.h: first arrival wins on equal keys) and appends the result under a fresh generation,
// which sorts after every existing key, so MDB_APPEND fills pages completely. Every `chunk`
// keys the write transaction commits: a transaction never holds more than about chunk * 150
// bytes of dirty pages, and memory stays bounded whatever the tenant's size. The generation is
// marked staged ('S') from its first transaction on, so a crash leaves only keys that
// reclaim() deletes; readers never see it until Writer::adopt() switches the tenant to it.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "store/runs.h"
#include "store/store.h"
#include "store/store_internal.h"

namespace m365gate::store {

using namespace detail;

namespace {

constexpr std::size_t run_bytes = 8u << 20;  // in-memory run before it is spilled

// One change to a tenant's current generation, for a rebuild applied in place.
struct Change {
    std::string key;    // without the generation prefix
    std::string value;  // empty: delete
    bool erase = false;
};

}  // namespace

struct Rebuild::State {
    State(Store& s, std::string_view t, const RebuildOptions& o)
        : store(s),
          tenant(t),
          chunk(std::max<std::size_t>(o.chunk, 1)),
          in_place_limit(o.in_place_limit),
          max_spill_bytes(o.max_spill_bytes) {}

    Store& store;
    const std::string tenant;
    const std::size_t chunk;
    const std::size_t in_place_limit;
    const std::uint64_t max_spill_bytes;  // 0: unbounded

    Run address_run, object_run;
    UniqueFd fd;  // spill file (unlinked), opened at the first spill
    std::uint64_t file_end = 0;
    std::vector<Extent> address_extents, object_extents;

    bool staged = false;
    bool broken = false;  // stage() failed part-way: the generation is left to reclaim()
    std::uint32_t generation = 0;
    std::uint64_t addresses = 0;
    std::uint64_t objects = 0;

    // In place: the differences to the tenant's current generation, computed in a read
    // transaction whose id is `diffed_at`; adopt() applies them if nothing was written since.
    bool in_place = false;
    std::size_t diffed_at = 0;
    std::vector<Change> address_changes, object_changes;

    void open_spill();
    Extent write_run(Run& run, bool combine);
    void spill();
    std::vector<Source> sources(Run& run, const std::vector<Extent>& extents);
    bool diff(MDB_txn* txn, MDB_dbi dbi, bool combine, Run& run, const std::vector<Extent>& extents,
              std::uint32_t current, std::vector<Change>& changes, std::size_t& budget,
              std::uint64_t& count);
    bool try_in_place();
    void append_all(WriteTxn& txn, MDB_dbi dbi, bool combine, Run& run,
                    const std::vector<Extent>& extents, std::uint64_t& written,
                    std::uint64_t& count);
    void release_inputs();
};

void Rebuild::State::open_spill() {
    const auto& dir = store.dir();
    fd.reset(::open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600));
    if (fd.valid()) return;
    std::string tmpl = (dir / "rebuild-XXXXXX").string();  // O_TMPFILE unsupported here
    fd.reset(::mkostemp(tmpl.data(), O_CLOEXEC));
    if (!fd.valid()) {
        throw StoreError(StoreError::Kind::io, "cannot create a rebuild spill file in " +
                                                   dir.string() + ": " + std::strerror(errno));
    }
    ::unlink(tmpl.c_str());
}

Extent Rebuild::State::write_run(Run& run, bool combine) {
    run.sort();
    const std::string bytes = run.serialise_unique(combine);
    run.clear();
    if (max_spill_bytes != 0 &&
        bytes.size() > max_spill_bytes - std::min(file_end, max_spill_bytes)) {
        broken = true;  // the run is gone: this Rebuild cannot be completed
        throw StoreError(StoreError::Kind::limit,
                         "the rebuild spill file of tenant " + tenant + " would pass " +
                             std::to_string(max_spill_bytes) + " bytes (has " +
                             std::to_string(file_end) + ", " + std::to_string(bytes.size()) +
                             " more to write)");
    }
    Extent e{file_end, bytes.size()};
    std::size_t done = 0;
    while (done < bytes.size()) {
        const ssize_t n = ::pwrite(fd.get(), bytes.data() + done, bytes.size() - done,
                                   static_cast<off_t>(file_end + done));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            throw StoreError(StoreError::Kind::io, "cannot write the rebuild spill file in " +
                                                       store.dir().string() + ": " +
                                                       std::strerror(errno));
        }
        done += static_cast<std::size_t>(n);
    }
    file_end += bytes.size();
    return e;
}

void Rebuild::State::spill() {
    if (!fd.valid()) open_spill();
    if (!address_run.empty()) address_extents.push_back(write_run(address_run, false));
    if (!object_run.empty()) object_extents.push_back(write_run(object_run, true));
}

// The spilled runs and the last in-memory one, from their beginnings (can be made again).
std::vector<Source> Rebuild::State::sources(Run& run, const std::vector<Extent>& extents) {
    std::vector<Source> out;
    out.reserve(extents.size() + 1);
    for (const auto& e : extents) out.emplace_back(fd.get(), e, store.dir());
    run.sort();
    out.emplace_back(&run);
    return out;
}

// Walks the new records of one database beside the tenant's current generation and collects
// the differences. False when there are more than `budget` (left) of them.
bool Rebuild::State::diff(MDB_txn* txn, MDB_dbi dbi, bool combine, Run& run,
                          const std::vector<Extent>& extents, std::uint32_t current,
                          std::vector<Change>& changes, std::size_t& budget, std::uint64_t& count) {
    auto& s = store.impl();
    Merger incoming(sources(run, extents), combine);
    const std::string prefix = generation_prefix(current);
    Cursor c(txn, dbi, s.dir);
    MDB_val k = to_val(prefix), v{};
    int rc = mdb_cursor_get(c.get(), &k, &v, MDB_SET_RANGE);
    auto old_valid = [&] { return rc == MDB_SUCCESS && starts_with(to_view(k), prefix); };
    auto old_next = [&] {
        rc = mdb_cursor_get(c.get(), &k, &v, MDB_NEXT);
        if (rc != MDB_SUCCESS && rc != MDB_NOTFOUND) check(rc, "mdb_cursor_get", s.dir);
    };
    if (rc != MDB_SUCCESS && rc != MDB_NOTFOUND) check(rc, "mdb_cursor_get", s.dir);
    bool have_new = incoming.next();
    std::uint64_t walked = 0;
    while (have_new || old_valid()) {
        if (++walked % 65536 == 0) s.drop_mapped_pages();  // bounded RSS on a large list
        const std::string_view old_key =
            old_valid() ? to_view(k).substr(prefix.size()) : std::string_view();
        const int cmp = !old_valid() ? -1 : !have_new ? 1 : incoming.key().compare(old_key);
        if (cmp == 0 && incoming.value() == to_view(v)) {
            ++count;
            have_new = incoming.next();
            old_next();
            continue;
        }
        if (budget == 0) return false;
        --budget;
        if (cmp <= 0) {  // new, or changed
            changes.push_back(Change{std::string(incoming.key()), std::string(incoming.value())});
            ++count;
            have_new = incoming.next();
            if (cmp == 0) old_next();
        } else {  // gone
            changes.push_back(Change{std::string(old_key), {}, true});
            old_next();
        }
    }
    return true;
}

// A tenant that has a list and few differences: no new generation, the differences are
// applied in adopt()'s transaction (the file keeps one copy of the list, not two).
bool Rebuild::State::try_in_place() {
    if (in_place_limit == 0) return false;
    auto& s = store.impl();
    const ReadTxn read(s.env, s.dir);
    MDB_txn* const txn = read.get();
    const auto rec = read_rec(txn, s, tenant);
    if (!rec) return false;
    const std::uint32_t current = rec->id;
    std::size_t budget = in_place_limit;
    std::uint64_t n_addresses = 0, n_objects = 0;
    address_changes.clear();
    object_changes.clear();
    if (!diff(txn, s.addresses, false, address_run, address_extents, current, address_changes,
              budget, n_addresses) ||
        !diff(txn, s.objects, true, object_run, object_extents, current, object_changes, budget,
              n_objects)) {
        address_changes.clear();
        address_changes.shrink_to_fit();
        object_changes.clear();
        object_changes.shrink_to_fit();
        return false;
    }
    diffed_at = mdb_txn_id(txn);
    generation = current;
    addresses = n_addresses;
    objects = n_objects;
    in_place = true;
    return true;
}

// Appends the merged records of one database under the new generation, committing every
// `chunk` keys (counted over both databases in `written`).
void Rebuild::State::append_all(WriteTxn& txn, MDB_dbi dbi, bool combine, Run& run,
                                const std::vector<Extent>& extents, std::uint64_t& written,
                                std::uint64_t& count) {
    const auto& s = store.impl();
    Merger merged(sources(run, extents), combine);
    const std::string prefix = generation_prefix(generation);
    std::string key = prefix;
    auto cursor = std::make_unique<Cursor>(txn.get(), dbi, s.dir);
    while (merged.next()) {
        key.resize(prefix.size());
        key.append(merged.key());
        MDB_val mk = to_val(key), mv = to_val(merged.value());
        check(mdb_cursor_put(cursor->get(), &mk, &mv, MDB_APPEND), "mdb_cursor_put", s.dir);
        ++count;
        if (++written % chunk == 0) {
            cursor.reset();
            txn.commit(s.dir);
            txn = WriteTxn(s.env, s.dir);
            cursor = std::make_unique<Cursor>(txn.get(), dbi, s.dir);
        }
    }
}

void Rebuild::State::release_inputs() {
    address_run.clear();
    object_run.clear();
    fd.reset();
    address_extents.clear();
    object_extents.clear();
}

Rebuild::Rebuild(Store& store, std::string_view tenant, const RebuildOptions& options)
    : st_(std::make_unique<State>(store, tenant, options)) {
    if (store.read_only())
        throw StoreError(StoreError::Kind::other, "store opened read-only cannot be written");
}

Rebuild::~Rebuild() {
    if (st_->generation != 0 && !st_->in_place) {
        auto& s = st_->store.impl();
        std::lock_guard<std::mutex> lock(s.rebuilds_mu);
        s.active_rebuilds.erase(st_->generation);
    }
}

const std::string& Rebuild::tenant() const noexcept { return st_->tenant; }

std::uint64_t Rebuild::spill_bytes() const noexcept { return st_->file_end; }
std::uint64_t Rebuild::address_count() const noexcept { return st_->addresses; }
std::uint64_t Rebuild::object_count() const noexcept { return st_->objects; }
bool Rebuild::in_place() const noexcept { return st_->in_place; }
std::uint32_t Rebuild::generation() const noexcept { return st_->generation; }

void Rebuild::put_object(ObjectKind kind, std::string_view object_id,
                         const std::vector<std::string>& canonical_addresses) {
    State& st = *st_;
    if (st.staged || st.broken)
        throw StoreError(StoreError::Kind::other, "Rebuild::put_object() after stage()");
    std::vector<std::string_view> list(canonical_addresses.begin(), canonical_addresses.end());
    tidy_addresses(list);
    if (list.empty()) return;

    const std::string enc_id = encode_object_id(object_id);
    std::string value(1, char(kind));
    value += enc_id;
    std::string ovalue(1, char(kind));
    for (std::size_t i = 0; i < list.size(); ++i) {
        if (i != 0) ovalue.push_back('\n');
        ovalue.append(list[i]);
        st.address_run.add(list[i], value);
    }
    st.object_run.add(enc_id, ovalue);
    if (st.address_run.bytes() + st.object_run.bytes() > run_bytes) st.spill();
}

void Rebuild::stage() {
    State& st = *st_;
    if (st.staged) return;
    if (st.broken)
        throw StoreError(StoreError::Kind::other, "a Rebuild whose stage() failed cannot go on");
    st.broken = true;
    if (st.try_in_place()) {
        st.release_inputs();
        st.broken = false;
        st.staged = true;
        return;
    }
    auto& s = st.store.impl();
    {
        WriteTxn txn(s.env, s.dir);
        st.generation = allocate_generation(txn.get(), s);
        {
            std::lock_guard<std::mutex> lock(s.rebuilds_mu);
            s.active_rebuilds.insert(st.generation);
        }
        mark_generation(txn.get(), s, st.generation, generation_staged);
        std::uint64_t written = 0;
        st.addresses = st.objects = 0;
        st.append_all(txn, s.addresses, false, st.address_run, st.address_extents, written,
                      st.addresses);
        st.append_all(txn, s.objects, true, st.object_run, st.object_extents, written, st.objects);
        txn.commit(s.dir);
    }
    st.release_inputs();
    st.broken = false;
    st.staged = true;
}

bool Rebuild::apply_in_place(MDB_txn* txn) {
    State& st = *st_;
    if (!st.in_place) return false;
    auto& s = st.store.impl();
    // The differences hold only against the list they were computed from: nothing may have
    // been committed since (this transaction's id is the next one).
    if (mdb_txn_id(txn) != st.diffed_at + 1) {
        throw StoreError(StoreError::Kind::other,
                         "the store changed between Rebuild::stage() and Writer::adopt() of "
                         "tenant " +
                             st.tenant + "; nothing applied");
    }
    const std::string prefix = generation_prefix(st.generation);
    std::string key;
    const auto apply = [&](MDB_dbi dbi, const std::vector<Change>& changes) {
        for (const auto& c : changes) {
            key.assign(prefix).append(c.key);
            if (c.erase) {
                del(txn, dbi, key, s.dir);
            } else {
                put(txn, dbi, key, c.value, s.dir);
            }
        }
    };
    apply(s.addresses, st.address_changes);
    apply(s.objects, st.object_changes);
    st.address_changes.clear();
    st.object_changes.clear();
    return true;
}

}  // namespace m365gate::store
