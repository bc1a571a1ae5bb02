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
// Before anything is written the new secret is tried with a real token request
// (verify_credential(), unless --no-verify), whether the daemon runs or not: a refused secret
// exits exit_refused with the AADSTS reason and changes nothing. The file it replaces is kept
// as <file>.previous (its owner and mode, written the same safe way) until m365gate-sync has
// used the new one once (sync/credential_check.h).
#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <functional>
#include <istream>
#include <ostream>
#include <thread>

#include "common/certificate.h"
#include "common/credentials.h"
#include "common/days.h"
#include "common/safe_file.h"
#include "common/text.h"
#include "ctl/ctl.h"

namespace m365gate::ctl {

namespace {

constexpr std::size_t max_secret_octets = 1024;
constexpr std::size_t max_credential_file_octets = 64u << 10;
constexpr int verify_retry_seconds = 10;

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

// The file about to be replaced (`old`, lstat'ed in `dir_fd`), kept as "<name>.previous" with
// its owner and mode (never wider than 0600), written as a new file renamed into place.
// Nothing is kept when there is no file, or it holds no credential or the same secret.
// exit_ok, or the status.
int keep_previous(int dir_fd, const std::filesystem::path& target, const struct stat& old,
                  const std::string& text, const FileOwner& owner, std::ostream& err) {
    if (!S_ISREG(old.st_mode)) {
        return exit_ok;
    }
    const std::string name = target.filename().string();
    const UniqueFd fd(
        ::openat(dir_fd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
    std::string previous;
    char buf[4096];
    ssize_t n = 0;
    while (fd.get() >= 0 && (n = ::read(fd.get(), buf, sizeof buf)) > 0 &&
           previous.size() <= max_credential_file_octets) {
        previous.append(buf, static_cast<std::size_t>(n));
    }
    if (fd.get() < 0 || n < 0 || previous.size() > max_credential_file_octets) {
        err << "m365gatectl: cannot read " << target.string() << " to keep it as "
            << target.string()
            << ".previous: " << (fd.get() < 0 || n < 0 ? std::strerror(errno) : "too large")
            << "; nothing changed\n";
        return exit_failure;
    }
    if (text.find("-----BEGIN") != std::string::npos) {  // a certificate's PEM (cert set)
        if (previous.find("-----BEGIN") == std::string::npos || previous == text) {
            return exit_ok;  // no certificate there, or the same one: nothing to go back to
        }
    } else {
        try {
            if (parse_credential(previous, target.string()).secret ==
                parse_credential(text, target.string()).secret) {
                return exit_ok;  // the same secret (a new --expires): nothing to go back to
            }
        } catch (const ConfigError&) {
            return exit_ok;  // empty or no credential: nothing to go back to either
        }
    }
    const FileOwner keep_owner{old.st_uid == 0 ? owner.uid : old.st_uid,
                               old.st_uid == 0 ? owner.gid : old.st_gid};
    const std::string why = replace_file_at(
        dir_fd, name + ".previous", previous, old.st_mode & 0600,
        ::geteuid() == keep_owner.uid ? std::nullopt : std::optional<FileOwner>(keep_owner));
    if (!why.empty()) {
        err << "m365gatectl: " << target.string() << ".previous not written: " << why
            << "; nothing changed\n";
        return exit_failure;
    }
    return exit_ok;
}

// Replaces `target` with a new file holding `text`, mode 0600, owned by `owner`, once the
// place is found safe and `verify` (the token request) returned exit_ok. exit_ok, or the
// status with the reason on `err` (exit_unsafe when the directory or the file there could
// have been prepared by someone else); nothing is written unless both passed.
int install_credential(const Config& cfg, const std::filesystem::path& target,
                       const std::string& text, const FileOwner& owner,
                       const std::function<int()>& verify, std::ostream& err) {
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
    } else {
        st.st_mode = 0;  // nothing there: nothing to keep
    }
    if (const int status = verify(); status != exit_ok) {
        return status;
    }
    if (const int status = keep_previous(dir_fd.get(), target, st, text, owner, err);
        status != exit_ok) {
        return status;
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

int try_and_install(const Config& cfg, const TenantConfig& tenant,
                    const std::filesystem::path& target, const std::string& text,
                    const TryOptions& options, FileOwner& owner, std::ostream& out,
                    std::ostream& err) {
    if (const int status = credential_owner(cfg, owner, err); status != exit_ok) {
        return status;
    }
    const auto verify = [&] {
        if (!options.verify) {
            out << "tenant " << tenant.name << ": not tried (--no-verify)\n";
            return exit_ok;
        }
        return verify_new_credential(cfg, tenant, text, options.wait_seconds, out, err);
    };
    return install_credential(cfg, target, text, owner, verify, err);
}

// Tries the new secret or certificate (verify_credential()); with `wait_seconds`, a refusal
// as an invalid secret (AADSTS7000215: Entra has not replicated a brand-new secret yet) is
// tried again every few seconds until then. exit_ok when accepted; exit_refused or
// exit_failure, the reason on `err`, when not: nothing has been written.
int verify_new_credential(const Config& cfg, const TenantConfig& tenant, const std::string& text,
                          int wait_seconds, std::ostream& out, std::ostream& err) {
    const bool cert = !tenant.client_certificate_file.empty();
    const char* what = cert ? "certificate" : "secret";
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(wait_seconds);
    CredentialVerdict v = verify_credential(cfg, tenant, text);
    while (v.status == CredentialCheck::refused && v.code == "7000215" &&
           std::chrono::steady_clock::now() + std::chrono::seconds(verify_retry_seconds) <= until) {
        err << "m365gatectl: tenant " << tenant.name
            << ": refused (AADSTS7000215), trying again in " << verify_retry_seconds
            << " s (--wait " << wait_seconds << ")\n";
        std::this_thread::sleep_for(std::chrono::seconds(verify_retry_seconds));
        v = verify_credential(cfg, tenant, text);
    }
    if (v.status == CredentialCheck::accepted) {
        out << "tenant " << tenant.name << ": the token endpoint accepted the new " << what << "\n";
        return exit_ok;
    }
    if (v.status == CredentialCheck::refused) {
        err << "m365gatectl: tenant " << tenant.name << ": the new " << what
            << " was refused: AADSTS" << printable(v.code, 16) << ": " << printable(v.message)
            << (cert ? "\nupload its .cer to the app first (m365gatectl cert new prints the steps)"
                     : "")
            << "\nnothing changed: " << credential_file(tenant).string() << " still holds the old "
            << what << "\n";
        return exit_refused;
    }
    err << v.detail << "m365gatectl: tenant " << tenant.name << ": the new " << what
        << " could not be tried: " << printable(v.message)
        << "\nnothing changed (--no-verify installs it untried)\n";
    return exit_failure;
}

namespace {
// Whether a .previous is there now (the old secret, until the sync has used the new one).
void report_previous(const TenantConfig& tenant, std::ostream& out) {
    struct stat st {};
    const std::string previous = tenant.client_secret_file.string() + ".previous";
    if (::lstat(previous.c_str(), &st) == 0) {
        out << "  the old secret is kept as " << previous
            << " until m365gate-sync has signed in with the new one\n";
    }
}

// What was written, and which expiry the sync worker will see.
void report_written(const TenantConfig& tenant, const FileOwner& owner,
                    std::optional<std::int64_t> expires, std::int64_t now, std::ostream& out,
                    std::ostream& err) {
    out << "tenant " << tenant.name << ": wrote " << tenant.client_secret_file.string()
        << " (mode 0600, uid " << owner.uid << ", gid " << owner.gid << ")";
    if (expires) {
        out << "; secret expires " << format_time(*expires) << " (" << days_left(*expires, now)
            << " days)\n";
    } else {
        out << "; no --expires given\n";
    }
    report_previous(tenant, out);
    if (expires) {
        return;
    }
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
    if (const int status = try_and_install(cfg, *tenant, tenant->client_secret_file, text,
                                           {options.verify, options.wait_seconds}, owner, out, err);
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
