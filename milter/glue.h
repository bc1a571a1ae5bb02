// milter/glue.h - the libmilter side of m365gate-milter: per-process state, the RCPT handler
// and the callback table.
//
// libmilter callbacks get no user pointer, so the process has exactly one App, installed with
// set_app() before smfi_main() and never replaced (STYLE P13). Everything the callbacks share
// lives in it and is thread safe: callbacks of one connection may run on different threads of
// libmilter's worker pool. handle_rcpt() is the whole RCPT logic without libmilter, so tests
// and the benchmark can drive it directly.
#pragma once

#include <libmilter/mfapi.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/config.h"
#include "common/metrics.h"
#include "decision/decision.h"
#include "milter/harvest.h"
#include "milter/milter_metrics.h"
#include "milter/rejection.h"
#include "milter/reply.h"
#include "store/store.h"

namespace m365gate::milter {

// The store, opened read-only at store.max_size. A missing or unreadable store is not fatal:
// get() retries at most once per second and returns nullptr meanwhile (the decision then runs
// with no snapshot: on_cache_unavailable for managed domains). Thread safe.
//
// A store can be replaced under a running milter: the sync worker moves a corrupt one aside
// and builds a new one, an admin restores a copy. The Store we hold keeps mapping the old
// file, so get() compares the (device, inode) of <dir>/data.mdb with the one it opened at most
// once per second, and drops the old Store when it differs or is gone; invalidate() does the
// same after a read failed. The old Store is closed before a new one is opened: two LMDB
// environments on one lock.mdb in one process would share (and on close release) its POSIX
// locks, so until the last Snapshot of the old one ends get() returns nullptr.
//
// Opening checks every page a reader will follow (store/verify.h) before LMDB reads any: a
// damaged store is refused (logged once, error_kind=corrupt), never mapped and followed. The
// check reads the whole file once per open, not per RCPT; a store that failed it is not checked
// again until data.mdb changes (another inode, size or mtime).
class StoreHandle {
public:
    StoreHandle(std::filesystem::path dir, std::uint64_t max_size)
        : dir_(std::move(dir)), max_size_(max_size) {}

    std::shared_ptr<const store::Store> get();
    // Drops the open store (after a read failed), so a later get() reopens it (rate limited
    // to once per second, as every open attempt is).
    void invalidate(const std::shared_ptr<const store::Store>& broken);
    const std::filesystem::path& dir() const noexcept { return dir_; }
    std::string last_error() const;

    struct FileId {
        std::uint64_t dev = 0;
        std::uint64_t ino = 0;
        bool operator==(const FileId& o) const noexcept { return dev == o.dev && ino == o.ino; }
        bool operator!=(const FileId& o) const noexcept { return !(*this == o); }
    };

private:
    void check_replaced(std::chrono::steady_clock::time_point now);  // mu_ held
    void retire(bool reopen_at_once);                                // mu_ held

    const std::filesystem::path dir_;
    const std::uint64_t max_size_;
    mutable std::mutex mu_;
    std::shared_ptr<const store::Store> store_;
    std::weak_ptr<const store::Store> retiring_;  // dropped, possibly still in use
    std::optional<FileId> opened_id_;             // data.mdb's identity when store_ was opened
    std::chrono::steady_clock::time_point last_attempt_{};
    std::chrono::steady_clock::time_point last_check_{};
    bool attempted_ = false;
    bool reopen_at_once_ = false;  // replaced: open the new store without the 1 s wait
    std::string last_error_;
    // data.mdb as it was when it failed the page check (store/verify.h): (device, inode, size,
    // mtime). While it is unchanged, get() does not check it again every second.
    std::optional<std::array<std::uint64_t, 4>> damaged_;
};

// The rules in force: the config and its tenant policies, computed once per config.
struct Rules {
    std::shared_ptr<const Config> config;
    std::vector<decision::TenantPolicy> policies;
    std::vector<std::shared_ptr<RcptCounters>> counters;  // policies[i]'s is counters[i]
};

class App {
public:
    explicit App(std::shared_ptr<const Config> cfg);
    ~App();  // stops the metrics writer first: it reads the rest
    App(const App&) = delete;
    App& operator=(const App&) = delete;

    // Takes the config in force once; the result stays consistent for one RCPT.
    std::shared_ptr<const Rules> rules() const;
    // Swaps in a new config (the reloader thread). Settings that need a restart are not
    // applied; they are returned by name ("milter.socket", "store.path"...).
    std::vector<std::string> replace_config(std::shared_ptr<const Config> next);

    StoreHandle& store() noexcept { return store_; }
    RejectionLog& rejections() noexcept { return rejections_; }
    HarvestGuard& harvest() noexcept { return harvest_; }
    MilterMetrics& metrics() noexcept { return metrics_; }
    const ConfigHolder& config() const noexcept { return config_; }
    // Starts writing m365gate_milter.prom ([metrics]); after the privilege drop.
    void start_metrics();

private:
    ConfigHolder config_;
    mutable std::mutex rules_mu_;
    mutable std::shared_ptr<const Rules> rules_;
    StoreHandle store_;
    RejectionLog rejections_;
    HarvestGuard harvest_;
    mutable MilterMetrics metrics_;
    metrics::TextfileWriter metrics_writer_;  // last: its thread reads the members above
};

// What is known about one MTA connection; lives from connect to close (smfi_setpriv).
struct Connection {
    std::string client_name;
    std::string client_addr;
    std::string sender;    // current message's envelope sender, brackets stripped
    std::string queue_id;  // current message's queue id, when the MTA gave it
    // The MTA sends the client, the sender and the queue id as macros with each RCPT (we asked
    // for them with smfi_setsymlist and negotiated the connect and MAIL steps away).
    bool macros_at_rcpt = false;
    void end_message() {
        sender.clear();
        queue_id.clear();
    }
};

struct RcptOutcome {
    decision::Decision decision;
    std::optional<SmtpReply> reply;  // set when the verdict is reject or tempfail
};

// The RCPT logic: one Snapshot, decide(), the harvest defence ([milter.harvest]: a blocked
// client's RCPT is answered 450/421 with reason harvest_blocked, except always_accept addresses
// and RCPTs decided in report mode), the reply, the log lines. `rcpt` is what the MTA gave
// ({rcpt_addr} or the raw argument). `now` is Unix seconds.
RcptOutcome handle_rcpt(App& app, const Connection& conn, std::string_view rcpt, std::int64_t now);

// "<a@b>" -> "a@b"; surrounding blanks dropped.
std::string_view strip_brackets(std::string_view address);

// Installs the App the callbacks use (once, before smfi_main()).
void set_app(App* app);
// The libmilter callback table: connect, envfrom, envrcpt, abort, close, negotiate.
smfiDesc filter_description();

}  // namespace m365gate::milter
