// ctl/secret.cpp - `secret set`: install a new client secret for a tenant (DESIGN "Secret
// lifecycle"), the scripted-rotation path used by contrib/rotate-secret.
//
// Reads the secret from standard input (never from the command line, where `ps` and shell
// history would show it), writes the tenant's credential file atomically - temp file in the
// same directory, mode 0600, the previous owner, fsync, rename, fsync of the directory - and
// sends the sync worker SIGHUP, which re-reads the file and asks for a token at once. The
// secret is never printed, logged or left in a temp file after a failure.
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

#include "common/days.h"
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

std::string toml_basic_string(const std::string& value) {
    std::string out = "\"";
    for (char c : value) {
        if (c == '"' || c == '\\') {
            out.push_back('\\');
        }
        out.push_back(c);
    }
    out.push_back('"');
    return out;
}

bool write_all(int fd, const std::string& data) {
    std::size_t done = 0;
    while (done < data.size()) {
        const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return false;
        }
        done += static_cast<std::size_t>(n);
    }
    return true;
}

// Temp file + rename in the target's directory; 0600 and owner uid:gid. Returns "" or why not.
std::string replace_file_atomically(const std::filesystem::path& target, const std::string& text,
                                    uid_t uid, gid_t gid) {
    const auto dir = target.has_parent_path() ? target.parent_path() : std::filesystem::path(".");
    std::string temp = (dir / ("." + target.filename().string() + ".tmpXXXXXX")).string();
    const int fd = ::mkstemp(temp.data());
    if (fd < 0) {
        return "cannot create a temporary file in " + dir.string() + ": " + std::strerror(errno);
    }
    std::string why;
    if (::fchmod(fd, 0600) != 0) {
        why = std::string("fchmod: ") + std::strerror(errno);
    } else if ((uid != ::geteuid() || gid != ::getegid()) && ::fchown(fd, uid, gid) != 0) {
        why = "cannot give the file to uid " + std::to_string(uid) + " gid " + std::to_string(gid) +
              " (the owner of the current file): " + std::strerror(errno) + "; run as root";
    } else if (!write_all(fd, text)) {
        why = std::string("write: ") + std::strerror(errno);
    } else if (::fsync(fd) != 0) {
        why = std::string("fsync: ") + std::strerror(errno);
    }
    if (::close(fd) != 0 && why.empty()) {
        why = std::string("close: ") + std::strerror(errno);
    }
    if (why.empty() && ::rename(temp.c_str(), target.c_str()) != 0) {
        why = "rename to " + target.string() + ": " + std::strerror(errno);
    }
    if (!why.empty()) {
        ::unlink(temp.c_str());
        return why;
    }
    const int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir_fd >= 0) {
        ::fsync(dir_fd);  // the rename survives a crash
        ::close(dir_fd);
    }
    return "";
}

}  // namespace

std::string credential_file_text(const std::string& secret, std::optional<std::int64_t> expires) {
    std::string text = "secret = " + toml_basic_string(secret) + "\n";
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
    if (!options.expires.empty()) {
        expires = parse_timestamp(options.expires);
        if (!expires) {
            err << "m365gatectl: --expires \"" << options.expires
                << "\": expected a date (2027-11-01) or a date-time with zone "
                   "(2027-11-01T00:00:00Z)\n";
            return exit_usage;
        }
        if (*expires <= now) {
            err << "m365gatectl: --expires " << format_time(*expires)
                << " is in the past: that secret is already expired\n";
            return exit_usage;
        }
    }

    std::string why;
    std::optional<std::string> secret;
    {
        NoEcho no_echo;
        if (no_echo.active()) {
            err << "New client secret for tenant " << tenant->name
                << " (input hidden): " << std::flush;
        }
        secret = read_secret(in, no_echo.active(), why);
        if (no_echo.active()) {
            err << "\n";
        }
    }
    if (!secret) {
        err << "m365gatectl: " << why << "\n";
        return exit_usage;
    }
    if (looks_like_guid(*secret)) {
        err << "m365gatectl: warning: this looks like a secret ID (a GUID), not the secret "
               "value; Entra ID would answer AADSTS7000215\n";
    }

    const std::string text = credential_file_text(*secret, expires);
    try {  // what the sync worker will read back must be what was given
        const Credential check = parse_credential(text, tenant->client_secret_file.string());
        const bool same_expiry = expires.has_value() == check.expires.has_value() &&
                                 (!expires || std::chrono::duration_cast<std::chrono::seconds>(
                                                  check.expires->time_since_epoch())
                                                      .count() == *expires);
        if (check.secret.reveal() != *secret || !same_expiry) {
            err << "m365gatectl: internal error: the credential file would not read back the "
                   "same; nothing written\n";
            return exit_failure;
        }
    } catch (const ConfigError& e) {
        err << "m365gatectl: the secret cannot be stored in a credential file: " << e.what()
            << "\n";
        return exit_failure;
    }

    const auto& target = tenant->client_secret_file;
    struct stat st {};
    uid_t uid = ::geteuid();
    gid_t gid = ::getegid();
    if (::lstat(target.c_str(), &st) == 0) {
        if (S_ISLNK(st.st_mode)) {
            err << "m365gatectl: " << target.string()
                << " is a symbolic link: point client_secret_file at the real file\n";
            return exit_failure;
        }
        uid = st.st_uid;
        gid = st.st_gid;
    } else if (errno != ENOENT) {
        err << "m365gatectl: " << target.string() << ": " << std::strerror(errno) << "\n";
        return exit_failure;
    } else if (::geteuid() == 0) {
        if (const passwd* pw = ::getpwnam(cfg.sync.user.c_str()); pw != nullptr) {
            uid = pw->pw_uid;
            gid = pw->pw_gid;
        }
    }
    why = replace_file_atomically(target, text, uid, gid);
    if (!why.empty()) {
        err << "m365gatectl: " << target.string() << " not changed: " << why << "\n";
        return exit_failure;
    }
    out << "tenant " << tenant->name << ": wrote " << target.string() << " (mode 0600, uid " << uid
        << ", gid " << gid << ")";
    if (expires) {
        out << "; secret expires " << format_time(*expires) << " (" << days_left(*expires, now)
            << " days)\n";
    } else {
        out << "; no --expires given\n";
        if (tenant->client_secret_expires) {
            err << "m365gatectl: warning: the config's client_secret_expires ("
                << format_time(std::chrono::duration_cast<std::chrono::seconds>(
                                   tenant->client_secret_expires->time_since_epoch())
                                   .count())
                << ") probably belongs to the old secret: pass --expires or update the config\n";
        } else {
            out << "  the expiry will be read from Graph if the app has Application.Read.All\n";
        }
    }
    if (!options.reload) {
        out << "not signalling m365gate-sync (--no-reload): run m365gatectl reload\n";
        return exit_ok;
    }
    if (const auto pid = signal_daemon(cfg.sync.pid_file, "m365gate-sync", SIGHUP, why)) {
        out << "m365gate-sync: sent SIGHUP to pid " << *pid
            << ": it asks for a token with the new secret now and logs whether it works\n";
    } else {
        out << "m365gate-sync: " << why << ": the new secret is used when it next starts\n";
    }
    return exit_ok;
}

}  // namespace m365gate::ctl
