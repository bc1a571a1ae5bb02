// ctl/config_check.cpp - `check-config` (validate the config and the credential files, say
// what would be used) and `reload` (SIGHUP to the sync worker, SIGUSR1 to the milter).
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ostream>

#include "common/certificate.h"
#include "common/credentials.h"
#include "common/days.h"
#include "ctl/ctl.h"

namespace m365gate::ctl {

namespace {

constexpr std::size_t max_unix_socket_path = 107;  // sun_path holds 108 bytes with the NUL

struct Findings {
    std::vector<std::string> warnings;
    std::vector<std::string> errors;
};

std::string octal_mode(mode_t mode) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(mode & 07777));
    return buf;
}

std::string user_name(uid_t uid) {
    const passwd* pw = getpwuid(uid);
    return pw != nullptr ? pw->pw_name : std::to_string(uid);
}

std::string group_name(gid_t gid) {
    const group* gr = getgrgid(gid);
    return gr != nullptr ? gr->gr_name : std::to_string(gid);
}

const char* verdict_name(Verdict v) {
    switch (v) {
        case Verdict::accept:
            return "continue";
        case Verdict::reject:
            return "reject";
        case Verdict::tempfail:
            break;
    }
    return "tempfail";
}

std::string log_target(const LogConfig& log) {
    switch (log.target) {
        case LogTarget::syslog:
            return "syslog (facility mail)";
        case LogTarget::stderr_:
            return "stderr";
        case LogTarget::file:
            break;
    }
    return "file " + log.file.string();
}

std::string seconds_text(Seconds s) { return format_age(s.count()); }

void check_readable_file(const std::filesystem::path& file, const std::string& what,
                         Findings& findings) {
    if (access(file.c_str(), R_OK) != 0) {
        findings.errors.push_back(what + " " + file.string() + ": " + std::strerror(errno));
    }
}

void check_parent_dir(const std::filesystem::path& file, const std::string& what,
                      Findings& findings) {
    const auto parent = file.parent_path();
    std::error_code ec;
    if (!parent.empty() && !std::filesystem::is_directory(parent, ec)) {
        findings.warnings.push_back(what + ": directory " + parent.string() + " does not exist");
    }
}

void check_expiry(const Config& cfg, const TenantConfig& tenant,
                  std::optional<std::int64_t> expires, std::string source, std::int64_t now,
                  std::ostream& out, Findings& findings);

// The credential file of one tenant: readable, 0600 (load_credential refuses group/other
// access), owned by the sync user, and its expiry.
void check_credential(const Config& cfg, const TenantConfig& tenant, std::int64_t now,
                      std::ostream& out, Findings& findings) {
    const auto& file = credential_file(tenant);
    out << "  credential file: " << file.string();
    struct stat st {};
    if (::stat(file.c_str(), &st) != 0) {
        out << ": " << std::strerror(errno) << "\n";
        findings.errors.push_back("tenant " + tenant.name + ": credential file " + file.string() +
                                  ": " + std::strerror(errno) +
                                  " (write it with: m365gatectl secret set --tenant " +
                                  tenant.name + ")");
        return;
    }
    out << " (mode " << octal_mode(st.st_mode) << ", owner " << user_name(st.st_uid) << ":"
        << group_name(st.st_gid) << ")";
    std::optional<Credential> credential;
    try {
        credential = load_tenant_credential(tenant);
    } catch (const ConfigError& e) {
        out << ": INVALID\n";
        std::string message = e.what();
        if (access(file.c_str(), R_OK) != 0) {
            message += " (run check-config as root or as " + cfg.sync.user + ")";
        }
        findings.errors.push_back("tenant " + tenant.name + ": " + message);
        return;
    }
    out << (credential->certificate ? ": ok, key and certificate present\n"
                                    : ": ok, secret present\n");
    if (const passwd* pw = getpwnam(cfg.sync.user.c_str());
        pw != nullptr && pw->pw_uid != st.st_uid) {
        findings.warnings.push_back("tenant " + tenant.name + ": " + file.string() +
                                    " is owned by " + user_name(st.st_uid) +
                                    ", but m365gate-sync runs as " + cfg.sync.user + ": chown " +
                                    cfg.sync.user + " " + file.string());
    }
    std::optional<std::int64_t> expires;
    std::string source;
    if (credential->expires) {
        expires = std::chrono::duration_cast<std::chrono::seconds>(
                      credential->expires->time_since_epoch())
                      .count();
        source = credential->certificate ? "certificate notAfter" : "credential file";
    } else if (tenant.client_secret_expires) {
        expires = std::chrono::duration_cast<std::chrono::seconds>(
                      tenant.client_secret_expires->time_since_epoch())
                      .count();
        source = "config client_secret_expires";
    }
    check_expiry(cfg, tenant, expires, source, now, out, findings);
}

