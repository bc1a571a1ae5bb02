// ctl/secret.cpp - `secret set`: install a new client secret for a tenant (DESIGN "Secret
// lifecycle"), the scripted-rotation path used by contrib/rotate-secret.
//
// Reads the secret from standard input (never from the command line, where `ps` and shell
// history would show it), writes the tenant's credential file atomically - a new temp file in
// the same directory (O_EXCL|O_NOFOLLOW), mode 0600, owned by sync.user, fsync, rename, fsync of
// the directory - and
// sends the sync worker SIGHUP, which re-reads the file and asks for a token at once. The
// secret is never printed, logged or left in a temp file after a failure. A directory that
// anyone but root and sync.user can change, or a file already there that belongs to another
// user, is refused (exit_unsafe): see docs/security.md.
#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstring>
#include <istream>
#include <ostream>

#include "common/credentials.h"
#include "common/days.h"
#include "common/safe_file.h"
#include "common/text.h"
#include "ctl/ctl.h"

namespace m365gate::ctl {

namespace {

constexpr std::size_t max_secret_octets = 1024;

// Turns terminal echo off while the secret is typed; restores it on every path.
class NoEcho {
public:
    NoEcho() {
        if (isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &saved_) == 0) {
            termios quiet = saved_;
            quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
            active_ = tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet) == 0;
        }
    }
    ~NoEcho() {
        if (active_) {
            tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_);
        }
    }
    NoEcho(const NoEcho&) = delete;
    NoEcho& operator=(const NoEcho&) = delete;
    bool active() const noexcept { return active_; }

private:
    termios saved_{};
    bool active_ = false;
};

// The secret from `in`: surrounding whitespace trimmed, one line, no control characters.
std::optional<std::string> read_secret(std::istream& in, bool interactive, std::string& why) {
    std::string text;
    char c = 0;
    while (in.get(c)) {
        if (text.size() > max_secret_octets) {
            why = "the input is longer than " + std::to_string(max_secret_octets) +
                  " bytes: not a client secret";
            return std::nullopt;
        }
        text.push_back(c);
        if (c == '\n' && interactive) {
            break;  // typed by hand: one line is the whole secret
        }
    }
    const auto first = text.find_first_not_of(" \t\r\n");
    if (first == std::string::npos) {
        why = "no secret on standard input";
        return std::nullopt;
    }
    const auto last = text.find_last_not_of(" \t\r\n");
    std::string secret = text.substr(first, last - first + 1);
    for (unsigned char ch : secret) {
        if (ch == '\n' || ch == '\r') {
            why = "standard input holds more than one line: give the secret value alone";
            return std::nullopt;
        }
        if (ch < 0x20 || ch == 0x7f) {
            why = "the secret holds a control character";
            return std::nullopt;
        }
    }
    return secret;
}

// A secret *ID* (a GUID) pasted instead of the value: Entra answers AADSTS7000215.
bool looks_like_guid(const std::string& s) {
    if (s.size() != 36) {
        return false;
    }
    for (std::size_t i = 0; i < s.size(); ++i) {
        const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash != (s[i] == '-') || (!dash && !std::isxdigit(static_cast<unsigned char>(s[i])))) {
            return false;
        }
    }
    return true;
}

// --expires: "" (not given) leaves `expires` unset; false, with the reason on `err`, for a
// text that is not a date or a date that is not in the future.
bool parse_expires(const std::string& text, std::int64_t now, std::optional<std::int64_t>& expires,
                   std::ostream& err) {
    if (text.empty()) {
        return true;
    }
    expires = parse_timestamp(text);
    if (!expires) {
        err << "m365gatectl: --expires \"" << text
            << "\": expected a date (2027-11-01) or a date-time with zone "
               "(2027-11-01T00:00:00Z)\n";
        return false;
    }
    if (*expires <= now) {
        err << "m365gatectl: --expires " << format_time(*expires)
            << " is in the past: that secret is already expired\n";
        return false;
    }
    return true;
}

