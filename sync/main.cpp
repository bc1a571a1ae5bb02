// sync/main.cpp - m365gate-sync: imports every Microsoft 365 recipient into the LMDB store.
//
// --once syncs every (or each --tenant) tenant once; its exit status tells all synced (0), none
// synced (1), some failed while others synced (2) and a refused shrink (3). Without it the
// daemon syncs every sync.interval; SIGHUP reloads the config and the credential files (a bad
// config is logged and the old one kept); SIGTERM/SIGINT stop it, mid-sync too: the open write
// transaction aborts and the store keeps the last committed list. Signals are blocked before
// any thread starts; the main thread waits for them (sigwaitinfo) while a worker thread runs
// the rounds. Exit codes (sysexits): 0, 1-3 (--once, above), 74 store I/O, 77 privilege
// drop failed, 78 bad config (an unknown store schema version too). A store that fails to
// open as corrupt (its pages are checked at every open, store/verify.h) is moved aside into
// <store>/broken-<UTC time>/ and rebuilt (open_store()); the daemon checks the store again after
// every round and does the same when it finds it damaged (--once exits 74, and the next run
// moves it aside).
#include <curl/curl.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <ctime>
#include <iostream>
#include <mutex>
#include <optional>
#include <thread>

#include "common/certificate.h"
#include "common/config.h"
#include "common/credentials.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/safe_file.h"
#include "common/time.h"
#include "common/unique_fd.h"
#include "store/store.h"
#include "sync/alerts.h"
#include "sync/sync_metrics.h"
#include "sync/worker.h"

