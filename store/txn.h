// store/txn.h - the owners of LMDB transactions.
//
// Every transaction the store begins is held by one of these, so that an exception or an early
// return aborts it: nothing begins, tries, catches and aborts by hand. A read transaction taken
// from the ReaderPool goes back to the pool instead (reset, kept for mdb_txn_renew()).
#pragma once

#include <cstddef>
#include <filesystem>
#include <mutex>
#include <vector>

struct MDB_env;  // lmdb.h
struct MDB_txn;

namespace m365gate::store {

class ReaderPool;

// One transaction, aborted (or handed back to its pool) on destruction unless committed.
// Move-only; get() is nullptr once committed, aborted or moved from.
class Txn {
public:
    Txn() = default;
    Txn(Txn&& other) noexcept;
    Txn& operator=(Txn&& other) noexcept;
    Txn(const Txn&) = delete;
    Txn& operator=(const Txn&) = delete;
    ~Txn();

    MDB_txn* get() const noexcept { return txn_; }
    // Commits; throws StoreError on failure. The handle is gone either way (mdb_txn_commit
    // frees it even when it fails). A read transaction is committed too when the database
    // handles it opened must outlive it.
    void commit(const std::filesystem::path& dir);
    void abort() noexcept;

protected:
    Txn(MDB_env* env, unsigned flags, const std::filesystem::path& dir);
    Txn(MDB_txn* pooled, ReaderPool& pool) noexcept : txn_(pooled), pool_(&pool) {}

private:
    MDB_txn* txn_ = nullptr;
    ReaderPool* pool_ = nullptr;  // set: returned to this pool instead of aborted
};

class ReadTxn : public Txn {
public:
    ReadTxn() = default;
    ReadTxn(MDB_env* env, const std::filesystem::path& dir);

private:
    friend class ReaderPool;
    ReadTxn(MDB_txn* pooled, ReaderPool& pool) noexcept : Txn(pooled, pool) {}
};

class WriteTxn : public Txn {
public:
    WriteTxn() = default;
    WriteTxn(MDB_env* env, const std::filesystem::path& dir);
};

// Read transactions that are reset, kept for renewal: mdb_txn_renew() is much cheaper than
// mdb_txn_begin() (no allocation), and the milter takes one per RCPT. The environment is
// opened with MDB_NOTLS so a reset transaction may be renewed on any thread. clear() must run
// before the environment is closed.
class ReaderPool {
public:
    ReaderPool() = default;
    ReaderPool(const ReaderPool&) = delete;
    ReaderPool& operator=(const ReaderPool&) = delete;
    ~ReaderPool() { clear(); }

    ReadTxn acquire(MDB_env* env, const std::filesystem::path& dir);
    void give_back(MDB_txn* txn) noexcept;  // resets it: old pages are no longer pinned
    void clear() noexcept;

private:
    std::mutex mu_;
    std::vector<MDB_txn*> idle_;
};

}  // namespace m365gate::store
