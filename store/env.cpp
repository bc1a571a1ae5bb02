// store/env.cpp - the LMDB environment: opening a Store (its checks, its databases, the schema
// version), closing it, the errors of LMDB calls and the small calls every file of the store
// uses, and the WriterLock. store.h has the contract, codec.cpp the byte formats.
#include <fcntl.h>
#include <lmdb.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <system_error>
#include <tuple>
#include <utility>

#include "common/unique_fd.h"
#include "store/store.h"
#include "store/store_internal.h"
#include "store/verify.h"

namespace m365gate::store {

using namespace detail;

namespace {

constexpr unsigned max_readers = 1024;

}  // namespace

namespace detail {

[[noreturn]] void throw_mdb(int rc, const std::string& what) {
    StoreError::Kind kind = StoreError::Kind::other;
    std::string hint;
    switch (rc) {
        case MDB_MAP_FULL:
            kind = StoreError::Kind::full;
            hint = " (the store reached [store] max_size; raise it and restart m365gate-sync)";
            break;
        case MDB_CORRUPTED:
        case MDB_PAGE_NOTFOUND:
        case MDB_INVALID:
        case MDB_VERSION_MISMATCH:
            kind = StoreError::Kind::corrupt;
            break;
        case ENOENT:
        case EACCES:
        case EROFS:
        case EIO:
        case ENOSPC:
            kind = StoreError::Kind::io;
            break;
        default:
            break;
    }
    throw StoreError(kind, what + ": " + mdb_strerror(rc) + hint);
}

void throw_call(int rc, const char* call, const std::filesystem::path& dir) {
    throw_mdb(rc, std::string(call) + " (" + dir.string() + ")");
}

std::optional<std::string_view> get(MDB_txn* txn, MDB_dbi dbi, std::string_view key,
                                    const std::filesystem::path& dir) {
    MDB_val k = to_val(key), v{};
    const int rc = mdb_get(txn, dbi, &k, &v);
    if (rc == MDB_NOTFOUND) return std::nullopt;
    check(rc, "mdb_get", dir);
    return to_view(v);
}

void put(MDB_txn* txn, MDB_dbi dbi, std::string_view key, std::string_view value,
         const std::filesystem::path& dir) {
    MDB_val k = to_val(key), v = to_val(value);
    check(mdb_put(txn, dbi, &k, &v, 0), "mdb_put", dir);
}

bool del(MDB_txn* txn, MDB_dbi dbi, std::string_view key, const std::filesystem::path& dir) {
    MDB_val k = to_val(key);
    const int rc = mdb_del(txn, dbi, &k, nullptr);
    if (rc == MDB_NOTFOUND) return false;
    check(rc, "mdb_del", dir);
    return true;
}

}  // namespace detail

const char* to_string(StoreError::Kind k) {
    switch (k) {
        case StoreError::Kind::io:
            return "io";
        case StoreError::Kind::schema:
            return "schema";
        case StoreError::Kind::full:
            return "full";
        case StoreError::Kind::corrupt:
            return "corrupt";
        case StoreError::Kind::limit:
            return "limit";
        case StoreError::Kind::other:
            break;
    }
    return "other";
}

Store::Impl::~Impl() {
    readers.clear();
    if (env != nullptr) mdb_env_close(env);
}

void Store::Impl::drop_mapped_pages() noexcept {
    if (map_base == nullptr) return;
    std::error_code ec;
    const auto size = std::filesystem::file_size(dir / "data.mdb", ec);
    if (ec || size == 0) return;
    const auto length = std::min<std::uint64_t>(size, map_length);
    ::madvise(map_base, static_cast<std::size_t>(length), MADV_DONTNEED);
}

namespace {

// The mapping of data.mdb at file offset 0 in /proc/self/maps, by device and inode.
std::pair<void*, std::size_t> find_mapping(const std::filesystem::path& data) {
    struct stat st {};
    if (::stat(data.c_str(), &st) != 0) return {nullptr, 0};
    std::FILE* f = std::fopen("/proc/self/maps", "re");
    if (f == nullptr) return {nullptr, 0};
    std::pair<void*, std::size_t> found{nullptr, 0};
    char line[4096];
    while (std::fgets(line, sizeof line, f) != nullptr) {
        unsigned long start = 0, end = 0, offset = 0, inode = 0;
        unsigned major = 0, minor = 0;
        char perms[8] = {};
        if (std::sscanf(line, "%lx-%lx %7s %lx %x:%x %lu", &start, &end, perms, &offset, &major,
                        &minor, &inode) != 7) {
            continue;
        }
        if (offset == 0 && inode == st.st_ino && makedev(major, minor) == st.st_dev) {
            found = {reinterpret_cast<void*>(start), static_cast<std::size_t>(end - start)};
            break;
        }
    }
    std::fclose(f);
    return found;
}

}  // namespace

namespace {

// Runs verify_data_fd() over the file LMDB opened (its own descriptor: a data.mdb renamed in
// place meanwhile cannot be the one checked instead). Throws StoreError (corrupt).
void verify_open_store(MDB_env* env, MDB_txn* txn, bool read_only,
                       const std::filesystem::path& dir) {
    int fd = -1;
    check(mdb_env_get_fd(env, &fd), "mdb_env_get_fd", dir);
    const std::optional<std::uint64_t> txnid =
        read_only ? std::optional<std::uint64_t>(mdb_txn_id(txn)) : std::nullopt;
    const VerifyResult result = verify_data_fd(fd, txnid);
    if (!result.ok)
        throw StoreError(StoreError::Kind::corrupt,
                         "store " + dir.string() + " is damaged: " + result.problem);
}

// mdb_env_open() reads the meta pages itself and divides by their page size: a damaged one
// faults inside liblmdb before verify_open_store() can run. So the meta pages are checked here
// first, over a descriptor of our own (no symlink followed); a store that does not exist yet
// is left to LMDB (a writer creates it). Throws StoreError (corrupt, or io for a symlink).
void verify_header_before_open(const std::filesystem::path& dir) {
    const std::filesystem::path data = dir / "data.mdb";
    const UniqueFd fd(::open(data.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
    if (fd.get() < 0) {
        if (errno == ELOOP)
            throw StoreError(StoreError::Kind::io,
                             "store " + dir.string() + ": data.mdb is a symbolic link");
        return;  // missing or unreadable: mdb_env_open() says which
    }
    const VerifyResult result = verify_header_fd(fd.get());
    if (!result.ok)
        throw StoreError(StoreError::Kind::corrupt,
                         "store " + dir.string() + " is damaged: " + result.problem);
}

// A writer with `create` makes the directory; a reader needs a data.mdb to read.
void prepare_directory(const std::filesystem::path& dir, const StoreOptions& options) {
    namespace fs = std::filesystem;
    std::error_code ec;
    if (!options.read_only && options.create && !fs::exists(dir, ec)) {
        fs::create_directories(dir, ec);
        if (ec)
            throw StoreError(StoreError::Kind::io,
                             "cannot create store directory " + dir.string() + ": " + ec.message());
        ::chmod(dir.c_str(), 0750);
    }
    if (options.read_only && !fs::exists(dir / "data.mdb", ec))
        throw StoreError(StoreError::Kind::io,
                         "no store at " + dir.string() + " (has m365gate-sync run yet?)");
}

// Creates and opens the environment of `s.dir`, its meta pages checked first.
void open_environment(Store::Impl& s, const StoreOptions& options) {
    const std::filesystem::path& dir = s.dir;
    check(mdb_env_create(&s.env), "mdb_env_create", dir);
    check(mdb_env_set_maxdbs(s.env, 8), "mdb_env_set_maxdbs", dir);
    check(mdb_env_set_maxreaders(s.env, max_readers), "mdb_env_set_maxreaders", dir);
    check(mdb_env_set_mapsize(s.env, options.max_size), "mdb_env_set_mapsize", dir);
    // MDB_NOTLS: a read transaction belongs to its Snapshot, not to a thread, so reset ones
    // can be renewed on any thread (ReaderPool in txn.h), and a Snapshot in the sync worker
    // never collides with its Writer.
    const unsigned flags = MDB_NOTLS | (options.read_only ? MDB_RDONLY : 0u);
    verify_header_before_open(dir);
    const int rc = mdb_env_open(s.env, dir.c_str(), flags, 0640);
    if (rc != MDB_SUCCESS) throw_mdb(rc, "cannot open store " + dir.string());
    if (!options.read_only) {
        ::chmod((dir / "lock.mdb").c_str(), 0660);  // readers write their slot
        std::tie(s.map_base, s.map_length) = find_mapping(dir / "data.mdb");
    }
}

// A data.mdb shorter than its own last page would SIGBUS a reader: refuse it here.
void check_file_length(MDB_env* env, const std::filesystem::path& dir) {
    MDB_envinfo info{};
    MDB_stat st{};
    check(mdb_env_info(env, &info), "mdb_env_info", dir);
    check(mdb_env_stat(env, &st), "mdb_env_stat", dir);
    const auto need = (static_cast<std::uint64_t>(info.me_last_pgno) + 1) * st.ms_psize;
    std::error_code ec;
    const auto have = std::filesystem::file_size(dir / "data.mdb", ec);
    if (!ec && have < need)
        throw StoreError(StoreError::Kind::corrupt,
                         "store " + dir.string() + " is truncated: data.mdb has " +
                             std::to_string(have) + " bytes, its pages need " +
                             std::to_string(need));
}

// One named database; without MDB_CREATE (a reader) a missing one means no writer wrote here.
void open_database(MDB_txn* txn, const char* name, unsigned create, MDB_dbi& dbi,
                   const std::filesystem::path& dir) {
    const int rc = mdb_dbi_open(txn, name, create, &dbi);
    if (rc == MDB_NOTFOUND)
        throw StoreError(StoreError::Kind::io, "store " + dir.string() +
                                                   " has never been written by "
                                                   "m365gate-sync (no \"" +
                                                   name + "\" database)");
    check(rc, "mdb_dbi_open", dir);
}

// The schema version in meta ("" when there is none, which only a writer accepts); refuses a
// version this build cannot read.
std::string read_schema(MDB_txn* txn, const Store::Impl& s, bool read_only) {
    const std::string current = std::to_string(schema_version);
    MDB_val key = to_val("schema"), val{};
    const int rc = mdb_get(txn, s.meta, &key, &val);
    if (rc == MDB_NOTFOUND) {
        if (read_only)
            throw StoreError(StoreError::Kind::schema,
                             "store " + s.dir.string() + " carries no schema version");
        return {};
    }
    check(rc, "mdb_get(schema)", s.dir);
    std::string found(to_view(val));
    if (found != "1" && found != current)
        throw StoreError(StoreError::Kind::schema,
                         "store " + s.dir.string() + " has schema version " + found.substr(0, 16) +
                             "; this m365gate understands version " + current +
                             " (move it aside and let m365gate-sync rebuild it)");
    return found;
}

// A writer brings a new store, or one of version 1, to the current version, and empties the
// database "probe" that m365gate versions with a probe index kept: this writer does not keep
// it up, so such a version running beside it (an upgrade in progress) must find no index and
// ask the B-tree. Emptied, not deleted: a reader of such a version may hold a handle to it.
void settle_schema(MDB_txn* txn, Store::Impl& s, bool read_only, const std::string& found) {
    if (read_only) return;
    MDB_dbi probe = 0;
    const int rc = mdb_dbi_open(txn, "probe", 0, &probe);
    if (rc != MDB_NOTFOUND) {
        check(rc, "mdb_dbi_open(probe)", s.dir);
        MDB_stat st{};
        check(mdb_stat(txn, probe, &st), "mdb_stat(probe)", s.dir);
        if (st.ms_entries != 0) check(mdb_drop(txn, probe, 0), "mdb_drop(probe)", s.dir);
    }
    const std::string current = std::to_string(schema_version);
    if (found != current) {
        MDB_val key = to_val("schema"), val = to_val(current);
        check(mdb_put(txn, s.meta, &key, &val, 0), "mdb_put(schema)", s.dir);
    }
}

// Opens every database in one transaction, after checking the pages it will read.
void open_databases(Store::Impl& s, bool read_only) {
    const std::filesystem::path& dir = s.dir;
    Txn opening = read_only ? Txn(ReadTxn(s.env, dir)) : Txn(WriteTxn(s.env, dir));
    MDB_txn* const txn = opening.get();
    // Nothing past the meta pages has been read through the mapping yet: check the pages
    // this transaction will read (verify.h) before mdb_dbi_open() walks the first tree.
    // The read transaction pins its snapshot, so a writer's commits cannot reuse its pages
    // during the walk; a write transaction holds the writer lock.
    verify_open_store(s.env, txn, read_only, dir);
    const unsigned create = read_only ? 0 : MDB_CREATE;
    open_database(txn, "meta", create, s.meta, dir);
    const std::string found = read_schema(txn, s, read_only);
    settle_schema(txn, s, read_only, found);
    open_database(txn, "tenants", create, s.tenants, dir);
    open_database(txn, "domains", create, s.domains, dir);
    open_database(txn, "state", create, s.state, dir);
    open_database(txn, "addresses", create, s.addresses, dir);
    open_database(txn, "objects", create, s.objects, dir);
    // Commit (also for a reader): makes the DBI handles usable by every later transaction.
    opening.commit(dir);
}

}  // namespace

Store::Store(const std::filesystem::path& dir, const StoreOptions& options)
    : dir_(dir), read_only_(options.read_only), impl_(std::make_unique<Impl>()) {
    impl_->dir = dir;
    prepare_directory(dir, options);
    open_environment(*impl_, options);
    check_file_length(impl_->env, dir);
    open_databases(*impl_, read_only_);
}

Store::~Store() = default;

std::size_t Store::reader_slots() const {
    std::size_t lines = 0;
    mdb_reader_list(
        impl_->env,
        [](const char*, void* ctx) {
            ++*static_cast<std::size_t*>(ctx);
            return 0;
        },
        &lines);
    return lines == 0 ? 0 : lines - 1;  // the first line is a header ("(no active readers)")
}

std::string Store::check_pages() const {
    ReadTxn txn(impl_->env, dir_);
    int fd = -1;
    const int rc = mdb_env_get_fd(impl_->env, &fd);
    const VerifyResult result =
        rc == MDB_SUCCESS ? verify_data_fd(fd, mdb_txn_id(txn.get())) : VerifyResult{};
    txn.abort();
    check(rc, "mdb_env_get_fd", dir_);
    return result.ok ? std::string() : result.problem;
}

std::uint64_t Store::file_size() const {
    std::error_code ec;
    const auto size = std::filesystem::file_size(dir_ / "data.mdb", ec);
    return ec ? 0 : size;
}

WriterLock::WriterLock(const Store& store) {
    const auto path = store.dir() / "sync.lock";
    fd_.reset(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
    if (!fd_.valid())
        throw StoreError(StoreError::Kind::io,
                         "cannot open " + path.string() + ": " + std::strerror(errno));
    if (::flock(fd_.get(), LOCK_EX | LOCK_NB) == 0) return;
    if (errno == EWOULDBLOCK) {
        waited_ = true;
        int rc;
        do {
            rc = ::flock(fd_.get(), LOCK_EX);
        } while (rc != 0 && errno == EINTR);
        if (rc == 0) return;
    }
    const int err = errno;
    fd_.reset();
    throw StoreError(StoreError::Kind::io,
                     "cannot lock " + path.string() + ": " + std::strerror(err));
}

WriterLock::~WriterLock() = default;  // closing the descriptor releases the lock

}  // namespace m365gate::store