// What the sync worker last recorded for the tenant (nullopt: no store, or never synced).
std::optional<store::TenantState> stored_state(const Config& cfg, const std::string& tenant) {
    std::string why;
    try {
        const auto store = open_store(cfg, why);
        if (store) {
            return store::Snapshot(*store).tenant_state(tenant);
        }
    } catch (const std::exception&) {
    }
    return std::nullopt;
}

// The expiry the credential file or config gives (`expires` from `source`), judged against
// what the sync worker last read from Graph: Graph's date wins (a local one that differs is a
// warning), a date that is past while sign-in works is a wrong date, not an expired secret, and
// no date at all is a warning.
void check_expiry(const Config& cfg, const TenantConfig& tenant,
                  std::optional<std::int64_t> expires, std::string source, std::int64_t now,
                  std::ostream& out, Findings& findings) {
    const std::optional<store::TenantState> st = stored_state(cfg, tenant.name);
    if (st && st->secret_expires_source == "graph" && st->secret_expires != 0 &&
        (!expires || *expires == st->secret_expires_local)) {
        if (expires && store::local_expiry_disagrees(*st)) {
            out << "  local expiry:    " << format_time(*expires) << " (from " << source
                << ") differs from Graph's: ignored\n";
            findings.warnings.push_back("tenant " + tenant.name + ": the expiry date in the " +
                                        source + " (" + format_time(*expires) +
                                        ") differs from Graph's (" +
                                        format_time(st->secret_expires) + "): fix or remove it");
        }
        expires = st->secret_expires;
        source = "Graph, as m365gate-sync last read it";
    }
    if (!expires) {
        out << "  secret expires:  unknown: not in the credential file or the config, and not "
               "read from Graph (yet)\n";
        findings.warnings.push_back("tenant " + tenant.name +
                                    ": expiry unknown: grant Application.Read.All or set expires");
        return;
    }
    const std::int64_t left = *expires - now;
    out << "  secret expires:  " << format_time(*expires) << " ("
        << (left > 0 ? std::to_string(days_left(*expires, now)) + " days left" : "EXPIRED")
        << ", from " << source << ")\n";
    if (left <= 0 && st && store::sign_in_works(*st)) {
        findings.warnings.push_back("tenant " + tenant.name + ": the expiry date " +
                                    format_time(*expires) + " (from " + source +
                                    ") is past, but m365gate-sync signs in: the date is wrong");
    } else if (left <= 0) {
        findings.errors.push_back("tenant " + tenant.name + ": the client secret expired on " +
                                  format_time(*expires));
    } else if (left <= warning_secret_days * seconds_per_day) {
        findings.warnings.push_back("tenant " + tenant.name + ": the client secret expires in " +
                                    std::to_string(days_left(*expires, now)) + " days");
    }
}

