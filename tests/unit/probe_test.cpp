// The probe index (store/probe.cpp): contains() must give find()'s answer through every way a
// list changes, and fall back to the B-tree where the index is missing, stale or damaged.
#include <lmdb.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iterator>
#include <map>
#include <random>
#include <set>
#include <string>

#include "store/store.h"
#include "store/store_internal.h"  // siphash24: checked against the reference vectors
#include "tests/unit/temp_dir.h"

namespace fs = std::filesystem;
using namespace m365gate::store;

namespace {

using m365gate::testing::TempDir;

StoreOptions options(bool read_only) {
    StoreOptions o;
    o.max_size = 1ull << 30;
    o.read_only = read_only;
    return o;
}

std::string addr(int i) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "user%05d@contoso.example", i);
    return buf;
}

// The model: object id -> addresses; a list is published from it, deltas edit it.
using Model = std::map<std::string, std::vector<std::string>>;

TenantList list_of(const Model& m) {
    TenantList l;
    l.tenant = "contoso";
    l.domains = {"contoso.example"};
    l.state.last_success = 1700000000;
    for (const auto& [id, addresses] : m) {
        TenantObject o;
        o.id = id;
        o.addresses = addresses;
        l.objects.push_back(o);
    }
    return l;
}

// publish() as a full sync does it, but always into a new generation, staged in write
// transactions of 100 keys (the index is built in the last one).
void publish_new_generation(Store& store, const TenantList& list) {
    WriterLock lock(store);
    RebuildOptions o;
    o.in_place_limit = 0;
    o.chunk = 100;
    Rebuild rebuild(store, list.tenant, o);
    for (const auto& obj : list.objects) rebuild.put_object(obj.kind, obj.id, obj.addresses);
    rebuild.stage();
    REQUIRE_FALSE(rebuild.in_place());
    Writer w(store);
    w.adopt(rebuild);
    w.set_domains(list.tenant, list.domains);
    w.commit();
    reclaim(store);
}

std::set<std::string> members(const Model& m) {
    std::set<std::string> out;
    for (const auto& [id, addresses] : m) out.insert(addresses.begin(), addresses.end());
    return out;
}

// Every address of the universe: contains() == find() == the model. Returns the mismatches.
int mismatches(const Store& store, const Model& m, int universe) {
    const auto want = members(m);
    Snapshot snap(store);
    int bad = 0;
    for (int i = 0; i < universe; ++i) {
        const std::string a = addr(i);
        const bool expected = want.count(a) == 1;
        if (snap.contains("contoso", a) != expected) ++bad;
        if (snap.find("contoso", a).has_value() != expected) ++bad;
    }
    return bad;
}

// One write transaction on one database of the store, with LMDB alone (no Store may be open).
class RawWrite {
public:
    RawWrite(const fs::path& dir, const char* db) {
        REQUIRE(mdb_env_create(&env_) == 0);
        mdb_env_set_maxdbs(env_, 8);
        REQUIRE(mdb_env_open(env_, dir.c_str(), 0, 0640) == 0);
        REQUIRE(mdb_txn_begin(env_, nullptr, 0, &txn_) == 0);
        REQUIRE(mdb_dbi_open(txn_, db, 0, &dbi_) == 0);
    }
    ~RawWrite() {
        if (txn_ != nullptr) mdb_txn_abort(txn_);
        mdb_env_close(env_);
    }
    void put(const std::string& key, const std::string& value) {
        MDB_val k{key.size(), const_cast<char*>(key.data())};
        MDB_val v{value.size(), const_cast<char*>(value.data())};
        REQUIRE(mdb_put(txn_, dbi_, &k, &v, 0) == 0);
    }
    std::vector<std::string> keys() {
        MDB_cursor* c = nullptr;
        REQUIRE(mdb_cursor_open(txn_, dbi_, &c) == 0);
        MDB_val k{}, v{};
        std::vector<std::string> out;
        for (int rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
             rc = mdb_cursor_get(c, &k, &v, MDB_NEXT))
            out.emplace_back(static_cast<const char*>(k.mv_data), k.mv_size);
        mdb_cursor_close(c);
        return out;
    }
    void commit() {
        REQUIRE(mdb_txn_commit(txn_) == 0);
        txn_ = nullptr;
    }

private:
    MDB_env* env_ = nullptr;
    MDB_txn* txn_ = nullptr;
    MDB_dbi dbi_ = 0;
};

