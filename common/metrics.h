// common/metrics.h - Prometheus text exposition for node_exporter's textfile collector, shared by
// m365gate-milter and m365gate-sync ([metrics] in m365gate.toml; docs/metrics.md).
//
// The daemons open no port: each keeps its counters in memory and a TextfileWriter thread writes
// them every metrics.interval as one file in metrics.textfile_dir (m365gate_milter.prom,
// m365gate_sync.prom), a new file renamed over the old one (replace_file_at(), common/safe_file.h:
// a symlink or hard link planted at either name is never written through), mode 0644. The
// collector reads only *.prom, so the temporary ".NAME.XXXXXXXX" is never half read.
//
// Exposition builds the text (format 0.0.4: "# HELP", "# TYPE", samples; label values escaped).
// LatencyHistogram is lock free: one relaxed atomic per bucket, safe on the milter's RCPT path.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <initializer_list>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

#include "common/config.h"

namespace m365gate::metrics {

// A label value as the text format wants it inside double quotes: '\' -> "\\", '"' -> "\"",
// newline -> "\n". Other bytes pass as they are (UTF-8 is allowed).
std::string escape_label_value(std::string_view value);

struct Label {
    std::string_view name;
    std::string_view value;
};

// The text of one file, family by family. Names are the caller's constants (not checked).
class Exposition {
public:
    // "# HELP name help" and "# TYPE name type" ("counter", "gauge", "histogram").
    void family(std::string_view name, std::string_view type, std::string_view help);
    void sample(std::string_view name, std::initializer_list<Label> labels, std::uint64_t value);
    void sample(std::string_view name, std::initializer_list<Label> labels, double value);
    const std::string& text() const noexcept { return text_; }

private:
    void start_sample(std::string_view name, std::initializer_list<Label> labels);
    std::string text_;
};

// Durations in fixed buckets, 5 us to 100 ms (upper bounds, inclusive). observe() is three
// relaxed atomic adds: no lock, no allocation. Counts read while observe() runs may be one
// observation apart between a bucket and _count: Prometheus tolerates that.
class LatencyHistogram {
public:
    static constexpr std::array<std::int64_t, 14> bounds_ns = {
        5'000,     10'000,    25'000,    50'000,     100'000,    250'000,    500'000,
        1'000'000, 2'500'000, 5'000'000, 10'000'000, 25'000'000, 50'000'000, 100'000'000};

    void observe(std::chrono::nanoseconds d) noexcept;
    // name_bucket{le=...} (cumulative, "+Inf" last), name_sum (seconds), name_count; after
    // the family line, which the caller writes.
    void render(Exposition& out, std::string_view name) const;

private:
    std::array<std::atomic<std::uint64_t>, bounds_ns.size() + 1> counts_{};
    std::atomic<std::uint64_t> sum_ns_{0};
};

// For the start and reload log lines: "off", or the directory and interval
// ("/var/lib/prometheus/node-exporter,15s"); log_value() it.
std::string summary(const MetricsConfig& cfg);

// Writes `text` as `dir`/`name` (replace_file_at, mode 0644). "" when written, else why not.
std::string write_textfile(const std::filesystem::path& dir, const std::string& name,
                           std::string_view text);

// The thread that writes one daemon's file every metrics.interval. configure() may be called at
// any time (start, reload); a textfile_dir of "" stops the writing (the last file is left as it
// is: node_exporter's node_textfile_mtime_seconds shows its age). stop() wakes the thread at
// once, writes a last time and joins; it must run before what `render` reads is destroyed.
// A failed write is logged once per distinct error, and once when writing works again.
class TextfileWriter {
public:
    using Render = std::function<std::string()>;
    TextfileWriter(std::string file_name, Render render);
    ~TextfileWriter();
    TextfileWriter(const TextfileWriter&) = delete;
    TextfileWriter& operator=(const TextfileWriter&) = delete;

    void configure(const MetricsConfig& cfg);
    void start();
    void stop();
    // Renders and writes once (with the directory configured now); "" or why not.
    std::string write_now();

private:
    void run();

    const std::string file_name_;
    const Render render_;
    std::mutex mu_;
    std::condition_variable cv_;
    MetricsConfig cfg_;
    bool stopping_ = false;
    std::string last_error_;
    std::thread thread_;
};

}  // namespace m365gate::metrics