// The secret from `in`, asked for without echo on a terminal; nullopt, with the reason on
// `err`, when there is none fit to store.
std::optional<std::string> prompt_secret(const TenantConfig& tenant, std::istream& in,
                                         std::ostream& err) {
    std::string why;
    std::optional<std::string> secret;
    {
        NoEcho no_echo;
        if (no_echo.active()) {
            err << "New client secret for tenant " << tenant.name
                << " (input hidden): " << std::flush;
        }
        secret = read_secret(in, no_echo.active(), why);
        if (no_echo.active()) {
            err << "\n";
        }
    }
    if (!secret) {
        err << "m365gatectl: " << why << "\n";
        return std::nullopt;
    }
    if (looks_like_guid(*secret)) {
        err << "m365gatectl: warning: this looks like a secret ID (a GUID), not the secret "
               "value; Entra ID would answer AADSTS7000215\n";
    }
    return secret;
}

// What the sync worker will read back from `text` must be what was given.
bool reads_back_same(const std::string& text, const std::string& secret,
                     std::optional<std::int64_t> expires, const std::filesystem::path& file,
                     std::ostream& err) {
    try {
        const Credential check = parse_credential(text, file.string());
        const bool same_expiry = expires.has_value() == check.expires.has_value() &&
                                 (!expires || std::chrono::duration_cast<std::chrono::seconds>(
                                                  check.expires->time_since_epoch())
                                                      .count() == *expires);
        if (check.secret.reveal() != secret || !same_expiry) {
            err << "m365gatectl: internal error: the credential file would not read back the "
                   "same; nothing written\n";
            return false;
        }
    } catch (const ConfigError& e) {
        err << "m365gatectl: the secret cannot be stored in a credential file: " << e.what()
            << "\n";
        return false;
    }
    return true;
}

}  // namespace

// sync.user and its group, who must own the credential file; only root and that user may
// write it. exit_ok, or the status with the reason on `err`.
int credential_owner(const Config& cfg, FileOwner& owner, std::ostream& err) {
    const passwd* pw = ::getpwnam(cfg.sync.user.c_str());
    if (pw == nullptr) {
        err << "m365gatectl: sync.user \"" << cfg.sync.user
            << "\": no such user; the credential file must belong to the user m365gate-sync "
               "runs as\n";
        return exit_failure;
    }
    owner = {pw->pw_uid, pw->pw_gid};
    if (::geteuid() != 0 && ::geteuid() != owner.uid) {
        err << "m365gatectl: run secret set as root or as " << cfg.sync.user
            << " (sync.user): the credential file must belong to " << cfg.sync.user << "\n";
        return exit_unsafe;
    }
    return exit_ok;
}

