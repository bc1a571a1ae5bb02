// ctl/util.cpp - time formatting, joining lists, opening the store read-only, signalling a
// daemon.
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

#include "common/days.h"
#include "common/safe_file.h"
#include "ctl/ctl.h"

namespace m365gate::ctl {

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
    if (seconds < 2 * seconds_per_day) {
        return std::to_string(seconds / 3600) + "h";
    }
    return std::to_string(seconds / seconds_per_day) + "d";
}

std::string format_time(std::int64_t unix_seconds) {
    return unix_seconds == 0 ? "never" : format_utc(unix_seconds);
}

std::string join(const std::vector<std::string>& items, const std::string& separator) {
    std::string out;
    for (const auto& item : items) {
        if (!out.empty()) {
            out += separator;
        }
        out += item;
    }
    return out;
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
    const UniqueFd fd = open_read_no_follow(pid_file);
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
