// store/store_internal.h - what the files of store/ share: env.cpp (the environment, LMDB
// calls), codec.cpp (byte formats), snapshot.cpp, writer.cpp, reclaim.cpp (generations),
// rebuild.cpp. Not part of the store's interface: nothing outside store/
// includes it, but the store's unit tests.
//
// Generations: every tenant's keys in "addresses" and "objects" start with a 4-byte big-endian
// generation number, allocated from meta "next_tenant_id" and only ever growing, so the newest
// generation's keys sort after every other key (a Rebuild can append). meta "gen:" + generation
// marks a generation no tenant reads: 'S' staged by a Rebuild not yet adopted, 'R' retired
// (replaced or removed). reclaim() deletes the keys of marked generations, then the mark.
#pragma once

#include <lmdb.h>

#include <algorithm>
#include <cstddef>
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
    MDB_dbi meta = 0, tenants = 0, domains = 0, state = 0, addresses = 0, objects = 0;
    std::filesystem::path dir;

    ReaderPool readers;  // emptied before the environment is closed

    // Where this process maps data.mdb (writer only; found in /proc/self/maps, since
    // mdb_env_info() gives the address only with MDB_FIXEDMAP). nullptr when unknown.
    void* map_base = nullptr;
    std::size_t map_length = 0;

    // Generations a Rebuild of this process is writing: reclaim() leaves them alone.
    std::mutex rebuilds_mu;
    std::set<std::uint32_t> active_rebuilds;

    // The writer walks whole lists (a rebuild's diff, reclaim()): LMDB's map is read-only
    // (no MDB_WRITEMAP), so dropping this process's mapping of the file's pages is safe and
    // keeps its resident size bounded; the pages stay in the page cache. Writer only.
    void drop_mapped_pages() noexcept;
    ~Impl();
};

namespace detail {

inline constexpr char generation_staged = 'S';
inline constexpr char generation_retired = 'R';
// meta keys of marked generations: this + generation_prefix() (reclaim.cpp).
inline constexpr std::string_view generation_key_prefix = "gen:";

// StoreError for LMDB's error `rc`, its kind from the code (env.cpp).
[[noreturn]] void throw_mdb(int rc, const std::string& what);
[[noreturn]] void throw_call(int rc, const char* call, const std::filesystem::path& dir);
// Throws StoreError "<call> (<dir>): <LMDB's message>" unless `rc` is MDB_SUCCESS. Inline: the
// readers' hot path calls it after every lookup.
inline void check(int rc, const char* call, const std::filesystem::path& dir) {
    if (rc != MDB_SUCCESS) throw_call(rc, call, dir);
}

inline MDB_val to_val(std::string_view s) { return MDB_val{s.size(), const_cast<char*>(s.data())}; }
inline std::string_view to_view(const MDB_val& v) {
    return std::string_view(static_cast<const char*>(v.mv_data), v.mv_size);
}

inline bool starts_with(std::string_view s, std::string_view prefix) {
    return s.size() >= prefix.size() && s.compare(0, prefix.size(), prefix) == 0;
}

// The records' byte formats (codec.cpp has them all).

template <typename T>
void put_le(std::string& out, T v) {
    for (std::size_t i = 0; i < sizeof(T); ++i) out.push_back(char((v >> (8 * i)) & 0xff));
}
template <typename T>
T get_le(std::string_view in, std::size_t at) {
    T v = 0;
    for (std::size_t i = 0; i < sizeof(T); ++i)
        v |= T(static_cast<unsigned char>(in[at + i])) << (8 * i);
    return v;
}

// The 4-byte big-endian generation every key of "addresses" and "objects" starts with.
inline std::string generation_prefix(std::uint32_t generation) {
    std::string p(4, '\0');
    p[0] = char(generation >> 24);
    p[1] = char(generation >> 16);
    p[2] = char(generation >> 8);
    p[3] = char(generation);
    return p;
}
// The generation a key starting with generation_prefix() belongs to (needs 4 bytes).
inline std::uint32_t generation_of(std::string_view key) {
    std::uint32_t g = 0;
    for (std::size_t i = 0; i < 4; ++i) g = g << 8 | static_cast<unsigned char>(key[i]);
    return g;
}

// "0f1e...-..." (lowercase canonical GUID) -> 0x01 + 16 bytes; anything else -> 0x02 + text.
std::string encode_object_id(std::string_view id);
std::string decode_object_id(std::string_view enc);

// A record of "tenants".
struct TenantRec {
    std::uint32_t id = 0;  // current generation
    std::uint64_t addresses = 0;
    std::uint64_t objects = 0;
};
std::string encode_rec(const TenantRec& r);
std::optional<TenantRec> decode_rec(std::string_view in);  // nullopt: not 20 bytes

// A value of "addresses" (kind + encoded object id); nullopt when malformed.
std::optional<Recipient> decode_recipient(std::string_view tenant, std::string_view value);
// The '\n'-joined addresses of a value of "objects" (after its kind byte).
std::vector<std::string> split_lines(std::string_view s);
// last_success from a value of "state" without parsing its JSON (the decision's hot path);
// nullopt when the value is not a state record.
std::optional<std::int64_t> decode_last_success(std::string_view state);

// An object's addresses as the store keeps them: sorted, each once, none empty and none with a
// '\n' (the separator of the objects record). Writer and Rebuild both store lists this way.
template <typename Text>
void tidy_addresses(std::vector<Text>& list) {
    std::sort(list.begin(), list.end());
    list.erase(std::unique(list.begin(), list.end()), list.end());
    list.erase(
        std::remove_if(list.begin(), list.end(),
                       [](const Text& a) { return a.empty() || a.find('\n') != Text::npos; }),
        list.end());
}

// One key of one database (env.cpp). get(): nullopt when missing, else a view into the map
// (valid until the transaction ends or writes). del(): false when missing.
std::optional<std::string_view> get(MDB_txn* txn, MDB_dbi dbi, std::string_view key,
                                    const std::filesystem::path& dir);
void put(MDB_txn* txn, MDB_dbi dbi, std::string_view key, std::string_view value,
         const std::filesystem::path& dir);
bool del(MDB_txn* txn, MDB_dbi dbi, std::string_view key, const std::filesystem::path& dir);

// Reads shared by Snapshot and Writer (snapshot.cpp).
std::optional<TenantRec> read_rec(MDB_txn* txn, const Store::Impl& s, std::string_view tenant);
std::optional<TenantState> read_state(MDB_txn* txn, const Store::Impl& s, std::string_view tenant);
std::vector<std::string> read_tenants(MDB_txn* txn, const Store::Impl& s);  // in key order
std::vector<std::string> read_domains(MDB_txn* txn, const Store::Impl& s, std::string_view tenant);

// Generations (reclaim.cpp). A new generation number (meta "next_tenant_id").
std::uint32_t allocate_generation(MDB_txn* txn, const Store::Impl& s);
// meta "gen:<generation>" = mark, or no mark.
void mark_generation(MDB_txn* txn, const Store::Impl& s, std::uint32_t generation, char mark);
void unmark_generation(MDB_txn* txn, const Store::Impl& s, std::uint32_t generation);
// Deletes at most `limit` keys of `dbi` starting with `prefix`; returns how many. Sets `done`
// when no such key is left.
std::uint64_t delete_prefix(MDB_txn* txn, MDB_dbi dbi, std::string_view prefix, std::uint64_t limit,
                            bool& done, const std::filesystem::path& dir);

// Cursor that closes itself. It must go before its transaction: LMDB frees a write
// transaction's cursors when the transaction ends, so closing one afterwards is a double free.
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