void check_store_dir(const Config& cfg, std::ostream& out, Findings& findings) {
    const auto& dir = cfg.store.path;
    out << "[store]   path " << dir.string() << ", max_size " << (cfg.store.max_size >> 20)
        << " MiB";
    struct stat st {};
    if (::stat(dir.c_str(), &st) != 0) {
        out << " (does not exist yet: the first sync creates it)\n";
        return;
    }
    out << " (mode " << octal_mode(st.st_mode) << ", owner " << user_name(st.st_uid) << ":"
        << group_name(st.st_gid) << ")\n";
    if ((st.st_mode & S_IRWXO) != 0) {
        findings.warnings.push_back("store " + dir.string() + " is accessible by others (mode " +
                                    octal_mode(st.st_mode) + "): chmod 0750 " + dir.string());
    }
    const auto data = dir / "data.mdb";
    if (::stat(data.c_str(), &st) == 0 && (st.st_mode & S_IRWXO) != 0) {
        findings.warnings.push_back(data.string() + " is accessible by others (mode " +
                                    octal_mode(st.st_mode) + "): chmod 0640 " + data.string());
    }
}

void check_log(const LogConfig& log, std::ostream& out, Findings& findings) {
    out << "[log]     " << log_target(log) << ", level " << log.level << "; rejections: "
        << (log.rejections.empty() ? std::string("off") : log.rejections.string()) << "\n";
    if (log.target == LogTarget::file) {
        check_parent_dir(log.file, "log.file", findings);
    }
    if (!log.rejections.empty()) {
        check_parent_dir(log.rejections, "log.rejections", findings);
    }
}

// A tenant disabled, or with a mode of its own other than [milter]'s.
bool some_tenant_differs(const Config& cfg) {
    return std::any_of(cfg.tenants.begin(), cfg.tenants.end(), [&](const TenantConfig& t) {
        return !t.enabled || (t.mode && *t.mode != cfg.decision.mode);
    });
}

void check_milter(const Config& cfg, std::ostream& out, Findings& findings) {
    const auto& d = cfg.decision;
    out << "[milter]  socket " << cfg.milter.socket << " (mode "
        << octal_mode(cfg.milter.socket_mode) << ", group " << cfg.milter.socket_group
        << "), runs as " << cfg.milter.user << ":" << cfg.milter.group << ", pid file "
        << cfg.milter.pid_file.string() << "\n";
    out << "          mode "
        << (d.mode == MilterMode::report ? "report (would-reject only)" : "enforce")
        << (some_tenant_differs(cfg) ? " (some tenants differ, below)" : "")
        << "; unknown recipient: " << d.reject.code << " " << d.reject.status
        << "; no data: " << verdict_name(d.on_cache_unavailable)
        << "; stale: " << verdict_name(d.on_stale) << "\n";
    out << "          always accept: " << join(d.always_accept) << "; subaddress delimiters: \""
        << d.subaddress_delimiters << "\"\n";
    if (cfg.milter.socket.rfind("unix:", 0) == 0 || cfg.milter.socket.rfind("local:", 0) == 0) {
        const std::filesystem::path socket =
            cfg.milter.socket.substr(cfg.milter.socket.find(':') + 1);
        if (socket.string().size() > max_unix_socket_path) {
            findings.errors.push_back("milter.socket path is longer than " +
                                      std::to_string(max_unix_socket_path) + " bytes");
        }
        check_parent_dir(socket, "milter.socket", findings);
    }
}

// Also whether the users of both daemons exist.
void check_sync(const Config& cfg, std::ostream& out, Findings& findings) {
    out << "[sync]    every " << seconds_text(cfg.sync.interval) << ", full every "
        << seconds_text(cfg.sync.full_every) << ", stale after "
        << seconds_text(cfg.sync.stale_after) << ", max_shrink "
        << static_cast<int>(cfg.sync.max_shrink * 100 + 0.5) << "%, runs as " << cfg.sync.user
        << ", CA: "
        << (cfg.sync.ca_file.empty() ? std::string("system CAs")
                                     : "system CAs + " + cfg.sync.ca_file.string())
        << "\n";
    if (!cfg.sync.ca_file.empty()) {
        check_readable_file(cfg.sync.ca_file, "sync.ca_file", findings);
    }
    if (getpwnam(cfg.sync.user.c_str()) == nullptr) {
        findings.warnings.push_back("sync.user \"" + cfg.sync.user +
                                    "\" does not exist on this system");
    }
    if (getpwnam(cfg.milter.user.c_str()) == nullptr) {
        findings.warnings.push_back("milter.user \"" + cfg.milter.user +
                                    "\" does not exist on this system");
    }
}

