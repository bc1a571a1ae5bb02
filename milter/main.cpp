// milter/main.cpp - m365gate-milter: answers each RCPT TO from the LMDB recipient store.
//
// The skeleton is Postfix's: pre-jail (load the config, bind the milter socket - as root, with
// the milter user's rights for a unix socket - with its mode and group), jail (drop to
// milter.user/milter.group; a failed drop is fatal, EX_NOPERM), post-jail (open the store read-only
// as the milter user, so a permission mistake shows at start; a log file; the pid file), then
// smfi_main() (milter/serve.h). Signals: SIGUSR1 reloads the decision settings; SIGTERM, SIGINT
// and - libmilter's choice - SIGHUP stop the milter. The main thread sigwait()s for them: nothing
// runs in signal context.
#include <fcntl.h>
#include <grp.h>
#include <pthread.h>
#include <pwd.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sysexits.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "common/config.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/safe_file.h"
#include "common/unique_fd.h"
#include "decision/decision.h"
#include "milter/glue.h"
#include "milter/serve.h"
#include "store/store.h"

namespace {

using namespace m365gate;

constexpr const char* program = "m365gate-milter";

// libmilter's smfi_main() returns after SIGTERM while its session threads may still be inside
// a callback, and nothing joins them: destroying the App (rejection log, store, rules) under
// them is a use after free (ThreadSanitizer saw RejectionLog::write() race its destructor at
// stop). So every callback passes this gate: once it is closed, new callbacks answer without
// touching the App, and run() waits (bounded) for those in flight before tearing down.
namespace gate {

std::atomic<int> in_flight{0};
std::atomic<bool> closed{false};
smfiDesc inner{};

struct Pass {
    Pass() {
        in_flight.fetch_add(1);
        open = !closed.load();
    }
    ~Pass() { in_flight.fetch_sub(1); }
    Pass(const Pass&) = delete;
    Pass& operator=(const Pass&) = delete;
    bool open = false;
};

sfsistat gated_connect(SMFICTX* ctx, char* host, _SOCK_ADDR* addr) {
    const Pass pass;
    return pass.open ? inner.xxfi_connect(ctx, host, addr) : SMFIS_TEMPFAIL;
}
sfsistat gated_envfrom(SMFICTX* ctx, char** argv) {
    const Pass pass;
    return pass.open ? inner.xxfi_envfrom(ctx, argv) : SMFIS_TEMPFAIL;
}
sfsistat gated_envrcpt(SMFICTX* ctx, char** argv) {
    const Pass pass;
    return pass.open ? inner.xxfi_envrcpt(ctx, argv) : SMFIS_TEMPFAIL;
}
sfsistat gated_abort(SMFICTX* ctx) {
    const Pass pass;
    return pass.open ? inner.xxfi_abort(ctx) : SMFIS_CONTINUE;
}
// close frees the connection's data and touches nothing else: it runs even when closed.
sfsistat gated_close(SMFICTX* ctx) {
    const Pass pass;
    return inner.xxfi_close(ctx);
}
sfsistat gated_negotiate(SMFICTX* ctx, unsigned long f0, unsigned long f1, unsigned long f2,
                         unsigned long f3, unsigned long* pf0, unsigned long* pf1,
                         unsigned long* pf2, unsigned long* pf3) {
    const Pass pass;
    return pass.open ? inner.xxfi_negotiate(ctx, f0, f1, f2, f3, pf0, pf1, pf2, pf3) : SMFIS_REJECT;
}

// The callback table with every callback of `desc` behind the gate.
smfiDesc wrap(const smfiDesc& desc) {
    inner = desc;
    smfiDesc out = desc;
    if (desc.xxfi_connect) out.xxfi_connect = gated_connect;
    if (desc.xxfi_envfrom) out.xxfi_envfrom = gated_envfrom;
    if (desc.xxfi_envrcpt) out.xxfi_envrcpt = gated_envrcpt;
    if (desc.xxfi_abort) out.xxfi_abort = gated_abort;
    if (desc.xxfi_close) out.xxfi_close = gated_close;
    if (desc.xxfi_negotiate) out.xxfi_negotiate = gated_negotiate;
    return out;
}

// Closes the gate and waits until no callback is inside the App; false after `limit`.
bool close_and_drain(std::chrono::milliseconds limit) {
    closed.store(true);
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (in_flight.load() != 0) {
        if (std::chrono::steady_clock::now() >= deadline) {
            return false;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return true;
}

}  // namespace gate

// A failure of the environment that ends the process with a sysexits code.
class Fatal : public std::runtime_error {
public:
    Fatal(int code, const std::string& what) : std::runtime_error(what), code_(code) {}
    int code() const noexcept { return code_; }

private:
    int code_;
};

[[noreturn]] void throw_errno(int code, const std::string& what) {
    throw Fatal(code, what + ": " + std::strerror(errno));
}

struct Identity {
    uid_t uid;
    gid_t gid;
    std::string name;
};

Identity lookup_user(const std::string& user_name, const std::string& group_name) {
    const passwd* pw = getpwnam(user_name.c_str());
    if (pw == nullptr) {
        throw Fatal(EX_NOPERM, "milter.user \"" + user_name + "\": no such user");
    }
    Identity id{pw->pw_uid, pw->pw_gid, pw->pw_name};
    if (!group_name.empty()) {
        const group* gr = getgrnam(group_name.c_str());
        if (gr == nullptr) {
            throw Fatal(EX_NOPERM, "milter.group \"" + group_name + "\": no such group");
        }
        id.gid = gr->gr_gid;
    }
    return id;
}

// Supplementary groups and gid need root, so uid goes last. A milter that keeps running as
// root is worse than one that does not start: every failure is fatal (P14).
void drop_privileges(const Identity& id) {
    if (id.uid == 0) {
        throw Fatal(EX_NOPERM, "milter.user must not be root");
    }
    if (initgroups(id.name.c_str(), id.gid) != 0) {
        throw_errno(EX_NOPERM, "initgroups(" + id.name + ")");
    }
    if (setgid(id.gid) != 0) {
        throw_errno(EX_NOPERM, "setgid(" + std::to_string(id.gid) + ")");
    }
    if (setuid(id.uid) != 0) {
        throw_errno(EX_NOPERM, "setuid(" + std::to_string(id.uid) + ")");
    }
    if (setuid(0) == 0 || geteuid() == 0) {
        throw Fatal(EX_NOPERM, "regained root after setuid(): refusing to run");
    }
}

gid_t socket_group_id(const MilterConfig& mc, gid_t fallback) {
    if (mc.socket_group.empty()) {
        return fallback;
    }
    const group* gr = getgrnam(mc.socket_group.c_str());
    if (gr == nullptr) {
        throw Fatal(EX_CONFIG, "milter.socket_group \"" + mc.socket_group + "\": no such group");
    }
    return gr->gr_gid;
}

// Checks that `path` is the unix socket just bound - owned by the effective user, not a
// symlink - through an O_PATH descriptor, and gives it group `gid` and `mode` on that
// descriptor when it lacks them (never by path: the directory may belong to someone else).
void settle_socket(const std::string& path, gid_t gid, mode_t mode) {
    const UniqueFd socket_fd(::open(path.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
    const int fd = socket_fd.get();
    if (fd < 0) {
        throw_errno(EX_OSERR, "milter.socket " + path + ": cannot open the socket just bound");
    }
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
        throw_errno(EX_OSERR, "fstat " + path);
    }
    if (!S_ISSOCK(st.st_mode) || st.st_uid != ::geteuid()) {
        throw Fatal(EX_OSERR, "milter.socket " + path +
                                  " was replaced after the bind (not our socket): refusing to "
                                  "start; only milter.user and root should be able to write "
                                  "its directory");
    }
    if (st.st_gid != gid && ::fchownat(fd, "", static_cast<uid_t>(-1), gid, AT_EMPTY_PATH) != 0) {
        spdlog::warn("event=socket_group status=error socket={} group={} error={}", log_value(path),
                     gid, log_value(std::strerror(errno)));
    }
    if ((st.st_mode & 07777) != mode) {
        // fchmod() does not work on an O_PATH descriptor; its /proc link names the same inode.
        const std::string self = "/proc/self/fd/" + std::to_string(fd);
        if (::chmod(self.c_str(), mode) != 0) {
            throw_errno(EX_OSERR, "chmod " + path);
        }
    }
}

// Binds the milter socket (removing a stale unix socket) with mode milter.socket_mode and group
// milter.socket_group (else the milter's group). Started as root, the bind itself runs as
// milter.user with the socket's group as effective gid and the umask set to the mode (ActAs):
// the socket is born with its owner, group and mode, and no chmod/chown runs as root on a path
// in a directory the milter user can change (a symlink planted there between a bind and a
// chown by path used to hand a root file to that user). Unprivileged, the socket is ours
// anyway; its group is set on the bound socket's descriptor (settle_socket).
void open_socket(const MilterConfig& mc, const std::optional<Identity>& identity) {
    const auto path = milter::unix_socket_path(mc.socket);
    if (path) {
        if (path->size() >= 108) {
            throw Fatal(EX_CONFIG, "milter.socket: path longer than 107 bytes: " + *path);
        }
        const auto dir = std::filesystem::path(*path).parent_path();
        std::error_code ec;
        if (!dir.empty() && !std::filesystem::is_directory(dir, ec)) {
            throw Fatal(EX_OSFILE, "milter.socket: directory " + dir.string() +
                                       " does not exist (create it, owned by milter.user, "
                                       "traversable by the MTA)");
        }
    }
    std::string spec = mc.socket;
    if (smfi_setconn(spec.data()) == MI_FAILURE) {
        throw Fatal(EX_CONFIG, "milter.socket \"" + mc.socket + "\": smfi_setconn failed");
    }
    smfiDesc desc = gate::wrap(milter::filter_description());
    if (smfi_register(desc) == MI_FAILURE) {
        throw Fatal(EX_SOFTWARE, "smfi_register failed");
    }
    smfi_settimeout(static_cast<int>(mc.timeout.count()));
    smfi_setbacklog(128);
    const gid_t gid = socket_group_id(mc, identity ? identity->gid : ::getegid());
    const auto mode = static_cast<mode_t>(mc.socket_mode & 07777);
    // The socket is created with at most socket_mode, never briefly wider.
    const mode_t old_umask = umask(static_cast<mode_t>(0777 & ~mode));
    int rc = MI_FAILURE;
    try {
        std::optional<ActAs> as_milter;
        if (identity && path) {
            std::vector<gid_t> groups = groups_of(identity->name, identity->gid);
            groups.push_back(gid);
            as_milter.emplace(identity->uid, gid, groups);
        }
        rc = smfi_opensocket(true);  // true: remove a stale unix socket first
        if (rc != MI_FAILURE && path) {
            settle_socket(*path, gid, mode);
        }
    } catch (const std::runtime_error& e) {
        umask(old_umask);
        if (dynamic_cast<const Fatal*>(&e) != nullptr) {
            throw;
        }
        throw Fatal(EX_OSERR, std::string("binding milter.socket as milter.user: ") + e.what());
    }
    umask(old_umask);
    if (rc == MI_FAILURE) {
        throw Fatal(EX_UNAVAILABLE,
                    "cannot listen on milter.socket \"" + mc.socket + "\"" +
                        (identity && path ? " (bound as milter.user " + identity->name +
                                                ": its directory must be writable by that user)"
                                          : std::string()));
    }
}

// "off", "20/600s,report", "20/600s,450,1800s": [milter.harvest] threshold/window, action,
// block_for.
std::string harvest_summary(const HarvestConfig& h) {
    if (h.threshold <= 0) {
        return "off";
    }
    std::string out = std::to_string(h.threshold) + "/" + std::to_string(h.window.count()) + "s," +
                      harvest_action_name(h.action);
    if (h.action != HarvestAction::report) {
        out += "," + std::to_string(h.block_for.count()) + "s";
    }
    return out;
}

// "contoso:3,fabrikam:1(report)": tenants, their managed domain counts (from the store when it is
// readable, else from the config), and a mode other than [milter]'s or "(disabled)".
std::string tenant_summary(const Config& cfg, milter::App& app) {
    std::string out;
    const auto st = app.store().get();
    std::optional<store::Snapshot> snapshot;
    if (st) {
        try {
            snapshot.emplace(*st);
        } catch (const std::exception&) {
            snapshot.reset();
        }
    }
    for (const auto& t : cfg.tenants) {
        std::size_t count = t.domains.size();
        if (snapshot) {
            const auto stored = snapshot->domains(t.name);
            if (!stored.empty()) {
                count = stored.size();
            }
        }
        if (!out.empty()) {
            out += ',';
        }
        out += t.name + ":" + std::to_string(count);
        if (!t.enabled) {
            out += "(disabled)";
        } else if (t.mode && *t.mode != cfg.decision.mode) {
            out += std::string("(") + mode_name(*t.mode) + ")";
        }
    }
    return out.empty() ? "-" : out;
}

void apply_log_level(const LogConfig& log) {
    spdlog::set_level(spdlog::level::from_str(log.level));
}

// SIGUSR1: re-read the config; a config that fails validation is logged and ignored.
void reload(milter::App& app, const std::filesystem::path& file) {
    try {
        auto next = std::make_shared<const Config>(load_config(file));
        const std::vector<std::string> restart = app.replace_config(next);
        apply_log_level(next->log);
        app.rejections().open(next->log.rejections);  // also picks up a logrotate'd file
        std::string needs;
        for (const auto& name : restart) {
            needs += needs.empty() ? name : "," + name;
        }
        spdlog::info("event=reload status=ok file={} mode={} tenants={} harvest={} metrics={}{}",
                     log_value(file.string()), mode_name(next->decision.mode),
                     tenant_summary(*next, app), harvest_summary(next->milter.harvest),
                     log_value(metrics::summary(next->metrics)),
                     needs.empty() ? std::string() : " restart_needed=" + needs);
    } catch (const std::exception& e) {
        app.rejections().reopen();
        spdlog::error("event=reload status=rejected file={} error={} keeping=previous",
                      log_value(file.string()), log_value(e.what()));
    }
}

// At the stop: libmilter leaves a unix socket behind.
void remove_socket(const std::string& socket) {
    if (const auto path = milter::unix_socket_path(socket)) {
        std::error_code ec;
        std::filesystem::remove(*path, ec);
        if (ec) {
            // Harmless (the next start removes it) but worth knowing: the socket's directory
            // should belong to milter.user.
            spdlog::warn("event=stop note=\"socket not removed\" socket={} error={}",
                         log_value(*path), log_value(ec.message()));
        }
    }
}

int run(const std::filesystem::path& config_file) {
    auto cfg = std::make_shared<const Config>(load_config(config_file));
    setup_logging(cfg->log, program);
    apply_log_level(cfg->log);

    // Pre-jail: bind the socket as whoever started us.
    const bool root = geteuid() == 0;
    std::optional<Identity> identity;
    if (root) {
        identity = lookup_user(cfg->milter.user, cfg->milter.group);
    }
    open_socket(cfg->milter, identity);

    // Jail.
    if (identity) {
        drop_privileges(*identity);
    } else {
        spdlog::info("event=privileges status=unprivileged uid={} note=milter.user_not_applied",
                     geteuid());
    }

    // Post-jail: everything below runs as the milter user. The App lives on the heap: when a
    // stop finds callbacks still inside it, it is never freed (see the end of run()).
    auto owned_app = std::make_unique<milter::App>(cfg);
    milter::App& app = *owned_app;
    milter::set_app(&app);
    app.store().get();  // logs why when the store is missing; retried from the RCPT path
    if (identity) {
        setup_logging(cfg->log, program);  // a log file is opened only now, as milter.user
    }
    app.rejections().open(cfg->log.rejections);
    if (const std::string why = write_pid_file(cfg->milter.pid_file); !why.empty()) {
        spdlog::warn("event=pid_file status=error file={} error={}",
                     log_value(cfg->milter.pid_file.string()), log_value(why));
    }

    spdlog::info(
        "event=start version={} socket={} store={} store_status={} mode={} tenants={} "
        "harvest={} metrics={} uid={}",
        M365GATE_VERSION, log_value(cfg->milter.socket), log_value(cfg->store.path.string()),
        app.store().get() ? "ok" : "unavailable", mode_name(cfg->decision.mode),
        tenant_summary(*cfg, app), harvest_summary(cfg->milter.harvest),
        log_value(metrics::summary(cfg->metrics)), geteuid());

    app.start_metrics();  // as the milter user: m365gate_milter.prom is never root's

    const milter::Served served =
        milter::serve(cfg->milter.socket, [&app, &config_file] { reload(app, config_file); });
    const bool drained = gate::close_and_drain(cfg->milter.stop_timeout);

    remove_pid_file(cfg->milter.pid_file);
    remove_socket(cfg->milter.socket);
    if (!drained) {
        // A callback is still inside the App (a write that does not return, a stuck MTA
        // session): freeing the App, the loggers or the static objects under it is a use after
        // free. Leave everything as it is and end the process without running a destructor.
        spdlog::error(
            "event=stop status=error in_flight={} stop_timeout={}s signal={} "
            "note=\"callbacks still running; exiting without freeing what they use\"",
            gate::in_flight.load(), cfg->milter.stop_timeout.count(), served.signal);
        spdlog::default_logger_raw()->flush();
        static_cast<void>(owned_app.release());  // deliberately never freed
        std::_Exit(EX_SOFTWARE);
    }
    owned_app.reset();
    spdlog::info("event=stop status={} signal={}", served.rc == MI_SUCCESS ? "ok" : "error",
                 served.signal);
    spdlog::shutdown();
    return served.rc == MI_SUCCESS ? EX_OK : EX_SOFTWARE;
}

}  // namespace

int main(int argc, char** argv) {
    // Before any thread: every thread inherits this mask, so the signals reach only the
    // sigwait() of the main thread (milter/serve.h) and libmilter's signal thread.
    sigset_t blocked;
    sigemptyset(&blocked);
    for (int sig : {SIGUSR1, SIGHUP, SIGTERM, SIGINT}) {
        sigaddset(&blocked, sig);
    }
    pthread_sigmask(SIG_BLOCK, &blocked, nullptr);

    CLI::App cli{"m365gate-milter: reject unknown Microsoft 365 recipients at RCPT time"};
    cli.footer(R"(
Signals: SIGUSR1 reloads the config; SIGTERM, SIGINT and SIGHUP (libmilter) stop.
Examples:
  systemctl enable --now m365gate-milter
  m365gate-milter --check-config
  m365gate-milter --config /etc/m365gate/m365gate.toml   # foreground, as root: drops to milter.user
  postconf -e 'smtpd_milters = unix:m365gate/milter.sock' 'milter_default_action = tempfail'
See m365gate-milter(8), m365gate.toml(5).)");
    std::string config_file = default_config_path;
    bool check_only = false;
    bool version = false;
    cli.add_option("--config", config_file, "configuration file")->capture_default_str();
    cli.add_flag("--check-config", check_only, "validate the configuration and exit (0 / 78)");
    cli.add_flag("--version", version, "print the version and exit");
    try {
        cli.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return cli.exit(e) == 0 ? EX_OK : EX_USAGE;
    }
    if (version) {
        std::cout << program << " " << M365GATE_VERSION << "\n";
        return EX_OK;
    }
    try {
        if (check_only) {
            load_config(config_file);
            std::cout << program << ": " << config_file << ": OK\n";
            return EX_OK;
        }
        return run(config_file);
    } catch (const ConfigError& e) {
        std::cerr << program << ": " << e.what() << "\n";
        spdlog::error("event=fatal error={}", log_value(e.what()));
        return EX_CONFIG;
    } catch (const Fatal& e) {
        std::cerr << program << ": " << e.what() << "\n";
        spdlog::error("event=fatal error={}", log_value(e.what()));
        return e.code();
    } catch (const std::exception& e) {
        std::cerr << program << ": " << e.what() << "\n";
        spdlog::error("event=fatal error={}", log_value(e.what()));
        return EX_SOFTWARE;
    }
}