// Replaces `target` with a new file holding `text`, mode 0600, owned by `owner`. exit_ok, or
// the status with the reason on `err` (exit_unsafe when the directory or the file there could
// have been prepared by someone else).
int install_credential(const Config& cfg, const std::filesystem::path& target,
                       const std::string& text, const FileOwner& owner, std::ostream& err) {
    // Only root and sync.user may be able to change the directory: anyone else could plant a
    // file or a link there for us to write through, or read the secret before the rename.
    std::string why;
    const auto dir = target.has_parent_path() ? target.parent_path() : std::filesystem::path(".");
    const UniqueFd dir_fd = open_trusted_directory(dir, {owner.uid}, why);
    if (dir_fd.get() < 0) {
        err << "m365gatectl: refusing to write " << target.string() << ": " << why
            << "; the directory of a credential file must be writable only by root and "
            << cfg.sync.user << " (sync.user)\n";
        return exit_unsafe;
    }
    const std::string name = target.filename().string();
    struct stat st {};
    if (::fstatat(dir_fd.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) {
        if (S_ISLNK(st.st_mode)) {
            err << "m365gatectl: " << target.string()
                << " is a symbolic link: point client_secret_file at the real file\n";
            return exit_failure;
        }
        if (st.st_uid != 0 && st.st_uid != owner.uid) {
            err << "m365gatectl: refusing to replace " << target.string() << ": it belongs to uid "
                << st.st_uid << ", neither root nor " << cfg.sync.user
                << " (sync.user); someone else may have read or prepared it: check it, remove "
                   "it and run secret set again\n";
            return exit_unsafe;
        }
    } else if (errno != ENOENT) {
        err << "m365gatectl: " << target.string() << ": " << std::strerror(errno) << "\n";
        return exit_failure;
    }
    // Always a new file, owned by sync.user from its creation on (never the owner of a file
    // that was there), renamed over the old one.
    why =
        replace_file_at(dir_fd.get(), name, text, 0600,
                        ::geteuid() == owner.uid ? std::nullopt : std::optional<FileOwner>(owner));
    if (!why.empty()) {
        err << "m365gatectl: " << target.string() << " not changed: " << why << "\n";
        return exit_failure;
    }
    return exit_ok;
}

namespace {

// What was written, and which expiry the sync worker will see.
void report_written(const TenantConfig& tenant, const FileOwner& owner,
                    std::optional<std::int64_t> expires, std::int64_t now, std::ostream& out,
                    std::ostream& err) {
    out << "tenant " << tenant.name << ": wrote " << tenant.client_secret_file.string()
        << " (mode 0600, uid " << owner.uid << ", gid " << owner.gid << ")";
    if (expires) {
        out << "; secret expires " << format_time(*expires) << " (" << days_left(*expires, now)
            << " days)\n";
        return;
    }
    out << "; no --expires given\n";
    if (tenant.client_secret_expires) {
        err << "m365gatectl: warning: the config's client_secret_expires ("
            << format_time(std::chrono::duration_cast<std::chrono::seconds>(
                               tenant.client_secret_expires->time_since_epoch())
                               .count())
            << ") probably belongs to the old secret: pass --expires or update the config\n";
    } else {
        out << "  the expiry will be read from Graph if the app has Application.Read.All\n";
    }
}

}  // namespace

std::string credential_file_text(const std::string& secret, std::optional<std::int64_t> expires) {
    std::string text = "secret = " + quote_escaped(secret) + "\n";
    if (expires) {
        text += "expires = " + format_time(*expires) + "\n";
    }
    return text;
}

int run_secret_set(const Config& cfg, const SecretSetOptions& options, std::istream& in,
                   std::ostream& out, std::ostream& err) {
    const TenantConfig* tenant = cfg.find_tenant(options.tenant);
    if (tenant == nullptr) {
        err << "m365gatectl: no tenant \"" << options.tenant << "\" in " << cfg.file.string()
            << "\n";
        return exit_usage;
    }
    std::optional<std::int64_t> expires;
    const std::int64_t now = now_seconds();
    if (!parse_expires(options.expires, now, expires, err)) {
        return exit_usage;
    }
    const std::optional<std::string> secret = prompt_secret(*tenant, in, err);
    if (!secret) {
        return exit_usage;
    }
    const std::string text = credential_file_text(*secret, expires);
    if (!reads_back_same(text, *secret, expires, tenant->client_secret_file, err)) {
        return exit_failure;
    }
    FileOwner owner{};
    if (const int status = credential_owner(cfg, owner, err); status != exit_ok) {
        return status;
    }
    if (const int status = install_credential(cfg, tenant->client_secret_file, text, owner, err);
        status != exit_ok) {
        return status;
    }
    report_written(*tenant, owner, expires, now, out, err);
    if (!options.reload) {
        out << "not signalling m365gate-sync (--no-reload): run m365gatectl reload\n";
        return exit_ok;
    }
    std::string why;
    if (const auto pid = signal_daemon(cfg.sync.pid_file, "m365gate-sync", SIGHUP, why)) {
        out << "m365gate-sync: sent SIGHUP to pid " << *pid
            << ": it asks for a token with the new secret now and logs whether it works\n";
    } else {
        out << "m365gate-sync: " << why << ": the new secret is used when it next starts\n";
    }
    return exit_ok;
}

}  // namespace m365gate::ctl