namespace {

using namespace m365gate;

class PrivilegeError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

[[noreturn]] void throw_errno(const std::string& what) {
    throw PrivilegeError(what + ": " + std::strerror(errno));
}

// A sync worker that keeps running as root is worse than one that does not start.
void drop_privileges(const std::string& user_name) {
    const passwd* pw = getpwnam(user_name.c_str());
    if (pw == nullptr) {
        throw PrivilegeError("sync.user \"" + user_name + "\": no such user");
    }
    if (pw->pw_uid == 0) {
        throw PrivilegeError("sync.user must not be root");
    }
    const uid_t uid = pw->pw_uid;
    const gid_t gid = pw->pw_gid;
    if (initgroups(pw->pw_name, gid) != 0) {
        throw_errno("initgroups");
    }
    if (setgid(gid) != 0) {
        throw_errno("setgid");
    }
    if (setuid(uid) != 0) {
        throw_errno("setuid");
    }
    if (setuid(0) == 0) {
        throw PrivilegeError("regained root after setuid(): refusing to run");
    }
}

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

// Opens (or creates) the store. A store that fails to open as corrupt (LMDB finds no valid
// meta page, data.mdb is shorter than its pages, ...) is only a copy of Graph: it is moved
// aside, logged at error level, and an empty store takes its place, which this run fills with
// a full sync. The move happens under <store>/sync.lock (the WriterLock's file), so a second
// m365gate-sync waits and then finds the new store. An unknown schema version is not touched
// (a clear error: a newer m365gate may have written it): StoreError (schema).
std::unique_ptr<store::Store> open_store(const Config& cfg, sync::Alerter& alerter) {
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

// What the signal thread (main) tells the worker thread.
struct Control {
    std::mutex mu;
    std::condition_variable cv;
    std::atomic<bool> stop{false};
    bool reload = false;
};

// --once exit statuses (--help, m365gate-sync(8)): a failure outranks a refused shrink, since
// it needs fixing and the refusal only a look and --force.
constexpr int exit_failed = 1;          // no tenant synced, at least one failed
constexpr int exit_partly_failed = 2;   // some tenants failed, others synced
constexpr int exit_shrink_refused = 3;  // the only trouble: the mass-deletion guard refused

int exit_code_for(const std::vector<sync::TenantOutcome>& outcomes) {
    bool synced = false;
    bool failed = false;
    bool refused = false;
    for (const auto& o : outcomes) {
        if (o.result.ok) {
            synced = true;
        } else if (o.result.error_kind == "shrink") {
            refused = true;
        } else {
            failed = true;
        }
    }
    if (failed) {
        return synced ? exit_partly_failed : exit_failed;
    }
    return refused ? exit_shrink_refused : 0;
}

void reload_config(const std::filesystem::path& file, sync::Worker& worker,
                   std::shared_ptr<const Config>& current) {
    std::shared_ptr<const Config> next;
    try {
        next = std::make_shared<const Config>(load_config(file));
    } catch (const ConfigError& e) {
        spdlog::error("event=reload status=rejected keeping=previous error={}",
                      log_value(e.what(), 600));
        return;
    }
    if (next->store.path != current->store.path || next->sync.user != current->sync.user ||
        next->sync.pid_file != current->sync.pid_file) {
        spdlog::warn(
            "event=reload note=\"store.path, sync.user and sync.pid_file change only "
            "on restart\"");
    }
    try {
        setup_logging(next->log, "m365gate-sync");
    } catch (const ConfigError& e) {
        spdlog::error("event=reload status=error what=logging error={}", log_value(e.what()));
    }
    current = next;
    worker.set_config(next, true);
    spdlog::info("event=reload status=ok file={} tenants={} metrics={}", log_value(file.string()),
                 next->tenants.size(), log_value(metrics::summary(next->metrics)));
}

// After each round: the whole store is checked again (store/verify.h), so damage done to
// data.mdb while it is open (a disk error, another program) is found here, before a milter or
// m365gatectl opens it. Returns the problem ("" when sound), logged at error level.
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

// Returns true when the store was found damaged after a round (the caller moves it aside and
// goes on with a new one), false when asked to stop.
bool daemon_loop(sync::Worker& worker, const store::Store& st, Control& control,
                 const std::filesystem::path& file, std::shared_ptr<const Config>& cfg) {
    for (;;) {
        bool reload = false;
        {
            std::lock_guard<std::mutex> lock(control.mu);
            reload = std::exchange(control.reload, false);
        }
        if (control.stop.load()) {
            return false;
        }
        if (reload) {
            reload_config(file, worker, cfg);
        }
        const auto round_started = std::chrono::steady_clock::now();
        const auto outcomes = worker.run_round({});
        std::size_t failed = 0;
        for (const auto& o : outcomes) {
            failed += o.result.ok ? 0 : 1;
        }
        if (control.stop.load()) {
            return false;
        }
        spdlog::debug("event=round tenants={} failed={}", outcomes.size(), failed);
        if (!check_store(st).empty()) {
            return true;
        }
        std::unique_lock<std::mutex> lock(control.mu);
        control.cv.wait_until(lock, round_started + cfg->sync.interval,
                              [&] { return control.stop.load() || control.reload; });
    }
}

// What the command line asks for.
struct CommandLine {
    std::string config_file = default_config_path;
    bool once = false;
    bool force = false;
    bool full = false;
    bool check_config = false;
    bool version = false;
    std::vector<std::string> tenants;
};

// Parses argv into cl; an exit status when the process ends here (--help, a usage error).
std::optional<int> parse_command_line(int argc, char** argv, CommandLine& cl) {
    CLI::App app{"m365gate-sync: imports every Microsoft 365 recipient into the m365gate store"};
    app.footer(R"(
Without --once it runs as a daemon: a sync every sync.interval, SIGHUP reloads, SIGTERM stops.
Exit status: 0 every tenant synced (--once) or a clean stop; with --once: 1 no tenant synced,
at least one failed; 2 some tenants failed, others synced; 3 a shrink was refused by
sync.max_shrink and nothing else failed (check, then --force); 64 usage; 70 internal error;
74 store; 77 privilege drop; 78 config.
Examples:
  systemctl enable --now m365gate-sync
  m365gate-sync --check-config
  m365gate-sync --once --tenant contoso            # one round now
  m365gate-sync --once --full --tenant contoso     # re-read everything
  m365gate-sync --once --force --tenant contoso    # apply a refused mass deletion
See m365gate-sync(8), m365gate.toml(5).)");
    app.add_option("--config", cl.config_file, "configuration file")->capture_default_str();
    auto* once_opt = app.add_flag("--once", cl.once, "sync every tenant once and exit");
    app.add_flag("--force", cl.force, "apply a sync the mass-deletion guard refuses (with --once)")
        ->needs(once_opt);
    app.add_flag("--full", cl.full, "full sync even when delta links exist (with --once)")
        ->needs(once_opt);
    app.add_option("--tenant", cl.tenants,
                   "only this tenant (repeatable; not one with enabled = false)");
    app.add_flag("--check-config", cl.check_config, "check the configuration and exit (0 or 78)");
    app.add_flag("--version", cl.version, "print the version and exit");
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e) == 0 ? 0 : EX_USAGE;
    }
    return std::nullopt;
}

