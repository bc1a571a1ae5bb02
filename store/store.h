// store/store.h - the LMDB recipient store shared by the sync worker (sole writer), the milter
// and m365gatectl (readers).
//
// Layout (one environment, named databases; codec.cpp has the byte formats):
//   meta       schema version, generation counter, generations awaiting reclaim
//   tenants    tenant name -> current generation, address and object counts
//   domains    canonical domain -> tenant name
//   state      tenant name -> TenantState
//   addresses  generation + canonical address -> kind + object id
//   objects    generation + object id -> kind + its canonical addresses (for deltas)
// A tenant's list lives under its current generation; a full rebuild writes a new generation
// nobody reads, and one write transaction switches the tenant to it (Writer::adopt).
// Guarantees: a reader sees the old list or the new one, never half; a crash at any point
// leaves the last committed list. Readers never block the writer. Every process maps the
// environment at StoreOptions::max_size (DESIGN "Store"), so the writer never outgrows a
// reader's mapping; the file grows only as data needs, and a write that would pass max_size
// fails with StoreError (kind full), leaving the store as it was.
// Memory: a Rebuild holds one run of its input (a few MiB) and spills the rest to a temporary
// file, and each of its write transactions holds a bounded number of pages, so a full sync
// of any size fits in bounded memory. A Writer (delta, state) is one ordinary transaction.
// A read transaction lives for one Snapshot: take one per decision, never across callbacks.
// Thread safety: Store is shared by all threads; Snapshot, Writer and Rebuild belong to one
// thread at a time.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "common/unique_fd.h"
#include "store/txn.h"

struct MDB_txn;  // lmdb.h

namespace m365gate::store {

// Version 1 and 2 have the same layout (2 had a probe index, since removed: docs/decisions.md);
// a writer marks a store of version 1 as 2 and empties that index; readers read both.
inline constexpr int schema_version = 2;

class StoreError : public std::runtime_error {
public:
    // limit: a bound the caller set was reached (RebuildOptions::max_spill_bytes).
    enum class Kind { io, schema, full, corrupt, limit, other };
    StoreError(Kind kind, const std::string& what) : std::runtime_error(what), kind_(kind) {}
    Kind kind() const noexcept { return kind_; }

private:
    Kind kind_;
};
const char* to_string(StoreError::Kind k);  // "io", "schema", "full", "corrupt", "limit", "other"

enum class ObjectKind : std::uint8_t { user = 1, group = 2, contact = 3, extra = 4 };
const char* to_string(ObjectKind k);

struct Recipient {
    std::string tenant;
    ObjectKind kind = ObjectKind::user;
    std::string object_id;  // Graph object id; "extra_recipients" / "extra_recipients_file"
};

// Per-tenant state, readable by every process. Times are Unix seconds, 0 = never.
struct TenantState {
    std::int64_t last_attempt = 0;
    std::int64_t last_success = 0;
    std::int64_t last_full_sync = 0;
    std::uint64_t address_count = 0;
    std::uint64_t domain_count = 0;
    std::uint64_t object_count = 0;
    std::string last_sync_kind;                      // "full" | "delta" | ""
    std::map<std::string, std::string> delta_links;  // "users" | "groups" | "contacts" -> URL
    std::int64_t secret_expires = 0;
    std::string secret_expires_source;  // "credential_file" | "config" | "graph" | ""
    std::string secret_fingerprint;     // non-reversible id of the secret in use (rotation)
    // From Graph when the application could be read ("" otherwise): its displayName, and the
    // displayName and keyId of the passwordCredential that matched the secret in use.
    std::string app_name;
    std::string secret_name;
    std::string secret_key_id;
    std::string last_error;          // one sentence, never a secret; "" after success
    std::string last_error_kind;     // sync::SyncResult::error_kind ("token", "consent"...)
    std::string last_error_code;     // "7000222" (AADSTS), Graph error code, ...
    std::int64_t failing_since = 0;  // first failed attempt since the last success
    std::map<std::string, std::int64_t> alerts_sent;  // alert key -> when it was sent
    // The date in the credential file or the config (0: none) and where from, kept beside the
    // one in use: when Graph answers, Graph's date is secret_expires and this one, if it
    // differs, is only a warning (local_expiry_disagrees()).
    std::int64_t secret_expires_local = 0;
    std::string secret_expires_local_source;  // "credential_file" | "config" | ""
    std::int64_t last_token_success = 0;      // last token request that succeeded: sign-in works
};

// Graph gave the expiry and the local date is more than a day away from it (a date-only
// local value is midnight UTC, Graph's carries a time of day).
inline bool local_expiry_disagrees(const TenantState& s) {
    const std::int64_t d = s.secret_expires_local - s.secret_expires;
    return s.secret_expires_source == "graph" && s.secret_expires_local != 0 &&
           s.secret_expires != 0 && (d > 86400 || d < -86400);
}
// The last attempt signed in (its token request succeeded): whatever a date says, the
// credential has not expired.
inline bool sign_in_works(const TenantState& s) {
    return s.last_token_success != 0 && s.last_token_success >= s.last_attempt;
}

struct StoreOptions {
    std::uint64_t max_size = 4ull << 30;
    bool read_only = false;  // readers (milter, ctl): MDB_RDONLY; never creates anything
    bool create = true;      // writer: create the directory and an empty store if missing
};

// One directory object and its canonical addresses.
struct TenantObject {
    ObjectKind kind = ObjectKind::user;
    std::string id;
    std::vector<std::string> addresses;  // canonical
};

class Snapshot;
class Writer;
class Rebuild;

class Store {
public:
    // Opens (or, for a writer with create, creates) the environment in directory `dir`.
    // Throws StoreError: missing/unreadable (io), unknown schema version (schema), corrupt.
    Store(const std::filesystem::path& dir, const StoreOptions& options);
    ~Store();
    Store(const Store&) = delete;
    Store& operator=(const Store&) = delete;

