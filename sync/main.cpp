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
// moves it aside). --check-credential tries a credential given on standard input with one
// token request (sync/credential_check.h; m365gatectl secret set runs it) and exits 0
// accepted, 1 refused, 69 not tried, 78 bad input.
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
#include <tuple>

#include "common/certificate.h"
#include "common/config.h"
#include "common/credentials.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/safe_file.h"
#include "common/text.h"
#include "common/time.h"
#include "common/unique_fd.h"
#include "store/store.h"
#include "sync/alerts.h"
#include "sync/credential_check.h"
#include "sync/postfix_tables.h"
#include "sync/store_open.h"
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
        if (!sync::check_store(st).empty()) {
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
    bool check_credential = false;
    bool alert_test = false;
    bool version = false;
    bool postfix_tables = false;
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
  m365gate-sync --check-credential --tenant contoso < new-credential   # as secret set does
  m365gate-sync --alert-test --tenant contoso      # what m365gatectl alert test runs
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
    app.add_flag("--check-credential", cl.check_credential,
                 "with one --tenant: try the credential on standard input (a credential file's "
                 "text) with a token request and exit: 0 accepted, 1 refused, 69 not tried");
    app.add_flag("--alert-test", cl.alert_test,
                 "send a test alert for the one --tenant through every configured channel (mail, "
                 "webhook) and exit: 0 every channel delivered, 1 one failed or none is "
                 "configured")
        ->excludes(once_opt);
    app.add_flag("--postfix-tables", cl.postfix_tables,
                 "write [postfix] export_dir's tables from the store as it is and exit")
        ->excludes(once_opt);
    app.add_flag("--version", cl.version, "print the version and exit");
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e) == 0 ? 0 : EX_USAGE;
    }
    if (cl.check_credential && (cl.tenants.size() != 1 || cl.once || cl.check_config)) {
        std::cerr << "m365gate-sync: --check-credential needs exactly one --tenant, and neither "
                     "--once nor --check-config\n";
        return EX_USAGE;
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
            if (!t->enabled && !cl.check_credential) {
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

// --check-credential: one token request, no store, no pid file, no metrics; the credential
// came on standard input (read after the privilege drop).
int check_credential(const Config& cfg, const std::string& tenant) {
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        std::cerr << "m365gate-sync: curl_global_init failed\n";
        return EX_SOFTWARE;
    }
    const int status = sync::run_check_credential(cfg, tenant, std::cin, std::cout);
    curl_global_cleanup();
    return status;
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
        if (!sync::check_store(*p.store).empty()) {
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
        p.store = sync::open_store(*current, *p.alerter);
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

// --alert-test: one line per channel on stdout; 0 when every configured channel delivered.
int run_alert_test(const Config& cfg, const CommandLine& cl) {
    if (cl.tenants.size() != 1) {
        std::cerr << "m365gate-sync: --alert-test needs exactly one --tenant\n";
        return EX_USAGE;
    }
    return sync::run_alert_test(cfg, *cfg.find_tenant(cl.tenants.front()), now_seconds(),
                                std::cout);
}

// --postfix-tables: the tables from the store as it is, no Graph request (after enabling
// [postfix] export_dir or changing always_accept, without waiting for a sync to publish).
int write_postfix_tables_now(const Config& cfg) {
    if (cfg.postfix.export_dir.empty()) {
        std::cerr << "m365gate-sync: --postfix-tables: [postfix] export_dir is not set\n";
        return EX_CONFIG;
    }
    try {
        store::StoreOptions opts;
        opts.max_size = cfg.store.max_size;
        opts.read_only = true;
        const store::Store store(cfg.store.path, opts);
        return sync::export_postfix_tables(cfg, store) ? 0 : EX_IOERR;
    } catch (const store::StoreError& e) {
        std::cerr << "m365gate-sync: " << e.what() << '\n';
        return EX_IOERR;
    }
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
    if (cl.check_credential) {
        return check_credential(*cfg, cl.tenants.front());
    }
    if (cl.postfix_tables) {
        return write_postfix_tables_now(*cfg);
    }
    if (!cl.once && !cl.alert_test) {
        if (const std::string why = write_pid_file(cfg->sync.pid_file); !why.empty()) {
            spdlog::warn("event=pid_file status=error file={} error={}",
                         log_value(cfg->sync.pid_file.string()), log_value(why));
        }
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        spdlog::critical("event=start status=error error=\"curl_global_init failed\"");
        return EX_SOFTWARE;
    }
    if (cl.alert_test) {
        const int status = run_alert_test(*cfg, cl);
        curl_global_cleanup();
        return status;
    }

    Control control;
    SyncProcess p;
    p.alerter = sync::make_alerter();
    try {
        p.store = sync::open_store(*cfg, *p.alerter);
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
