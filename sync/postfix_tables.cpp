// sync/postfix_tables.cpp - Postfix lmdb tables from the published lists.
//
// The file format is Postfix's dict_lmdb (checked with `postmap -q` in
// tests/integration/postfix_maps_e2e.sh): one LMDB file opened MDB_NOSUBDIR|MDB_NOLOCK (Postfix
// locks the file itself), the unnamed database, each key and value stored with a trailing NUL
// (postmap's default; Postfix's lookups try the key with the NUL first). Written directly
// rather than through `postmap`: no process per table, no main.cf needed by the sync user, no
// Postfix code run by it; about as fast as postmap, and half its file size, since keys come in
// order (MDB_APPEND fills each page); docs/sync.md has the figures.
#include "sync/postfix_tables.h"

#include <dirent.h>
#include <fcntl.h>
#include <lmdb.h>
#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <random>
#include <stdexcept>
#include <string_view>

#include "common/idna.h"
#include "common/log.h"
#include "common/safe_file.h"
#include "common/text.h"

namespace m365gate::sync {

namespace {

constexpr std::string_view table_value{"OK\0", 3};
constexpr mode_t table_mode = 0640;
constexpr int max_map_attempts = 4;

void sort_unique(std::vector<std::string>& v) {
    std::sort(v.begin(), v.end());
    v.erase(std::unique(v.begin(), v.end()), v.end());
}

void add_tenant(const Config& cfg, const TenantConfig& t, const store::Snapshot& snap,
                PostfixTables& out) {
    std::vector<std::string> domains = snap.domains(t.name);
    if (domains.empty()) {
        domains = t.domains;
    }
    // With smtputf8_enable, Postfix looks a UTF-8 domain up as sent: list its U-label form too.
    const std::size_t canonical_count = domains.size();
    for (std::size_t i = 0; i < canonical_count; ++i) {
        if (auto u = unicode_domain_name(domains[i])) {
            domains.push_back(std::move(*u));
        }
    }
    for (const auto& d : domains) {
        out.domains.push_back(d);
    }
    const std::int64_t last_success = snap.last_success(t.name).value_or(0);
    const bool accept_all =
        !t.enabled || (last_success == 0 && cfg.decision.on_cache_unavailable != Verdict::reject);
    for (const auto& d : domains) {
        if (accept_all) {
            out.recipients.push_back("@" + d);
            continue;
        }
        for (const auto& local : cfg.decision.always_accept) {
            out.recipients.push_back(local + "@" + d);
        }
    }
    if (accept_all || last_success == 0) {
        return;
    }
    const auto add = [&](std::string_view address) {
        out.recipients.emplace_back(address);
        const auto at = address.rfind('@');
        if (at != std::string_view::npos) {
            if (auto u = unicode_domain_name(address.substr(at + 1))) {
                out.recipients.push_back(std::string(address.substr(0, at + 1)) + *u);
            }
        }
    };
    for (const auto& extra : t.extra_recipients) {
        add(extra);
    }
    snap.for_each_address(t.name, [&add](std::string_view address, const store::Recipient&) {
        add(address);
        return true;
    });
}

std::string lmdb_error(const std::string& what, int rc) { return what + ": " + ::mdb_strerror(rc); }

struct EnvClose {
    void operator()(MDB_env* e) const noexcept { ::mdb_env_close(e); }
};
using Env = std::unique_ptr<MDB_env, EnvClose>;

Env open_env(const std::string& path, unsigned flags, std::size_t map_size) {
    MDB_env* raw = nullptr;
    int rc = ::mdb_env_create(&raw);
    if (rc != 0) {
        throw std::runtime_error(lmdb_error("mdb_env_create", rc));
    }
    Env env(raw);
    if (map_size != 0 && (rc = ::mdb_env_set_mapsize(env.get(), map_size)) != 0) {
        throw std::runtime_error(lmdb_error("mdb_env_set_mapsize", rc));
    }
    rc = ::mdb_env_open(env.get(), path.c_str(), flags | MDB_NOSUBDIR | MDB_NOLOCK, table_mode);
    if (rc != 0) {
        throw std::runtime_error(lmdb_error("mdb_env_open " + printable(path), rc));
    }
    return env;
}

// True when the table at `path` holds exactly `keys` (each -> "OK"). Anything unreadable or
// different: false (it is then replaced).
bool table_holds(const std::string& path, const std::vector<std::string>& keys) {
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
        return false;
    }
    try {
        const Env env = open_env(path, MDB_RDONLY, 0);
        MDB_txn* txn = nullptr;
        if (::mdb_txn_begin(env.get(), nullptr, MDB_RDONLY, &txn) != 0) {
            return false;
        }
        MDB_dbi dbi = 0;
        MDB_cursor* cur = nullptr;
        bool same =
            ::mdb_dbi_open(txn, nullptr, 0, &dbi) == 0 && ::mdb_cursor_open(txn, dbi, &cur) == 0;
        std::size_t i = 0;
        MDB_val k{}, v{};
        for (int rc = same ? ::mdb_cursor_get(cur, &k, &v, MDB_FIRST) : MDB_NOTFOUND;
             same && rc == 0; rc = ::mdb_cursor_get(cur, &k, &v, MDB_NEXT), ++i) {
            const std::string_view key(static_cast<const char*>(k.mv_data), k.mv_size);
            const std::string_view value(static_cast<const char*>(v.mv_data), v.mv_size);
            same = i < keys.size() && key.size() == keys[i].size() + 1 &&
                   key.compare(0, keys[i].size(), keys[i]) == 0 && key.back() == '\0' &&
                   value == table_value;
        }
        same = same && i == keys.size();
        if (cur != nullptr) {
            ::mdb_cursor_close(cur);
        }
        ::mdb_txn_abort(txn);
        return same;
    } catch (const std::runtime_error&) {
        return false;
    }
}

// One attempt at writing `keys` into the new file at `path` with a map of `map_size` bytes.
// MDB_MAP_FULL is returned (the caller tries a larger map); other errors throw.
int fill_table(const std::string& path, const std::vector<std::string>& keys,
               std::size_t map_size) {
    const Env env = open_env(path, MDB_NOSYNC, map_size);
    MDB_txn* txn = nullptr;
    int rc = ::mdb_txn_begin(env.get(), nullptr, 0, &txn);
    if (rc != 0) {
        throw std::runtime_error(lmdb_error("mdb_txn_begin", rc));
    }
    MDB_dbi dbi = 0;
    rc = ::mdb_dbi_open(txn, nullptr, 0, &dbi);
    std::string key;
    for (std::size_t i = 0; rc == 0 && i < keys.size(); ++i) {
        key.assign(keys[i]).push_back('\0');
        MDB_val k{key.size(), key.data()};
        MDB_val v{table_value.size(), const_cast<char*>(table_value.data())};
        rc = ::mdb_put(txn, dbi, &k, &v, MDB_APPEND);
    }
    if (rc != 0) {
        ::mdb_txn_abort(txn);
        if (rc == MDB_MAP_FULL) {
            return rc;
        }
        throw std::runtime_error(lmdb_error("mdb_put", rc));
    }
    if ((rc = ::mdb_txn_commit(txn)) != 0) {
        if (rc == MDB_MAP_FULL) {
            return rc;
        }
        throw std::runtime_error(lmdb_error("mdb_txn_commit", rc));
    }
    if ((rc = ::mdb_env_sync(env.get(), 1)) != 0) {
        throw std::runtime_error(lmdb_error("mdb_env_sync", rc));
    }
    return 0;
}

std::string temporary_name(const std::string& name) {
    static std::mt19937_64 rng{std::random_device{}()};
    static const char digits[] = "0123456789abcdefghijklmnopqrstuvwxyz";
    std::string out = "." + name + ".";
    for (int i = 0; i < 10; ++i) {
        out.push_back(digits[rng() % 36]);
    }
    return out;
}

// Creates the temporary ourselves (O_EXCL|O_NOFOLLOW, so LMDB opens a new file of ours), fills
// it, renames it over `file`. Removes the temporary on any failure.
void replace_table(int dir_fd, const std::filesystem::path& dir, const std::string& file,
                   const std::vector<std::string>& keys) {
    std::string tmp;
    for (int tries = 0; tries < 16 && tmp.empty(); ++tries) {
        std::string candidate = temporary_name(file);
        const UniqueFd fd(::openat(dir_fd, candidate.c_str(),
                                   O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                                   table_mode));
        if (fd.get() >= 0) {
            if (::fchmod(fd.get(), table_mode) != 0) {
                ::unlinkat(dir_fd, candidate.c_str(), 0);
                throw std::runtime_error(file + ": fchmod: " + std::strerror(errno));
            }
            tmp = std::move(candidate);
        } else if (errno != EEXIST) {
            throw std::runtime_error(file + ": cannot create a temporary file in " +
                                     printable(dir.string()) + ": " + std::strerror(errno));
        }
    }
    if (tmp.empty()) {
        throw std::runtime_error(file + ": no free temporary name");
    }
    try {
        std::size_t bytes = 0;
        for (const auto& k : keys) {
            bytes += k.size() + 24;  // key, NUL, value and LMDB's node and index overhead
        }
        std::size_t map_size = ((2 * bytes + (256u << 10)) / 4096 + 1) * 4096;
        int rc = MDB_MAP_FULL;
        for (int attempt = 0; attempt < max_map_attempts && rc == MDB_MAP_FULL; ++attempt) {
            rc = fill_table((dir / tmp).string(), keys, map_size);
            map_size *= 2;
        }
        if (rc != 0) {
            throw std::runtime_error(lmdb_error("mdb_put", rc));
        }
        if (::renameat(dir_fd, tmp.c_str(), dir_fd, file.c_str()) != 0) {
            throw std::runtime_error(std::string("rename: ") + std::strerror(errno));
        }
        ::fsync(dir_fd);
    } catch (const std::runtime_error& e) {
        ::unlinkat(dir_fd, tmp.c_str(), 0);
        throw std::runtime_error(file + ": " + e.what());
    }
}

// Removes the temporaries (".recipients.lmdb.*", ".domains.lmdb.*") a killed writer left.
// Called under the directory's lock, so no writer is using one.
void remove_leftovers(int dir_fd) {
    const int fd = ::dup(dir_fd);
    DIR* d = fd >= 0 ? ::fdopendir(fd) : nullptr;
    if (d == nullptr) {
        if (fd >= 0) {
            ::close(fd);
        }
        return;
    }
    std::vector<std::string> names;
    while (const dirent* e = ::readdir(d)) {
        const std::string_view name(e->d_name);
        if (name.rfind(".recipients.lmdb.", 0) == 0 || name.rfind(".domains.lmdb.", 0) == 0) {
            names.emplace_back(name);
        }
    }
    ::closedir(d);
    for (const auto& name : names) {
        ::unlinkat(dir_fd, name.c_str(), 0);
        spdlog::warn(
            "event=postfix_tables note=\"removed a temporary an interrupted write left\" "
            "file={}",
            log_value(name));
    }
}

}  // namespace

