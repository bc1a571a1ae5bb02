// common/log.cpp - the one logger of a process: syslog (facility mail), stderr or a file.
//
// Lines look like Postfix's: syslog gets "warning: ..." / "error: ..." prefixes and no prefix
// for info; stderr and files get "2027-01-31T12:00:00+09:00 m365gate-milter[123]: info: ...".
// spdlog says set_default_logger() must not race spdlog::info() (the default API holds a raw
// pointer), yet a reload calls setup_logging() while other threads log. So a reload that keeps
// the target only changes the level (atomic in spdlog), and a logger that is replaced is kept
// alive until exit instead of being freed under a thread that is still writing to it. That also
// keeps the replaced syslog sink from calling closelog(), which would reset the ident.
// A log file is never opened as root (its directory usually belongs to a daemon's user, who
// could plant a symlink there): root logs to stderr until the daemon, after its privilege drop,
// calls setup_logging() again; the file is then opened O_NOFOLLOW and must be a regular file
// with one link (open_append_no_follow), so a daemon never appends to another file of its own.

#include "common/log.h"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/sinks/syslog_sink.h>
#include <spdlog/spdlog.h>
#include <syslog.h>
#include <unistd.h>

#include <cerrno>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include "common/safe_file.h"

namespace m365gate {
namespace {

// "%*": Postfix's severity tags for syslog, where the priority already carries the level.
class SeverityTag final : public spdlog::custom_flag_formatter {
public:
    void format(const spdlog::details::log_msg& msg, const std::tm& /*time*/,
                spdlog::memory_buf_t& dest) override {
        std::string_view tag;
        switch (msg.level) {
            case spdlog::level::trace:
                tag = "trace: ";
                break;
            case spdlog::level::debug:
                tag = "debug: ";
                break;
            case spdlog::level::warn:
                tag = "warning: ";
                break;
            case spdlog::level::err:
                tag = "error: ";
                break;
            case spdlog::level::critical:
                tag = "fatal: ";
                break;
            default:
                break;
        }
        dest.append(tag.data(), tag.data() + tag.size());
    }
    std::unique_ptr<custom_flag_formatter> clone() const override {
        return std::make_unique<SeverityTag>();
    }
};

spdlog::level::level_enum level_of(const std::string& name) {
    if (name == "trace") {
        return spdlog::level::trace;
    }
    if (name == "debug") {
        return spdlog::level::debug;
    }
    if (name == "info") {
        return spdlog::level::info;
    }
    if (name == "warn") {
        return spdlog::level::warn;
    }
    if (name == "error") {
        return spdlog::level::err;
    }
    throw ConfigError("[log] level: must be one of trace, debug, info, warn, error; got " +
                      log_value(name, 40));
}

// A literal for a spdlog pattern: '%' doubled.
std::string pattern_literal(std::string_view text) {
    std::string out;
    for (char c : printable(text, 64)) {
        if (c == '%') {
            out.push_back('%');
        }
        out.push_back(c);
    }
    return out;
}

// The prefix of a file or stderr line. The pid is written in as text once: spdlog's %P calls
// getpid() for every line, a system call per rejection on the milter's RCPT path. No process
// of ours logs after a fork (the children only exec), so the pid cannot change under it.
std::string line_pattern(std::string_view program) {
    return "%Y-%m-%dT%H:%M:%S%z " + pattern_literal(program) + "[" +
           std::to_string(static_cast<long>(::getpid())) + "]: %l: %v";
}

// Appends each line to a descriptor opened by open_append_no_follow() (spdlog's file sinks
// open by name with fopen(), which follows symlinks).
class AppendFileSink final : public spdlog::sinks::base_sink<std::mutex> {
public:
    explicit AppendFileSink(UniqueFd fd) : fd_(std::move(fd)) {}
    AppendFileSink(const AppendFileSink&) = delete;
    AppendFileSink& operator=(const AppendFileSink&) = delete;

protected:
    void sink_it_(const spdlog::details::log_msg& msg) override {
        spdlog::memory_buf_t line;
        formatter_->format(msg, line);
        std::size_t done = 0;
        while (done < line.size()) {
            const ssize_t n = ::write(fd_.get(), line.data() + done, line.size() - done);
            if (n < 0 && errno == EINTR) {
                continue;
            }
            if (n <= 0) {
                return;  // a full disk must not stop mail; nothing better to do here
            }
            done += static_cast<std::size_t>(n);
        }
    }
    void flush_() override {}

private:
    UniqueFd fd_;
};

struct Installed {
    std::string program;
    LogTarget target;
    std::filesystem::path file;
    std::shared_ptr<spdlog::logger> logger;
};

// Process-wide by nature (spdlog's default logger is); guarded by setup_mutex.
std::mutex setup_mutex;
std::unique_ptr<Installed> installed;
std::vector<std::shared_ptr<spdlog::logger>> retired;  // see the file comment

}  // namespace

void setup_logging(const LogConfig& cfg, const std::string& program, bool open_file_as_root) {
    const spdlog::level::level_enum level = level_of(cfg.level);
    std::lock_guard<std::mutex> lock(setup_mutex);
    // See the file comment: root (before the privilege drop) does not open a log file.
    const LogTarget target = cfg.target == LogTarget::file && ::geteuid() == 0 && !open_file_as_root
                                 ? LogTarget::stderr_
                                 : cfg.target;

    if (installed && installed->logger == spdlog::default_logger() &&
        installed->program == program && installed->target == target &&
        installed->file == cfg.file) {
        installed->logger->set_level(level);
        return;
    }

    spdlog::sink_ptr sink;
    std::string pattern;
    switch (target) {
        case LogTarget::syslog:
            // The sink keeps its ident string alive for openlog(), which stores the pointer.
            sink =
                std::make_shared<spdlog::sinks::syslog_sink_mt>(program, LOG_PID, LOG_MAIL, true);
            pattern = "%*%v";
            break;
        case LogTarget::stderr_:
            sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
            pattern = line_pattern(program);
            break;
        case LogTarget::file: {
            std::string why;
            UniqueFd fd = open_append_no_follow(cfg.file, 0640, why);
            if (!fd.valid()) {
                throw ConfigError(cfg.file.string() + ": cannot open log file (" + why + ")");
            }
            sink = std::make_shared<AppendFileSink>(std::move(fd));
        }
            pattern = line_pattern(program);
            break;
    }
    // syslog adds its own line end; the other sinks get "\n".
    auto formatter = std::make_unique<spdlog::pattern_formatter>(
        spdlog::pattern_time_type::local, target == LogTarget::syslog ? "" : "\n");
    formatter->add_flag<SeverityTag>('*').set_pattern(pattern);
    sink->set_formatter(std::move(formatter));

    auto logger = std::make_shared<spdlog::logger>(program, std::move(sink));
    logger->set_level(level);
    logger->flush_on(target == LogTarget::syslog ? spdlog::level::warn : spdlog::level::trace);

    if (auto previous = spdlog::default_logger()) {
        retired.push_back(std::move(previous));
    }
    spdlog::set_default_logger(logger);
    installed = std::make_unique<Installed>(Installed{program, target, cfg.file, logger});
}

}  // namespace m365gate