// Loads the config (and with --check-config the credential files) and starts logging; an exit
// status when the process ends here.
std::optional<int> load_startup_config(const CommandLine& cl, std::shared_ptr<const Config>& cfg) {
    try {
        cfg = std::make_shared<const Config>(load_config(cl.config_file));
        for (const auto& name : cl.tenants) {
            const TenantConfig* t = cfg->find_tenant(name);
            if (t == nullptr) {
                throw ConfigError(cl.config_file + ": --tenant " + name + ": no such tenant");
            }
            if (!t->enabled) {
                throw ConfigError(cl.config_file + ": --tenant " + name +
                                  ": disabled (enabled = false in its [[tenant]]): not synced");
            }
        }
        if (cl.check_config) {
            std::size_t disabled = 0;
            for (const auto& t : cfg->tenants) {
                if (!t.enabled) {
                    ++disabled;  // its credential may not exist yet: a tenant being prepared
                    continue;
                }
                load_tenant_credential(t);
            }
            std::cout << cl.config_file << ": OK (" << cfg->tenants.size() << " tenants"
                      << (disabled ? ", " + std::to_string(disabled) + " disabled" : "") << ")\n";
            return 0;
        }
        setup_logging(cfg->log, "m365gate-sync");
    } catch (const ConfigError& e) {
        std::cerr << "m365gate-sync: " << e.what() << '\n';
        return EX_CONFIG;
    }
    return std::nullopt;
}

// Before any thread: blocks the signals the main thread waits for.
sigset_t block_signals() {
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGHUP);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);
    signal(SIGPIPE, SIG_IGN);
    return signals;
}

// Started as root: becomes sync.user, then opens the log file as that user. An exit status
// when that fails.
std::optional<int> become_sync_user(const Config& cfg) {
    try {
        drop_privileges(cfg.sync.user);
    } catch (const PrivilegeError& e) {
        spdlog::critical("event=start status=error error={}", log_value(e.what()));
        std::cerr << "m365gate-sync: " << e.what() << '\n';
        return EX_NOPERM;
    }
    // Only now, as sync.user: a log file (setup_logging() did not open it as root), and
    // below the pid file, in directories another user may be able to write.
    try {
        setup_logging(cfg.log, "m365gate-sync");
    } catch (const ConfigError& e) {
        std::cerr << "m365gate-sync: " << e.what() << '\n';
        return EX_CONFIG;
    }
    spdlog::info("event=start note=\"dropped privileges\" user={}", log_value(cfg.sync.user));
    return std::nullopt;
}

// The store, the alerter and the worker of the process; the worker thread replaces the store
// and the worker when the store is found damaged.
struct SyncProcess {
    std::unique_ptr<sync::Alerter> alerter;
    std::unique_ptr<store::Store> store;
    std::unique_ptr<sync::Worker> worker;
    sync::SyncMetrics metrics;
    metrics::TextfileWriter metrics_writer{"m365gate_sync.prom",
                                           [this] { return metrics.render(now_seconds()); }};
};

// The worker thread: one round (--once) or the daemon's rounds. Returns the exit status.
int run_rounds(const CommandLine& cl, std::shared_ptr<const Config> cfg, SyncProcess& p,
               Control& control) {
    if (cl.once) {
        sync::RoundOptions options;
        options.force = cl.force;
        options.full = cl.full;
        options.tenants = cl.tenants;
        int exit_code = exit_code_for(p.worker->run_round(options));
        if (!check_store(*p.store).empty()) {
            exit_code = EX_IOERR;  // the next run moves it aside and rebuilds it
        }
        return exit_code;
    }
    std::shared_ptr<const Config> current = std::move(cfg);  // reloads replace it
    while (daemon_loop(*p.worker, *p.store, control, cl.config_file, current)) {
        // Closed before it is moved aside; open_store() finds it damaged again, moves it into
        // broken-<time>/ and starts an empty one, which the next round fills with a full sync.
        p.worker.reset();
        p.store.reset();
        p.store = open_store(*current, *p.alerter);
        p.worker = std::make_unique<sync::Worker>(*p.store, *p.alerter, &control.stop);
        p.worker->set_metrics(&p.metrics, &p.metrics_writer);
        p.worker->set_config(current, false);
    }
    return 0;
}

