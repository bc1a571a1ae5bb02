// ctl/util.cpp - time formatting, opening the store read-only, signalling a daemon.
#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <sstream>

#include "common/safe_file.h"
#include "ctl/ctl.h"

namespace m365gate::ctl {

std::int64_t now_seconds() {
    if (const char* fake = std::getenv("M365GATE_TEST_NOW"); fake != nullptr && *fake != '\0') {
        char* end = nullptr;
        const long long value = std::strtoll(fake, &end, 10);
        if (end != nullptr && *end == '\0') {
            return value;
        }
    }
    return static_cast<std::int64_t>(std::time(nullptr));
}

std::string format_age(std::int64_t seconds) {
    if (seconds < 0) {
        seconds = -seconds;
    }
    if (seconds < 60) {
        return std::to_string(seconds) + "s";
    }
    if (seconds < 3600) {
        return std::to_string(seconds / 60) + "m";
    }
    if (seconds < 2 * 86400) {
        return std::to_string(seconds / 3600) + "h";
    }
    return std::to_string(seconds / 86400) + "d";
}

std::string format_time(std::int64_t unix_seconds) {
    if (unix_seconds == 0) {
        return "never";
    }
    const std::time_t t = static_cast<std::time_t>(unix_seconds);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

namespace {

bool read_digits(std::string_view text, std::size_t pos, std::size_t count, int& value) {
    if (pos + count > text.size()) {
        return false;
    }
    value = 0;
    for (std::size_t i = pos; i < pos + count; ++i) {
        if (text[i] < '0' || text[i] > '9') {
            return false;
        }
        value = value * 10 + (text[i] - '0');
    }
    return true;
}

}  // namespace

std::optional<std::int64_t> parse_timestamp(std::string_view text) {
    // YYYY-MM-DD[(T| )HH:MM:SS[.frac]][Z|(+|-)HH:MM]; a bare date is midnight UTC.
    int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
    if (!read_digits(text, 0, 4, year) || text.size() < 10 || text[4] != '-' ||
        !read_digits(text, 5, 2, month) || text[7] != '-' || !read_digits(text, 8, 2, day)) {
        return std::nullopt;
    }
    std::size_t pos = 10;
    std::int64_t offset = 0;
    if (pos < text.size()) {
        if ((text[pos] != 'T' && text[pos] != 't' && text[pos] != ' ') ||
            !read_digits(text, pos + 1, 2, hour) || text.size() < pos + 9 || text[pos + 3] != ':' ||
            !read_digits(text, pos + 4, 2, minute) || text[pos + 6] != ':' ||
            !read_digits(text, pos + 7, 2, second)) {
            return std::nullopt;
        }
        pos += 9;
        if (pos < text.size() && text[pos] == '.') {
            ++pos;
            const std::size_t start = pos;
            while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
                ++pos;
            }
            if (pos == start) {
                return std::nullopt;
            }
        }
        if (pos == text.size()) {
            return std::nullopt;  // a time without a zone is ambiguous
        }
        if (text[pos] == 'Z' || text[pos] == 'z') {
            ++pos;
        } else if (text[pos] == '+' || text[pos] == '-') {
            int off_hour = 0, off_minute = 0;
            if (!read_digits(text, pos + 1, 2, off_hour) || text.size() < pos + 6 ||
                text[pos + 3] != ':' || !read_digits(text, pos + 4, 2, off_minute) ||
                off_hour > 23 || off_minute > 59) {
                return std::nullopt;
            }
            offset = (off_hour * 3600 + off_minute * 60) * (text[pos] == '-' ? -1 : 1);
            pos += 6;
        } else {
            return std::nullopt;
        }
        if (pos != text.size()) {
            return std::nullopt;
        }
    }
    if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) {
        return std::nullopt;
    }
    std::tm tm{};
    tm.tm_year = year - 1900;
    tm.tm_mon = month - 1;
    tm.tm_mday = day;
    tm.tm_hour = hour;
    tm.tm_min = minute;
    tm.tm_sec = second;
    const std::time_t t = timegm(&tm);
    if (tm.tm_mday != day) {
        return std::nullopt;  // 2026-02-31 normalised into March
    }
    return static_cast<std::int64_t>(t) - offset;
}

std::unique_ptr<store::Store> open_store(const Config& cfg, std::string& why) {
    store::StoreOptions options;
    options.max_size = cfg.store.max_size;
    options.read_only = true;
    options.create = false;
    try {
        // As root, LMDB opens (and may create and write) lock.mdb in the store directory, which
        // belongs to sync.user: it does so with the rights of the directory's owner, so a
        // symlink planted there cannot make root write elsewhere. The descriptors stay open
        // once root is back.
        std::optional<ActAs> as_owner;
        struct stat st {};
        if (::geteuid() == 0 && ::stat(cfg.store.path.c_str(), &st) == 0 && st.st_uid != 0) {
            const passwd* pw = ::getpwuid(st.st_uid);
            as_owner.emplace(
                st.st_uid, st.st_gid,
                pw != nullptr ? groups_of(pw->pw_name, st.st_gid) : std::vector<gid_t>{st.st_gid});
        }
        return std::make_unique<store::Store>(cfg.store.path, options);
    } catch (const std::exception& e) {
        why = e.what();
    }
    return nullptr;
}

const char* to_string(Health h) {
    switch (h) {
        case Health::ok:
            return "OK";
        case Health::warning:
            return "WARNING";
        case Health::critical:
            return "CRITICAL";
        case Health::unknown:
            break;
    }
    return "UNKNOWN";
}

std::optional<long> signal_daemon(const std::filesystem::path& pid_file, const std::string& program,
                                  int signal, std::string& why) {
    // Not through a symlink: the pid file's directory belongs to the daemon's user.
    const FileDescriptor fd(open_read_no_follow(pid_file));
    if (fd.get() < 0) {
        why = errno == ELOOP ? "pid file " + pid_file.string() + " is a symbolic link: ignored"
                             : "not running (no pid file " + pid_file.string() + ")";
        return std::nullopt;
    }
    char buf[32] = {};
    const ssize_t n = ::read(fd.get(), buf, sizeof buf - 1);
    std::istringstream in(std::string(buf, n > 0 ? static_cast<std::size_t>(n) : 0));
    long pid = 0;
    if (!(in >> pid) || pid <= 1) {
        why = "pid file " + pid_file.string() + " does not hold a pid";
        return std::nullopt;
    }
    if (::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH) {
        why = "not running (stale pid file " + pid_file.string() + ", pid " + std::to_string(pid) +
              ")";
        return std::nullopt;
    }
    // A recycled pid must not get the signal: the process name has to match where /proc says.
    std::ifstream comm_file("/proc/" + std::to_string(pid) + "/comm");
    std::string comm;
    if (comm_file && std::getline(comm_file, comm) && !comm.empty() &&
        program.compare(0, comm.size(), comm) != 0) {
        why = "pid " + std::to_string(pid) + " from " + pid_file.string() + " is \"" + comm +
              "\", not " + program + ": stale pid file, nothing signalled";
        return std::nullopt;
    }
    if (::kill(static_cast<pid_t>(pid), signal) != 0) {
        why = "cannot signal pid " + std::to_string(pid) + ": " + std::strerror(errno);
        return std::nullopt;
    }
    return pid;
}

}  // namespace m365gate::ctl