    const std::filesystem::path& dir() const noexcept { return dir_; }
    bool read_only() const noexcept { return read_only_; }
    std::uint64_t file_size() const;  // bytes of data.mdb on disk
    // Reader slots taken in lock.mdb, by every process (diagnostics; reclaim() frees those of
    // dead processes).
    std::size_t reader_slots() const;
    // Checks every page of the current snapshot again, as opening does (store/verify.h), with
    // pread, never through the mapping: "" when sound, else the first problem. The sync worker
    // runs it after each round, so damage done to the file while it is open is found before
    // another process opens it. Reads the whole file.
    std::string check_pages() const;

    struct Impl;  // store_internal.h only
    Impl& impl() const noexcept { return *impl_; }

private:
    std::filesystem::path dir_;
    bool read_only_;
    std::unique_ptr<Impl> impl_;
};

// One read transaction. Returned values are owned copies (an LMDB view dies with its txn).
class Snapshot {
public:
    explicit Snapshot(const Store& store);
    ~Snapshot();
    Snapshot(const Snapshot&) = delete;
    Snapshot& operator=(const Snapshot&) = delete;

    std::optional<std::string> tenant_of_domain(std::string_view canonical_domain) const;
    // Hot path of the decision: only the last successful sync time (0 = never synced);
    // nullopt when the tenant has no state at all.
    std::optional<std::int64_t> last_success(std::string_view tenant) const;
    std::optional<TenantState> tenant_state(std::string_view tenant) const;
    std::optional<Recipient> find(std::string_view tenant,
                                  std::string_view canonical_address) const;
    // find() without building the Recipient: the milter's hot path (no allocation).
    bool contains(std::string_view tenant, std::string_view canonical_address) const;
    // Keys in the store as a whole, every tenant and generation together (diagnostics):
    // more address entries than the tenants' counts add up to means reclaim() has work left.
    struct Totals {
        std::uint64_t address_entries = 0;
        std::uint64_t object_entries = 0;
        std::uint64_t unused_generations = 0;  // staged or retired, awaiting reclaim()
    };
    Totals totals() const;
    std::vector<std::string> tenants() const;                         // tenants with state
    std::vector<std::string> domains(std::string_view tenant) const;  // sorted
    std::uint64_t address_count(std::string_view tenant) const;
    // Every address of the tenant in key order; stop early by returning false.
    void for_each_address(
        std::string_view tenant,
        const std::function<bool(std::string_view address, const Recipient& r)>& fn) const;

private:
    const Store& store_;
    ReadTxn txn_;  // from the store's ReaderPool: renewed here, reset and returned on destruction
};

// One write transaction; aborted unless commit() ran (a throw leaves the old list).
class Writer {
public:
    explicit Writer(Store& store);
    ~Writer();
    Writer(const Writer&) = delete;
    Writer& operator=(const Writer&) = delete;

    // Empties the tenant's list: it gets a new, empty generation, and the old one's keys are
    // left to reclaim() (so this is cheap however large the list).
    void clear_tenant(std::string_view tenant);
    // Makes `rebuild`'s list the tenant's list in this transaction (its counts included); the
    // previous generation is left to reclaim(). The Rebuild must be staged (stage() writes in
    // transactions of its own, which cannot start while this Writer's is open).
    void adopt(Rebuild& rebuild);
    // Removes everything of the tenant: addresses and objects (via reclaim()), domains, state.
    void remove_tenant(std::string_view tenant);
    // Replaces the tenant's managed domains. A domain owned by another tenant is skipped and
    // returned, so the caller can warn.
    std::vector<std::string> set_domains(std::string_view tenant,
                                         const std::vector<std::string>& domains);
    // Replaces the addresses of one object (canonical addresses; duplicates are fine).
    // Addresses the object held before and does not hold now are removed, unless another
    // object of the tenant holds them now.
    void put_object(std::string_view tenant, ObjectKind kind, std::string_view object_id,
                    const std::vector<std::string>& canonical_addresses);
    void remove_object(std::string_view tenant, std::string_view object_id);
    // The addresses an object holds now (empty when unknown).
    std::vector<std::string> object_addresses(std::string_view tenant,
                                              std::string_view object_id) const;