// The main thread: SIGHUP asks the daemon to reload; SIGTERM/SIGINT, or the worker thread's
// own SIGTERM when its work is done, stop it.
void wait_for_signals(const sigset_t& signals, bool once, Control& control) {
    for (;;) {
        siginfo_t info{};
        const int sig = sigwaitinfo(&signals, &info);
        if (sig < 0) {
            continue;  // EINTR
        }
        if (sig == SIGHUP) {
            if (once) {
                continue;
            }
            spdlog::info("event=signal signal=SIGHUP action=reload");
            std::lock_guard<std::mutex> lock(control.mu);
            control.reload = true;
            control.cv.notify_all();
            continue;
        }
        const bool ours = info.si_pid == getpid();
        if (!ours) {
            spdlog::info("event=signal signal={} action=stop",
                         sig == SIGTERM ? "SIGTERM" : "SIGINT");
        }
        std::lock_guard<std::mutex> lock(control.mu);
        control.stop.store(true);
        control.cv.notify_all();
        return;
    }
}

// Runs the rounds on a worker thread while the main thread waits for signals.
int run_with_signals(const CommandLine& cl, const std::shared_ptr<const Config>& cfg,
                     const sigset_t& signals, SyncProcess& p, Control& control) {
    int exit_code = 0;
    std::thread runner([&] {
        try {
            exit_code = run_rounds(cl, cfg, p, control);
        } catch (const std::exception& e) {
            spdlog::critical("event=worker status=error error={}", log_value(e.what()));
            exit_code = EX_SOFTWARE;
        }
        // Wakes the main thread: the work is done.
        control.stop.store(true);
        kill(getpid(), SIGTERM);
    });
    wait_for_signals(signals, cl.once, control);
    runner.join();
    return exit_code;
}

int run(int argc, char** argv) {
    CommandLine cl;
    if (const auto status = parse_command_line(argc, argv, cl)) {
        return *status;
    }
    if (cl.version) {
        std::cout << "m365gate-sync 0.1.0\n";
        return 0;
    }
    std::shared_ptr<const Config> cfg;
    if (const auto status = load_startup_config(cl, cfg)) {
        return *status;
    }
    const sigset_t signals = block_signals();
    if (geteuid() == 0) {
        if (const auto status = become_sync_user(*cfg)) {
            return *status;
        }
    }
    if (!cl.once) {
        if (const std::string why = write_pid_file(cfg->sync.pid_file); !why.empty()) {
            spdlog::warn("event=pid_file status=error file={} error={}",
                         log_value(cfg->sync.pid_file.string()), log_value(why));
        }
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        spdlog::critical("event=start status=error error=\"curl_global_init failed\"");
        return EX_SOFTWARE;
    }

    Control control;
    SyncProcess p;
    p.alerter = sync::make_alerter();
    try {
        p.store = open_store(*cfg, *p.alerter);
    } catch (const store::StoreError& e) {
        spdlog::critical("event=start status=error what=store error={}", log_value(e.what()));
        std::cerr << "m365gate-sync: " << e.what() << '\n';
        return e.kind() == store::StoreError::Kind::schema ? EX_CONFIG : EX_IOERR;
    }
    p.worker = std::make_unique<sync::Worker>(*p.store, *p.alerter, &control.stop);
    p.worker->set_metrics(&p.metrics, &p.metrics_writer);
    p.worker->set_config(cfg, false);
    if (!cl.once) {
        // As the sync user. A --once run (by hand, next to the daemon) must not replace the
        // daemon's file with its own counts: Prometheus would read a counter reset.
        p.metrics_writer.start();
    }
    spdlog::info("event=start mode={} tenants={} config={} metrics={}", cl.once ? "once" : "daemon",
                 cfg->tenants.size(), log_value(cl.config_file),
                 log_value(metrics::summary(cfg->metrics)));

    const int exit_code = run_with_signals(cl, cfg, signals, p, control);
    p.metrics_writer.stop();
    curl_global_cleanup();
    spdlog::info("event=stop exit={}", exit_code);
    if (!cl.once) {
        remove_pid_file(cfg->sync.pid_file);
    }
    return exit_code;
}

}  // namespace

int main(int argc, char** argv) {
    try {
        return run(argc, argv);
    } catch (const std::exception& e) {
        std::cerr << "m365gate-sync: " << e.what() << '\n';
        return EX_SOFTWARE;
    }
}