void set_schema(const fs::path& dir, const char* version) {
    RawWrite w(dir, "meta");
    w.put("schema", version);
    w.commit();
}

// Overwrites every probe record of length `key_size` with `value`; returns how many.
int overwrite_probe(const fs::path& dir, std::size_t key_size, const std::string& value) {
    RawWrite w(dir, "probe");
    int n = 0;
    for (const auto& key : w.keys()) {
        if (key.size() != key_size) continue;
        w.put(key, value);
        ++n;
    }
    w.commit();
    return n;
}

}  // namespace

TEST_CASE("SipHash-2-4 gives the reference vectors", "[store][probe]") {
    // Aumasson & Bernstein, "SipHash: a fast short-input PRF", appendix A: key 00..0f,
    // message 00..(n-1).
    const std::uint64_t k0 = 0x0706050403020100ull, k1 = 0x0f0e0d0c0b0a0908ull;
    std::string msg;
    for (int i = 0; i < 15; ++i) msg.push_back(static_cast<char>(i));
    CHECK(detail::siphash24(k0, k1, msg.substr(0, 0)) == 0x726fdb47dd0e0e31ull);
    CHECK(detail::siphash24(k0, k1, msg.substr(0, 1)) == 0x74f839c593dc67fdull);
    CHECK(detail::siphash24(k0, k1, msg.substr(0, 8)) == 0x93f5f5799a932462ull);
    CHECK(detail::siphash24(k0, k1, msg.substr(0, 15)) == 0xa129ca6149be45e5ull);
}

TEST_CASE("contains() from the probe index answers as find() through every kind of change",
          "[store][probe]") {
    TempDir dir;
    constexpr int universe = 3000;
    std::mt19937 rng(7);
    Model m;
    {
        Store store(dir.path(), options(false));
        for (int i = 0; i < 1000; ++i) m["obj-" + std::to_string(i)] = {addr(i)};
        publish(store, list_of(m));
        {
            Snapshot snap(store);
            REQUIRE(snap.indexed("contoso"));
        }
        REQUIRE(mismatches(store, m, universe) == 0);

        int next_object = 1000;
        bool indexed = true;
        for (int round = 0; round < 12; ++round) {
            const int kind = round % 4;
            std::uniform_int_distribution<int> pick(0, universe - 1);
            if (kind == 0) {  // deltas: new objects, aliases added, dropped and moved, removals
                Writer w(store);
                auto in_use = members(m);
                const auto unused_address = [&] {
                    for (;;) {
                        std::string a = addr(pick(rng));
                        if (in_use.insert(a).second) return a;
                    }
                };
                const auto some_object = [&]() -> std::string {
                    auto it = m.begin();
                    std::advance(it,
                                 std::uniform_int_distribution<std::size_t>(0, m.size() - 1)(rng));
                    return it->first;
                };
                for (int j = 0; j < 60 && !m.empty(); ++j) {
                    const std::string id = some_object();
                    auto& list = m[id];
                    switch (j % 5) {
                        case 0:  // removed
                            m.erase(id);
                            w.remove_object("contoso", id);
                            break;
                        case 1: {  // a new object
                            const std::string nid = "obj-" + std::to_string(next_object++);
                            m[nid] = {unused_address()};
                            w.put_object("contoso", ObjectKind::user, nid, m[nid]);
                            break;
                        }
                        case 2:  // an alias added
                            list.push_back(unused_address());
                            w.put_object("contoso", ObjectKind::user, id, list);
                            break;
                        case 3:  // an alias dropped
                            if (list.size() > 1) {
                                list.pop_back();
                                w.put_object("contoso", ObjectKind::group, id, list);
                            }
                            break;
                        default: {  // an address moves: the new owner is written first
                            const std::string to = some_object();
                            if (to == id || list.size() < 2) break;
                            const std::string moved = list.back();
                            list.pop_back();
                            m[to].push_back(moved);
                            w.put_object("contoso", ObjectKind::user, to, m[to]);
                            w.put_object("contoso", ObjectKind::user, id, list);
                            break;
                        }
                    }
                }
                w.commit();
            } else if (kind == 1) {  // a full resync with a few changes: applied in place
                auto in_use = members(m);
                for (int j = 0; j < 30; ++j) {
                    const std::string a = addr(pick(rng));
                    if (in_use.insert(a).second) m["obj-" + std::to_string(next_object++)] = {a};
                }
                for (int j = 0; j < 30; ++j)
                    m.erase("obj-" + std::to_string(pick(rng) % next_object));
                publish(store, list_of(m));
            } else if (kind == 2) {  // everything changed: a new generation, the old reclaimed
                Model fresh;
                for (int j = 0; j < 900; ++j)
                    fresh["obj-" + std::to_string(next_object++)] = {
                        addr((j * 7 + round) % universe)};
                m = fresh;
                publish_new_generation(store, list_of(m));
            } else {  // cleared, then rebuilt by deltas: no index until the next full resync
                Writer w(store);
                w.clear_tenant("contoso");
                m.clear();
                for (int j = 0; j < 50; ++j) {
                    const std::string id = "obj-" + std::to_string(next_object++);
                    m[id] = {addr(j * 11)};
                    w.put_object("contoso", ObjectKind::user, id, m[id]);
                }
                w.commit();
                Snapshot snap(store);
                CHECK_FALSE(snap.indexed("contoso"));
            }
            INFO("round " << round << " kind " << kind);
            CHECK(mismatches(store, m, universe) == 0);
            // Deltas keep whatever the list had; a full resync always leaves an index.
            if (kind == 1 || kind == 2) indexed = true;
            if (kind == 3) indexed = false;
            CHECK(Snapshot(store).indexed("contoso") == indexed);
        }
        // After the cleared list, the next full resync (in place) builds the index.
        publish(store, list_of(m));
        {
            Snapshot snap(store);
            CHECK(snap.indexed("contoso"));
            // reclaim() deleted the index of every generation it deleted: one is left.
            CHECK(snap.totals().unused_generations == 0);
            CHECK(snap.totals().probe_generations == 1);
        }
    }
    // What the milter sees (one environment per process: the writer's handle goes first).
    Store store(dir.path(), options(true));
    CHECK(Snapshot(store).indexed("contoso"));
    CHECK(mismatches(store, m, universe) == 0);
}