void check_alerts(const Config& cfg, std::ostream& out, Findings& findings) {
    std::vector<std::string> days;
    for (int n : cfg.alerts.secret_days) {
        days.push_back(std::to_string(n));
    }
    out << "[alerts]  mail to: "
        << (cfg.alerts.mail_to.empty() ? std::string("nobody") : join(cfg.alerts.mail_to))
        << " via " << cfg.alerts.sendmail.string()
        << "; webhook: " << (cfg.alerts.webhook.empty() ? std::string("off") : cfg.alerts.webhook)
        << "; secret warnings at " << join(days) << " days; sync failure after "
        << seconds_text(cfg.alerts.sync_failure_after) << "\n";
    if (!cfg.alerts.mail_to.empty() && access(cfg.alerts.sendmail.c_str(), X_OK) != 0) {
        findings.warnings.push_back("alerts.sendmail " + cfg.alerts.sendmail.string() +
                                    " is not executable: alert mail cannot be sent");
    }
    if (cfg.alerts.mail_to.empty() && cfg.alerts.webhook.empty()) {
        bool any_tenant_mail = false;
        for (const auto& t : cfg.tenants) {
            any_tenant_mail = any_tenant_mail || !t.alert_mail_to.empty();
        }
        if (!any_tenant_mail) {
            findings.warnings.push_back(
                "no alert mail_to and no webhook: an expiring secret is only logged");
        }
    }
}

void check_metrics(const MetricsConfig& m, std::ostream& out, Findings& findings) {
    if (m.textfile_dir.empty()) {
        out << "[metrics] off\n";
        return;
    }
    out << "[metrics] m365gate_milter.prom and m365gate_sync.prom into " << m.textfile_dir.string()
        << " every " << seconds_text(m.interval) << "\n";
    std::error_code ec;
    if (!std::filesystem::is_directory(m.textfile_dir, ec)) {
        findings.warnings.push_back("metrics.textfile_dir " + m.textfile_dir.string() +
                                    " does not exist: no metrics are written");
    }
}

// [postfix] export_dir: the directory the sync worker will accept, and Postfix can read.
void check_postfix(const Config& cfg, std::ostream& out, Findings& findings) {
    const std::string dir = cfg.postfix.export_dir.string();
    if (dir.empty()) {
        out << "[postfix] off\n";
        return;
    }
    out << "[postfix] domains.lmdb and recipients.lmdb into " << dir
        << " after each sync that publishes\n";
    const std::string fix = " (install -d -o " + cfg.sync.user + " -g postfix -m 2750 " + dir + ")";
    struct stat st {};
    if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
        findings.warnings.push_back("postfix.export_dir " + dir +
                                    " is not a directory: no Postfix tables are written" + fix);
        return;
    }
    const passwd* pw = ::getpwnam(cfg.sync.user.c_str());
    if ((st.st_mode & 022) != 0 || (pw != nullptr && st.st_uid != 0 && st.st_uid != pw->pw_uid)) {
        findings.warnings.push_back("postfix.export_dir " + dir +
                                    " may be changed by a user other than sync.user or root: the "
                                    "sync worker refuses to write there" +
                                    fix);
    }
    const group* gr = ::getgrnam("postfix");
    if (gr != nullptr && st.st_gid != gr->gr_gid && (st.st_mode & 004) == 0) {
        findings.warnings.push_back("postfix.export_dir " + dir +
                                    " is not group postfix: Postfix may not read the tables" + fix);
    }
}