// XXX: the whole list is held and sorted in memory (about 180 MB peak for 1,000,000 addresses),
// where a full sync spills to disk; the store already yields each tenant's addresses in key
// order, so a merge of those streams could write the table in bounded memory.
PostfixTables build_postfix_tables(const Config& cfg, const store::Snapshot& snapshot) {
    PostfixTables out;
    for (const auto& t : cfg.tenants) {
        add_tenant(cfg, t, snapshot, out);
    }
    sort_unique(out.domains);
    sort_unique(out.recipients);
    return out;
}

std::vector<TableWrite> write_postfix_tables(const std::filesystem::path& dir,
                                             const PostfixTables& tables) {
    std::string why;
    const UniqueFd dir_fd = open_trusted_directory(dir, {::geteuid()}, why);
    if (dir_fd.get() < 0) {
        throw std::runtime_error(why);
    }
    // One writer at a time (the daemon's round, --postfix-tables run by hand): each compares and
    // renames in turn. Released when dir_fd closes.
    if (::flock(dir_fd.get(), LOCK_EX) != 0) {
        throw std::runtime_error("flock " + printable(dir.string()) + ": " + std::strerror(errno));
    }
    remove_leftovers(dir_fd.get());
    std::vector<TableWrite> out;
    const std::pair<const char*, const std::vector<std::string>*> order[] = {
        {"recipients", &tables.recipients}, {"domains", &tables.domains}};
    for (const auto& [name, keys] : order) {
        TableWrite w;
        w.name = name;
        w.entries = keys->size();
        const std::string file = std::string(name) + ".lmdb";
        if (!table_holds((dir / file).string(), *keys)) {
            replace_table(dir_fd.get(), dir, file, *keys);
            w.written = true;
        }
        out.push_back(std::move(w));
    }
    return out;
}

bool export_postfix_tables(const Config& cfg, const store::Store& store) {
    const std::filesystem::path& dir = cfg.postfix.export_dir;
    if (dir.empty()) {
        return true;
    }
    try {
        const auto started = std::chrono::steady_clock::now();
        PostfixTables tables;
        {
            const store::Snapshot snap(store);
            tables = build_postfix_tables(cfg, snap);
        }
        const auto written = write_postfix_tables(dir, tables);
        const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::steady_clock::now() - started)
                            .count();
        for (const auto& w : written) {
            spdlog::info("event=postfix_tables status=ok table={} entries={} result={} ms={}",
                         w.name, w.entries, w.written ? "written" : "unchanged", ms);
        }
        return true;
    } catch (const std::exception& e) {
        spdlog::error("event=postfix_tables status=error dir={} error={} keeping=previous",
                      log_value(dir.string()), log_value(e.what()));
        return false;
    }
}

}  // namespace m365gate::sync