TEST_CASE("a damaged probe record is answered from the B-tree", "[store][probe]") {
    TempDir dir;
    Model m;
    for (int i = 0; i < 500; ++i) m["obj-" + std::to_string(i)] = {addr(2 * i)};
    {
        Store store(dir.path(), options(false));
        publish(store, list_of(m));
    }
    SECTION("buckets of the wrong size") {
        REQUIRE(overwrite_probe(dir.path(), 8, "xyz") > 0);
        Store reader(dir.path(), options(true));
        CHECK(Snapshot(reader).indexed("contoso"));
        CHECK(mismatches(reader, m, 1000) == 0);
    }
    SECTION("a header that is not one") {
        REQUIRE(overwrite_probe(dir.path(), 4, "garbage") == 1);
        Store reader(dir.path(), options(true));
        CHECK_FALSE(Snapshot(reader).indexed("contoso"));
        CHECK(mismatches(reader, m, 1000) == 0);
    }
}

TEST_CASE("a store of schema 1 is read without the index and upgraded by the writer",
          "[store][probe]") {
    TempDir dir;
    Model m;
    for (int i = 0; i < 500; ++i) m["obj-" + std::to_string(i)] = {addr(i)};
    {
        Store store(dir.path(), options(false));
        publish(store, list_of(m));
    }
    // What a version-1 writer could leave: its own edits, and probe records it did not keep
    // up (here: every bucket emptied, so the index would say "unknown" for everybody).
    overwrite_probe(dir.path(), 8, "");
    set_schema(dir.path(), "1");
    {
        Store reader(dir.path(), options(true));
        CHECK_FALSE(Snapshot(reader).indexed("contoso"));
        CHECK(mismatches(reader, m, 1000) == 0);
    }
    {
        Store writer(dir.path(), options(false));  // upgrades: drops the stale records
        CHECK_FALSE(Snapshot(writer).indexed("contoso"));
        CHECK(mismatches(writer, m, 1000) == 0);
    }
    {
        Store reader(dir.path(), options(true));
        CHECK_FALSE(Snapshot(reader).indexed("contoso"));
        CHECK(mismatches(reader, m, 1000) == 0);
    }
    {
        Store writer(dir.path(), options(false));
        m["obj-new"] = {addr(999)};
        publish(writer, list_of(m));  // in place: builds the missing index
    }
    Store reader(dir.path(), options(true));
    CHECK(Snapshot(reader).indexed("contoso"));
    CHECK(mismatches(reader, m, 1000) == 0);
}
