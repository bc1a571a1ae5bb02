// store/txn.cpp - see txn.h.
#include "store/txn.h"

#include <lmdb.h>

#include <utility>

#include "store/store_internal.h"

namespace m365gate::store {

namespace {

// Enough for the milter's threads; more idle transactions would only hold reader slots.
constexpr std::size_t max_idle_readers = 256;

}  // namespace

Txn::Txn(MDB_env* env, unsigned flags, const std::filesystem::path& dir) {
    detail::check(mdb_txn_begin(env, nullptr, flags, &txn_), "mdb_txn_begin", dir);
}

Txn::Txn(Txn&& other) noexcept
    : txn_(std::exchange(other.txn_, nullptr)), pool_(std::exchange(other.pool_, nullptr)) {}

Txn& Txn::operator=(Txn&& other) noexcept {
    if (this != &other) {
        abort();
        txn_ = std::exchange(other.txn_, nullptr);
        pool_ = std::exchange(other.pool_, nullptr);
    }
    return *this;
}

Txn::~Txn() { abort(); }

void Txn::commit(const std::filesystem::path& dir) {
    MDB_txn* t = std::exchange(txn_, nullptr);
    pool_ = nullptr;
    detail::check(mdb_txn_commit(t), "mdb_txn_commit", dir);
}

void Txn::abort() noexcept {
    MDB_txn* t = std::exchange(txn_, nullptr);
    ReaderPool* pool = std::exchange(pool_, nullptr);
    if (t == nullptr) return;
    if (pool != nullptr) {
        pool->give_back(t);
    } else {
        mdb_txn_abort(t);
    }
}

ReadTxn::ReadTxn(MDB_env* env, const std::filesystem::path& dir) : Txn(env, MDB_RDONLY, dir) {}

WriteTxn::WriteTxn(MDB_env* env, const std::filesystem::path& dir) : Txn(env, 0, dir) {}

ReadTxn ReaderPool::acquire(MDB_env* env, const std::filesystem::path& dir) {
    MDB_txn* txn = nullptr;
    {
        std::lock_guard<std::mutex> lock(mu_);
        if (!idle_.empty()) {
            txn = idle_.back();
            idle_.pop_back();
        }
    }
    if (txn != nullptr) {
        const int rc = mdb_txn_renew(txn);
        if (rc == MDB_SUCCESS) return ReadTxn(txn, *this);
        mdb_txn_abort(txn);
        detail::check(rc, "mdb_txn_renew", dir);
    }
    detail::check(mdb_txn_begin(env, nullptr, MDB_RDONLY, &txn), "mdb_txn_begin", dir);
    return ReadTxn(txn, *this);
}

void ReaderPool::give_back(MDB_txn* txn) noexcept {
    mdb_txn_reset(txn);
    std::lock_guard<std::mutex> lock(mu_);
    if (idle_.size() < max_idle_readers) {
        idle_.push_back(txn);
    } else {
        mdb_txn_abort(txn);
    }
}

void ReaderPool::clear() noexcept {
    std::lock_guard<std::mutex> lock(mu_);
    for (MDB_txn* t : idle_) mdb_txn_abort(t);
    idle_.clear();
}

}  // namespace m365gate::store
