// store/store_internal.h - what store.cpp and rebuild.cpp share. Not part of the store's
// interface: nothing outside store/ includes it.
//
// Generations: every tenant's keys in "addresses" and "objects" start with a 4-byte big-endian
// generation number, allocated from meta "next_tenant_id" and only ever growing, so the newest
// generation's keys sort after every other key (a Rebuild can append). meta "gen:" + generation
// marks a generation no tenant reads: 'S' staged by a Rebuild not yet adopted, 'R' retired
// (replaced or removed). reclaim() deletes the keys of marked generations, then the mark.
#pragma once

#include <lmdb.h>

#include <cstdint>
#include <filesystem>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "store/store.h"

namespace m365gate::store {

struct Store::Impl {
    MDB_env* env = nullptr;
    // Unique per Impl in this process (never reused, unlike an address): keys the per-thread
    // cache of hot reads in store.cpp together with the snapshot's txnid.
    const std::uint64_t serial = next_serial();
    MDB_dbi meta = 0, tenants = 0, domains = 0, state = 0, addresses = 0, objects = 0;
    std::filesystem::path dir;

    // Read transactions that are reset, kept for renewal: mdb_txn_renew() is much cheaper
    // than mdb_txn_begin() (no allocation), and the milter takes one per RCPT. The environment
    // is opened with MDB_NOTLS so a reset transaction may be renewed on any thread.
    std::mutex readers_mu;
    std::vector<MDB_txn*> idle_readers;

    // Where this process maps data.mdb (writer only; found in /proc/self/maps, since
    // mdb_env_info() gives the address only with MDB_FIXEDMAP). nullptr when unknown.
    void* map_base = nullptr;
    std::size_t map_length = 0;

    // Generations a Rebuild of this process is writing: reclaim() leaves them alone.
    std::mutex rebuilds_mu;
    std::set<std::uint32_t> active_rebuilds;

    static std::uint64_t next_serial() noexcept;
    MDB_txn* acquire_reader();
    void release_reader(MDB_txn* txn) noexcept;
    // The writer walks whole lists (a rebuild's diff, reclaim()): LMDB's map is read-only
    // (no MDB_WRITEMAP), so dropping this process's mapping of the file's pages is safe and
    // keeps its resident size bounded; the pages stay in the page cache. Writer only.
    void drop_mapped_pages() noexcept;
    ~Impl();
};

namespace detail {

inline constexpr char generation_staged = 'S';
inline constexpr char generation_retired = 'R';

[[noreturn]] void throw_mdb(int rc, const std::string& what);
void check(int rc, const char* call, const std::filesystem::path& dir);

inline MDB_val to_val(std::string_view s) { return MDB_val{s.size(), const_cast<char*>(s.data())}; }
inline std::string_view to_view(const MDB_val& v) {
    return std::string_view(static_cast<const char*>(v.mv_data), v.mv_size);
}

// "0f1e...-..." (lowercase canonical GUID) -> 0x01 + 16 bytes; anything else -> 0x02 + text.
std::string encode_object_id(std::string_view id);
std::string generation_prefix(std::uint32_t generation);

std::optional<std::string_view> get(MDB_txn* txn, MDB_dbi dbi, std::string_view key,
                                    const std::filesystem::path& dir);
void put(MDB_txn* txn, MDB_dbi dbi, std::string_view key, std::string_view value,
         const std::filesystem::path& dir);
bool del(MDB_txn* txn, MDB_dbi dbi, std::string_view key, const std::filesystem::path& dir);

// A new generation number (meta "next_tenant_id").
std::uint32_t allocate_generation(MDB_txn* txn, const Store::Impl& s);
// meta "gen:<generation>" = mark, or no mark.
void mark_generation(MDB_txn* txn, const Store::Impl& s, std::uint32_t generation, char mark);
void unmark_generation(MDB_txn* txn, const Store::Impl& s, std::uint32_t generation);

// Cursor that closes itself (before its transaction ends: lmdbxx#22).
class Cursor {
public:
    Cursor(MDB_txn* txn, MDB_dbi dbi, const std::filesystem::path& dir) {
        check(mdb_cursor_open(txn, dbi, &cursor_), "mdb_cursor_open", dir);
    }
    ~Cursor() { mdb_cursor_close(cursor_); }
    Cursor(const Cursor&) = delete;
    Cursor& operator=(const Cursor&) = delete;
    MDB_cursor* get() const noexcept { return cursor_; }

private:
    MDB_cursor* cursor_ = nullptr;
};

}  // namespace detail
}  // namespace m365gate::store
