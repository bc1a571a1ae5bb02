// common/metrics.cpp - the text exposition, the latency histogram and the textfile writer (see
// metrics.h).
#include "common/metrics.h"

#include <fcntl.h>
#include <spdlog/fmt/fmt.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "common/log.h"
#include "common/safe_file.h"
#include "common/unique_fd.h"

namespace m365gate::metrics {

std::string escape_label_value(std::string_view value) {
    std::string out;
    out.reserve(value.size());
    for (char c : value) {
        if (c == '\\') {
            out += "\\\\";
        } else if (c == '"') {
            out += "\\\"";
        } else if (c == '\n') {
            out += "\\n";
        } else {
            out.push_back(c);
        }
    }
    return out;
}

void Exposition::family(std::string_view name, std::string_view type, std::string_view help) {
    text_ += "# HELP ";
    text_ += name;
    text_ += ' ';
    text_ += help;  // our constants: no '\' or newline to escape
    text_ += "\n# TYPE ";
    text_ += name;
    text_ += ' ';
    text_ += type;
    text_ += '\n';
}

void Exposition::start_sample(std::string_view name, std::initializer_list<Label> labels) {
    text_ += name;
    if (labels.size() != 0) {
        text_ += '{';
        bool first = true;
        for (const Label& l : labels) {
            if (!first) {
                text_ += ',';
            }
            first = false;
            text_ += l.name;
            text_ += "=\"";
            text_ += escape_label_value(l.value);
            text_ += '"';
        }
        text_ += '}';
    }
    text_ += ' ';
}

void Exposition::sample(std::string_view name, std::initializer_list<Label> labels,
                        std::uint64_t value) {
    start_sample(name, labels);
    text_ += std::to_string(value);
    text_ += '\n';
}

void Exposition::sample(std::string_view name, std::initializer_list<Label> labels, double value) {
    start_sample(name, labels);
    text_ += fmt::format("{}", value);  // shortest form that reads back as the same double
    text_ += '\n';
}

void LatencyHistogram::observe(std::chrono::nanoseconds d) noexcept {
    const std::int64_t ns = d.count() < 0 ? 0 : d.count();
    std::size_t i = 0;
    while (i < bounds_ns.size() && ns > bounds_ns[i]) {
        ++i;
    }
    counts_[i].fetch_add(1, std::memory_order_relaxed);
    sum_ns_.fetch_add(static_cast<std::uint64_t>(ns), std::memory_order_relaxed);
}

void LatencyHistogram::render(Exposition& out, std::string_view name) const {
    const std::string bucket = std::string(name) + "_bucket";
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i < counts_.size(); ++i) {
        cumulative += counts_[i].load(std::memory_order_relaxed);
        const std::string le = i < bounds_ns.size()
                                   ? fmt::format("{}", static_cast<double>(bounds_ns[i]) / 1e9)
                                   : std::string("+Inf");
        out.sample(bucket, {{"le", le}}, cumulative);
    }
    out.sample(std::string(name) + "_sum", {},
               static_cast<double>(sum_ns_.load(std::memory_order_relaxed)) / 1e9);
    out.sample(std::string(name) + "_count", {}, cumulative);
}

std::string summary(const MetricsConfig& cfg) {
    if (cfg.textfile_dir.empty()) {
        return "off";
    }
    return cfg.textfile_dir.string() + "," + std::to_string(cfg.interval.count()) + "s";
}

std::string write_textfile(const std::filesystem::path& dir, const std::string& name,
                           std::string_view text) {
    const UniqueFd dir_fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (dir_fd.get() < 0) {
        return "cannot open the directory: " + std::string(std::strerror(errno));
    }
    return replace_file_at(dir_fd.get(), name, text, 0644, std::nullopt);
}

TextfileWriter::TextfileWriter(std::string file_name, Render render)
    : file_name_(std::move(file_name)), render_(std::move(render)) {}

TextfileWriter::~TextfileWriter() { stop(); }

void TextfileWriter::configure(const MetricsConfig& cfg) {
    {
        std::lock_guard<std::mutex> lock(mu_);
        cfg_ = cfg;
    }
    cv_.notify_all();  // a new interval or directory applies now, not after the old interval
}

void TextfileWriter::start() {
    std::lock_guard<std::mutex> lock(mu_);
    if (!thread_.joinable() && !stopping_) {
        thread_ = std::thread([this] { run(); });
    }
}

void TextfileWriter::stop() {
    {
        std::lock_guard<std::mutex> lock(mu_);
        if (!thread_.joinable()) {
            return;
        }
        stopping_ = true;
    }
    cv_.notify_all();
    thread_.join();
    write_now();  // the counts of the last seconds
}

std::string TextfileWriter::write_now() {
    std::filesystem::path dir;
    {
        std::lock_guard<std::mutex> lock(mu_);
        dir = cfg_.textfile_dir;
    }
    if (dir.empty()) {
        return "";
    }
    const std::string why = write_textfile(dir, file_name_, render_());
    std::lock_guard<std::mutex> lock(mu_);
    if (why != last_error_) {
        if (why.empty()) {
            spdlog::info("event=metrics status=ok file={}", log_value((dir / file_name_).string()));
        } else {
            spdlog::warn("event=metrics status=error file={} error={}",
                         log_value((dir / file_name_).string()), log_value(why));
        }
        last_error_ = why;
    }
    return why;
}

void TextfileWriter::run() {
    std::unique_lock<std::mutex> lock(mu_);
    while (!stopping_) {
        const MetricsConfig cfg = cfg_;
        if (!cfg.textfile_dir.empty()) {
            lock.unlock();
            try {
                write_now();
            } catch (const std::exception& e) {
                spdlog::error("event=metrics status=error error={}", log_value(e.what()));
            }
            lock.lock();
        }
        // Woken early by configure() or stop(); a configure() of the same settings only
        // writes once more.
        cv_.wait_for(lock, cfg.interval, [&] {
            return stopping_ || cfg_.textfile_dir != cfg.textfile_dir ||
                   cfg_.interval != cfg.interval;
        });
    }
}

}  // namespace m365gate::metrics