void check_tenant(const Config& cfg, const TenantConfig& tenant, std::int64_t now,
                  std::ostream& out, Findings& findings) {
    out << "\ntenant " << tenant.name << ": tenant_id " << tenant.tenant_id << ", client_id "
        << tenant.client_id << "\n";
    if (!tenant.enabled) {
        out << "  mode:            disabled (enabled = false): not synced, not enforced; "
               "credentials not checked\n";
        return;
    }
    if (tenant.mode && *tenant.mode != cfg.decision.mode) {
        out << "  mode:            " << mode_name(*tenant.mode) << " (the tenant's own)\n";
    }
    out << "  endpoints:       " << tenant.login_endpoint << ", " << tenant.graph_endpoint << "\n";
    out << "  domains:         "
        << (tenant.domains.empty() ? std::string("verified domains with Email, from Graph")
                                   : join(tenant.domains))
        << (tenant.include_upn ? "; userPrincipalName counts" : "") << "\n";
    if (!tenant.extra_recipients.empty() || !tenant.extra_recipients_file.empty()) {
        out << "  extra:           " << tenant.extra_recipients.size() << " listed"
            << (tenant.extra_recipients_file.empty()
                    ? std::string()
                    : " + file " + tenant.extra_recipients_file.string())
            << "\n";
        if (!tenant.extra_recipients_file.empty()) {
            check_readable_file(tenant.extra_recipients_file,
                                "tenant " + tenant.name + ": extra_recipients_file", findings);
        }
    }
    check_credential(cfg, tenant, now, out, findings);
}

// Warnings to `out`, errors to `err`, then the result line; the exit status.
int report_findings(const Findings& findings, std::ostream& out, std::ostream& err) {
    out << "\n";
    for (const auto& w : findings.warnings) {
        out << "warning: " << w << "\n";
    }
    for (const auto& e : findings.errors) {
        err << "error: " << e << "\n";
    }
    if (!findings.errors.empty()) {
        out << "result: " << findings.errors.size() << " error(s), " << findings.warnings.size()
            << " warning(s)\n";
        return exit_config;
    }
    out << "result: OK"
        << (findings.warnings.empty()
                ? std::string()
                : " with " + std::to_string(findings.warnings.size()) + " warning(s)")
        << "\n";
    return exit_ok;
}

}  // namespace

int run_check_config(const std::filesystem::path& file, std::int64_t now, std::ostream& out,
                     std::ostream& err) {
    Config cfg;
    try {
        cfg = load_config(file);
    } catch (const ConfigError& e) {
        err << "m365gatectl: " << e.what() << "\n";
        return exit_config;
    }
    Findings findings;
    out << "config " << file.string() << ": syntax and values OK\n\n";
    struct stat st {};
    if (::stat(file.c_str(), &st) == 0 && (st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
        findings.warnings.push_back(file.string() + " is writable by group or others (mode " +
                                    octal_mode(st.st_mode) + "): chmod 0644 " + file.string());
    }
    check_store_dir(cfg, out, findings);
    check_log(cfg.log, out, findings);
    check_milter(cfg, out, findings);
    check_sync(cfg, out, findings);
    check_alerts(cfg, out, findings);
    check_metrics(cfg.metrics, out, findings);
    check_postfix(cfg, out, findings);
    for (const auto& tenant : cfg.tenants) {
        check_tenant(cfg, tenant, now, out, findings);
    }
    if (cfg.tenants.empty()) {
        findings.warnings.push_back("no [[tenant]] configured: the milter has nothing to check");
    }
    return report_findings(findings, out, err);
}

int run_reload(const Config& cfg, std::ostream& out, std::ostream& err) {
    int signalled = 0;
    std::string why;
    if (const auto pid = signal_daemon(cfg.sync.pid_file, "m365gate-sync", SIGHUP, why)) {
        out << "m365gate-sync: sent SIGHUP to pid " << *pid
            << " (re-reads the config and the credential files)\n";
        ++signalled;
    } else {
        err << "m365gate-sync: " << why << "\n";
    }
    if (const auto pid = signal_daemon(cfg.milter.pid_file, "m365gate-milter", SIGUSR1, why)) {
        out << "m365gate-milter: sent SIGUSR1 to pid " << *pid << " (re-reads the config)\n";
        ++signalled;
    } else {
        err << "m365gate-milter: " << why << "\n";
    }
    if (signalled == 0) {
        err << "m365gatectl: neither daemon is running: nothing reloaded\n";
        return exit_failure;
    }
    out << "a config that fails validation is logged by the daemon and ignored: check its log\n";
    return exit_ok;
}

}  // namespace m365gate::ctl