    std::optional<TenantState> tenant_state(std::string_view tenant) const;
    void put_state(std::string_view tenant, const TenantState& state);
    std::uint64_t address_count(std::string_view tenant) const;
    std::uint64_t object_count(std::string_view tenant) const;
    std::vector<std::string> tenants() const;

    void commit();  // throws StoreError (full: store.max_size reached; nothing changed)

    struct Txn;  // writer.cpp only

private:
    Store& store_;
    std::unique_ptr<Txn> txn_;
};

// A tenant's complete new list, built where no reader looks. put_object() in any order;
// records are sorted in runs of bounded size, spilled to an unlinked temporary file in the
// store directory and merged by stage(): either into the few differences to the tenant's
// current list (in place, see RebuildOptions), or appended under a fresh generation in write
// transactions of at most `chunk` keys each. Nothing is visible until Writer::adopt().
// Abandoned (a throw, a refused shrink, a crash), it changes nothing a reader sees, and
// reclaim() deletes what it staged. Needs the process to hold the store's WriterLock, and
// nothing may write the store between stage() and adopt() (adopt() then refuses).
struct RebuildOptions {
    std::size_t chunk = 50000;  // keys per write transaction while staging
    // A tenant that already has a list is rebuilt in place when the new list differs from it
    // in at most this many keys (addresses and objects): no second copy of the list on disk,
    // and the differences are applied in adopt()'s transaction. 0: always a new generation.
    std::size_t in_place_limit = 5000;
    // Bytes the spill file may reach; a put_object() whose spill would pass it throws
    // StoreError (limit) and writes nothing. 0: unbounded.
    std::uint64_t max_spill_bytes = 0;
};

class Rebuild {
public:
    Rebuild(Store& store, std::string_view tenant, const RebuildOptions& options = {});
    ~Rebuild();
    Rebuild(const Rebuild&) = delete;
    Rebuild& operator=(const Rebuild&) = delete;

    const std::string& tenant() const noexcept;
    // Bytes written to the spill file so far (never more than max_spill_bytes).
    std::uint64_t spill_bytes() const noexcept;
    // Adds one directory object and its canonical addresses (empty and '\n'-holding addresses
    // are dropped; an address held by two objects keeps the first). Throws StoreError (io)
    // when the spill file cannot be written, (limit) when it would pass max_spill_bytes.
    void put_object(ObjectKind kind, std::string_view object_id,
                    const std::vector<std::string>& canonical_addresses);
    // Writes everything into the new generation (idempotent); call it while no Writer of
    // this process is open. Throws StoreError (full: the store reached max_size; nothing
    // visible changed).
    void stage();
    // After stage(): what the new list holds, and whether it will be applied in place.
    std::uint64_t address_count() const noexcept;
    std::uint64_t object_count() const noexcept;
    bool in_place() const noexcept;

    struct State;  // rebuild.cpp only

private:
    friend class Writer;
    std::uint32_t generation() const noexcept;  // after stage()
    // In place: applies the differences to the current generation in the Writer's `txn`.
    // False when this Rebuild wrote a new generation instead.
    bool apply_in_place(MDB_txn* txn);
    std::unique_ptr<State> st_;
};

// Clears the reader slots of dead processes, then deletes the keys of generations that no
// tenant uses any more (replaced, removed, or staged by a Rebuild that never got adopted), at
// most `chunk` keys per write transaction. Returns how many address and object keys it deleted
// Needs the WriterLock;
// skips a Rebuild in progress in this process.
std::uint64_t reclaim(Store& store, std::size_t chunk = 50000);

// One writing process at a time: an exclusive lock on <store>/sync.lock, held for the
// object's lifetime. Blocks while another process holds it. The writer Store only.
class WriterLock {
public:
    explicit WriterLock(const Store& store);
    ~WriterLock();
    WriterLock(const WriterLock&) = delete;
    WriterLock& operator=(const WriterLock&) = delete;
    bool waited() const noexcept { return waited_; }  // another process held it first

private:
    UniqueFd fd_;
    bool waited_ = false;
};

// A tenant's complete list, for publish() (tests, benchmarks, tools).
struct TenantList {
    std::string tenant;
    std::vector<std::string> domains;
    std::vector<TenantObject> objects;
    TenantState state;
};
// Replaces the tenant's previous list (domains, addresses, objects, state) and nobody else's:
// a Rebuild adopted in one write transaction, then reclaim(). Takes the WriterLock.
void publish(Store& store, const TenantList& list);

// State codec, exposed for tests and m365gatectl --json.
std::string encode_state(const TenantState& s);
std::optional<TenantState> decode_state(std::string_view bytes);

}  // namespace m365gate::store
