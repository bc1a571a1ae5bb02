// ctl/metrics.cpp - `m365gatectl metrics`: prints the two metrics files the daemons write into
// [metrics] textfile_dir (common/metrics.h), and says which is missing or stale.
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ostream>
#include <string>

#include "common/safe_file.h"
#include "common/unique_fd.h"
#include "ctl/ctl.h"

namespace m365gate::ctl {

namespace {

constexpr std::size_t max_metrics_file = 4u << 20;  // far above what a daemon writes

struct MetricsFile {
    const char* name;
    const char* daemon;
};

// The file's text, or "" and `why` when it cannot be read. `mtime`: when it was written.
std::string read_metrics_file(const std::filesystem::path& file, std::int64_t& mtime,
                              std::string& why) {
    const UniqueFd fd = open_read_no_follow(file);
    if (!fd.valid()) {
        why = errno == ENOENT ? "missing" : std::string("cannot open: ") + std::strerror(errno);
        return "";
    }
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) {
        why = "not a regular file";
        return "";
    }
    mtime = static_cast<std::int64_t>(st.st_mtim.tv_sec);
    std::string text;
    char buffer[8192];
    for (;;) {
        const ssize_t n = ::read(fd.get(), buffer, sizeof buffer);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            why = std::string("cannot read: ") + std::strerror(errno);
            return "";
        }
        if (n == 0 || text.size() + std::size_t(n) > max_metrics_file) {
            return text;
        }
        text.append(buffer, std::size_t(n));
    }
}

}  // namespace

int run_metrics(const Config& cfg, std::int64_t wall_now, std::ostream& out, std::ostream& err) {
    const std::filesystem::path& dir = cfg.metrics.textfile_dir;
    if (dir.empty()) {
        err << "m365gatectl: metrics are off: [metrics] textfile_dir is not set in "
            << cfg.file.string() << "\n";
        return exit_failure;
    }
    // A daemon writes every interval: three intervals without a write mean it is not writing.
    const std::int64_t interval = cfg.metrics.interval.count();
    const std::int64_t stale_after = 3 * interval;
    bool all_fresh = true;
    for (const MetricsFile f : {MetricsFile{"m365gate_milter.prom", "m365gate-milter"},
                                MetricsFile{"m365gate_sync.prom", "m365gate-sync"}}) {
        const std::filesystem::path file = dir / f.name;
        std::int64_t mtime = 0;
        std::string why;
        const std::string text = read_metrics_file(file, mtime, why);
        if (!why.empty()) {
            all_fresh = false;
            out << "# " << file.string() << ": " << why << "\n\n";
            err << "m365gatectl: " << file.string() << ": " << why << ": is " << f.daemon
                << " running, with this [metrics] textfile_dir?\n";
            continue;
        }
        const std::int64_t age = wall_now - mtime;
        if (age > stale_after) {
            all_fresh = false;
            out << "# " << file.string() << ": STALE, written " << format_age(age) << " ago\n";
            err << "m365gatectl: " << file.string() << ": STALE: written " << format_age(age)
                << " ago, expected every " << format_age(interval) << ": is " << f.daemon
                << " running?\n";
        } else {
            out << "# " << file.string() << ": written " << format_age(age) << " ago\n";
        }
        out << text << "\n";
    }
    return all_fresh ? exit_ok : exit_failure;
}

}  // namespace m365gate::ctl
