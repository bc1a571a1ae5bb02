// sync/store_open.cpp - see store_open.h.
#include "sync/store_open.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <filesystem>

#include "common/log.h"
#include "common/unique_fd.h"

namespace m365gate::sync {
namespace {

// "20261123T100455Z": when a broken store was moved aside.
std::string utc_stamp() {
    const std::time_t now = std::time(nullptr);
    std::tm tm{};
    gmtime_r(&now, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
    return buf;
}

// Moves data.mdb and lock.mdb of a corrupt store into <store>/broken-<UTC time>/ (mode 0700)
// and returns that directory. Inside the store directory, because the sync user owns it but
// usually not its parent (/var/lib). lock.mdb goes too: a new data.mdb must not share the old
// lock table, which a running milter still has mapped. Throws StoreError (io).
std::filesystem::path move_store_aside(const std::filesystem::path& dir) {
    namespace fs = std::filesystem;
    const std::string base = "broken-" + utc_stamp();
    fs::path aside = dir / base;
    for (int n = 2; ::mkdir(aside.c_str(), 0700) != 0; ++n) {
        if (errno != EEXIST || n > 100) {
            throw store::StoreError(store::StoreError::Kind::io, "cannot create " + aside.string() +
                                                                     " to move the broken "
                                                                     "store aside: " +
                                                                     std::strerror(errno));
        }
        aside = dir / (base + "-" + std::to_string(n));
    }
    for (const char* name : {"data.mdb", "lock.mdb"}) {
        const fs::path from = dir / name;
        if (::rename(from.c_str(), (aside / name).c_str()) != 0 && errno != ENOENT) {
            throw store::StoreError(store::StoreError::Kind::io, "cannot move " + from.string() +
                                                                     " to " + aside.string() +
                                                                     ": " + std::strerror(errno));
        }
    }
    return aside;
}

}  // namespace

std::unique_ptr<store::Store> open_store(const Config& cfg, Alerter& alerter) {
    store::StoreOptions options;
    options.max_size = cfg.store.max_size;
    std::string problem;
    try {
        return std::make_unique<store::Store>(cfg.store.path, options);
    } catch (const store::StoreError& e) {
        if (e.kind() != store::StoreError::Kind::corrupt) {
            throw;
        }
        problem = e.what();
        spdlog::error("event=store_open status=corrupt store={} error={}",
                      log_value(cfg.store.path.string()), log_value(e.what(), 400));
    }
    const std::filesystem::path lock_file = cfg.store.path / "sync.lock";
    const UniqueFd lock(::open(lock_file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
    if (!lock.valid()) {
        throw store::StoreError(store::StoreError::Kind::io,
                                "cannot open " + lock_file.string() + ": " + std::strerror(errno));
    }
    while (::flock(lock.get(), LOCK_EX) != 0 && errno == EINTR) {
    }
    try {  // another m365gate-sync may have replaced it while we waited
        return std::make_unique<store::Store>(cfg.store.path, options);
    } catch (const store::StoreError& e) {
        if (e.kind() != store::StoreError::Kind::corrupt) {
            throw;
        }
    }
    const std::filesystem::path aside = move_store_aside(cfg.store.path);
    spdlog::error(
        "event=store_recovery status=moved_aside store={} moved_to={} note=\"the store was "
        "corrupt; a new one is being built by a full sync from Graph, and until it is done the "
        "milter answers on_cache_unavailable for managed domains. Keep the broken copy for a bug "
        "report, or delete it.\"",
        log_value(cfg.store.path.string()), log_value(aside.string()));
    alerter.store_damaged(cfg, aside.string(), problem, static_cast<std::int64_t>(::time(nullptr)));
    return std::make_unique<store::Store>(cfg.store.path, options);
}

std::string check_store(const store::Store& st) {
    std::string problem;
    try {
        problem = st.check_pages();
    } catch (const store::StoreError& e) {
        problem = e.what();
    }
    if (!problem.empty()) {
        spdlog::error(
            "event=store_check status=damaged store={} error={} note=\"the store is moved aside "
            "and rebuilt by a full sync\"",
            log_value(st.dir().string()), log_value(problem, 400));
    }
    return problem;
}

}  // namespace m365gate::sync
