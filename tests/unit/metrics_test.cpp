// tests/unit/metrics_test.cpp - the Prometheus text the daemons write (common/metrics.h,
// milter/milter_metrics.h, sync/sync_metrics.h): the exposition format checked line by line by
// a parser of the format written here, label escaping, the latency histogram, the textfile
// written without following links, the writer thread, and `m365gatectl metrics`.
#include "common/metrics.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <thread>

#include "ctl/ctl.h"
#include "milter/milter_metrics.h"
#include "sync/sync_metrics.h"
#include "sync/tenant_sync.h"
#include "temp_dir.h"

using namespace m365gate;
using m365gate::testing::TempDir;

namespace {

std::string read_file(const std::filesystem::path& file) {
    std::ifstream in(file, std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

// A label block "{a="x",b="y\"z"}" starting at text[pos] == '{'; advances pos past '}'.
// "" when well formed, else what is wrong.
std::string check_labels(const std::string& line, std::size_t& pos) {
    static const std::regex label_name("[a-zA-Z_][a-zA-Z0-9_]*");
    ++pos;
    std::set<std::string> seen;
    while (pos < line.size() && line[pos] != '}') {
        const std::size_t eq = line.find('=', pos);
        if (eq == std::string::npos) {
            return "label without '='";
        }
        const std::string name = line.substr(pos, eq - pos);
        if (!std::regex_match(name, label_name) || !seen.insert(name).second) {
            return "bad or repeated label name \"" + name + "\"";
        }
        pos = eq + 1;
        if (pos >= line.size() || line[pos] != '"') {
            return "label value not quoted";
        }
        for (++pos; pos < line.size() && line[pos] != '"'; ++pos) {
            if (line[pos] == '\\') {
                ++pos;
                if (pos >= line.size() ||
                    std::string("\\\"n").find(line[pos]) == std::string::npos) {
                    return "bad escape in a label value";
                }
            }
        }
        if (pos >= line.size()) {
            return "unterminated label value";
        }
        ++pos;  // the closing quote
        if (pos < line.size() && line[pos] == ',') {
            ++pos;
        }
    }
    if (pos >= line.size()) {
        return "unterminated label block";
    }
    ++pos;
    return "";
}

// The text exposition format 0.0.4, as strictly as Prometheus reads it, plus the naming
// conventions (counters end in _total). "" when the whole text passes.
std::string exposition_problem(const std::string& text) {
    static const std::regex metric_name("[a-zA-Z_:][a-zA-Z0-9_:]*");
    static const std::regex value(R"([-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?|[-+]?Inf|NaN)");
    if (text.empty() || text.back() != '\n') {
        return "does not end with a newline";
    }
    std::istringstream lines(text);
    std::string line;
    std::string family;
    std::string family_type;
    std::set<std::string> typed;
    int n = 0;
    while (std::getline(lines, line)) {
        ++n;
        const std::string where = "line " + std::to_string(n) + " \"" + line + "\": ";
        std::smatch m;
        if (std::regex_match(line, m, std::regex(R"(# HELP ([^ ]+) .+)"))) {
            continue;
        }
        if (std::regex_match(line, m, std::regex(R"(# TYPE ([^ ]+) (counter|gauge|histogram))"))) {
            family = m[1].str();
            family_type = m[2].str();
            if (!std::regex_match(family, metric_name) || !typed.insert(family).second) {
                return where + "bad or repeated family";
            }
            if (family_type == "counter" && !std::regex_search(family, std::regex("_total$"))) {
                return where + "a counter's name must end in _total";
            }
            continue;
        }
        const std::size_t end = line.find_first_of("{ ");
        if (end == std::string::npos) {
            return where + "not a sample";
        }
        const std::string name = line.substr(0, end);
        std::string base = name;
        if (family_type == "histogram") {
            base = std::regex_replace(name, std::regex("_(bucket|sum|count)$"), "");
        }
        if (!std::regex_match(name, metric_name) || base != family) {
            return where + "sample outside its family (after # TYPE " + family + ")";
        }
        std::size_t pos = end;
        if (line[pos] == '{') {
            if (const std::string why = check_labels(line, pos); !why.empty()) {
                return where + why;
            }
        }
        if (pos >= line.size() || line[pos] != ' ' ||
            !std::regex_match(line.substr(pos + 1), value)) {
            return where + "bad value";
        }
    }
    return "";
}

// The value of the sample line that starts with `series` ("name{labels}"), nullopt when absent.
std::optional<std::string> sample_value(const std::string& text, const std::string& series) {
    std::istringstream lines(text);
    std::string line;
    while (std::getline(lines, line)) {
        if (line.rfind(series + " ", 0) == 0) {
            return line.substr(series.size() + 1);
        }
    }
    return std::nullopt;
}

decision::TenantPolicy policy(const std::string& name) {
    decision::TenantPolicy p;
    p.name = name;
    return p;
}

}  // namespace

TEST_CASE("label values are escaped as the text format wants", "[metrics]") {
    struct Case {
        const char* label;
        const char* raw;
        const char* want;
    };
    const Case cases[] = {
        {"plain", "contoso", "contoso"},
        {"backslash", "a\\b", "a\\\\b"},
        {"double quote", "say \"hi\"", "say \\\"hi\\\""},
        {"newline", "two\nlines", "two\\nlines"},
        {"UTF-8 kept",
         "b\xC3\xBC"
         "cher",
         "b\xC3\xBC"
         "cher"},
        {"empty", "", ""},
    };
    for (const auto& c : cases) {
        INFO(c.label);
        CHECK(metrics::escape_label_value(c.raw) == c.want);
    }
    metrics::Exposition out;
    out.family("m365gate_example_total", "counter", "An example.");
    out.sample("m365gate_example_total", {{"tenant", "a\"b\\c\nd"}}, std::uint64_t{3});
    CHECK(out.text() ==
          "# HELP m365gate_example_total An example.\n"
          "# TYPE m365gate_example_total counter\n"
          "m365gate_example_total{tenant=\"a\\\"b\\\\c\\nd\"} 3\n");
    CHECK(exposition_problem(out.text()).empty());
}

TEST_CASE("the format checker refuses what Prometheus would refuse", "[metrics]") {
    const char* bad[] = {
        "m365gate_x 1",                                           // no newline
        "# TYPE m365gate_x_total counter\nm365gate_y_total 1\n",  // outside its family
        "# TYPE m365gate_x counter\nm365gate_x 1\n",              // counter without _total
        "# TYPE m365gate_x gauge\nm365gate_x{a=\"b} 1\n",         // unterminated value
        "# TYPE m365gate_x gauge\nm365gate_x{a=\"\\t\"} 1\n",     // bad escape
        "# TYPE m365gate_x gauge\nm365gate_x one\n",              // bad value
        "# TYPE m365gate_x gauge\n# TYPE m365gate_x gauge\nm365gate_x 1\n",  // family twice
    };
    for (const char* text : bad) {
        INFO(text);
        CHECK_FALSE(exposition_problem(text).empty());
    }
}

TEST_CASE("the latency histogram counts into cumulative buckets with sum and count", "[metrics]") {
    metrics::LatencyHistogram h;
    h.observe(std::chrono::microseconds(3));    // <= 5us
    h.observe(std::chrono::microseconds(5));    // <= 5us (bounds are inclusive)
    h.observe(std::chrono::microseconds(40));   // <= 50us
    h.observe(std::chrono::milliseconds(2));    // <= 2.5ms
    h.observe(std::chrono::milliseconds(500));  // +Inf
    metrics::Exposition out;
    out.family("m365gate_test_seconds", "histogram", "Test.");
    h.render(out, "m365gate_test_seconds");
    const std::string& t = out.text();
    INFO(t);
    CHECK(exposition_problem(t).empty());
    CHECK(sample_value(t, "m365gate_test_seconds_bucket{le=\"5e-06\"}") == "2");
    CHECK(sample_value(t, "m365gate_test_seconds_bucket{le=\"2.5e-05\"}") == "2");
    CHECK(sample_value(t, "m365gate_test_seconds_bucket{le=\"5e-05\"}") == "3");
    CHECK(sample_value(t, "m365gate_test_seconds_bucket{le=\"0.0025\"}") == "4");
    CHECK(sample_value(t, "m365gate_test_seconds_bucket{le=\"0.1\"}") == "4");
    CHECK(sample_value(t, "m365gate_test_seconds_bucket{le=\"+Inf\"}") == "5");
    CHECK(sample_value(t, "m365gate_test_seconds_count") == "5");
    CHECK(sample_value(t, "m365gate_test_seconds_sum") == "0.502048");
}

TEST_CASE("the milter's file: counts by verdict, reason and tenant, kept across a reload",
          "[metrics]") {
    milter::MilterMetrics m;
    auto tables = m.tables_for({policy("contoso"), policy("tailspin")});
    REQUIRE(tables.size() == 2);
    const auto known = milter::rcpt_reason_index("known");
    const auto unknown = milter::rcpt_reason_index("unknown_recipient");
    CHECK(milter::rcpt_reason_index("something new") == milter::rcpt_reasons.size() - 1);
    tables[0]->add(milter::RcptVerdict::continue_, known);
    tables[0]->add(milter::RcptVerdict::reject, unknown);
    tables[0]->add(milter::RcptVerdict::reject, unknown);
    tables[1]->add(milter::RcptVerdict::would_tempfail,
                   milter::rcpt_reason_index("cache_unavailable"));
    m.no_tenant().add(milter::RcptVerdict::continue_,
                      milter::rcpt_reason_index("unmanaged_domain"));
    m.decision_latency().observe(std::chrono::microseconds(7));
    m.harvest_crossing(HarvestAction::tempfail);
    m.internal_error();

    // A reload that drops tailspin and adds fabrikam: contoso's counts go on.
    const auto reloaded = m.tables_for({policy("fabrikam"), policy("contoso")});
    CHECK(reloaded[1] == tables[0]);
    reloaded[1]->add(milter::RcptVerdict::reject, unknown);

    const std::string t = m.render({policy("fabrikam"), policy("contoso")}, true,
                                   {{"contoso", 1'000'000, 5}, {"fabrikam", 0, 0}}, 2, 1'000'060);
    INFO(t);
    CHECK(exposition_problem(t).empty());
    const std::string rcpt = "m365gate_milter_rcpt_total";
    CHECK(sample_value(t, rcpt + R"({verdict="continue",reason="known",tenant="contoso"})") == "1");
    CHECK(sample_value(
              t, rcpt + R"({verdict="reject",reason="unknown_recipient",tenant="contoso"})") ==
          "3");
    CHECK(sample_value(t, rcpt + R"({verdict="continue",reason="unmanaged_domain",tenant=""})") ==
          "1");
    CHECK_FALSE(sample_value(
        t, rcpt + R"({verdict="would_tempfail",reason="cache_unavailable",tenant="tailspin"})"));
    CHECK(t.find("tenant=\"fabrikam\"} ") != std::string::npos);  // its store figures
    CHECK(sample_value(t, "m365gate_milter_decision_duration_seconds_count") == "1");
    CHECK(sample_value(t, R"(m365gate_milter_harvest_crossings_total{action="450"})") == "1");
    CHECK(sample_value(t, R"(m365gate_milter_harvest_crossings_total{action="report"})") == "0");
    CHECK(sample_value(t, "m365gate_milter_harvest_clients") == "2");
    CHECK(sample_value(t, "m365gate_milter_internal_errors_total") == "1");
    CHECK(sample_value(t, "m365gate_milter_store_available") == "1");
    CHECK(sample_value(t, R"(m365gate_milter_store_age_seconds{tenant="contoso"})") == "60");
    CHECK(sample_value(t, R"(m365gate_milter_store_addresses{tenant="contoso"})") == "5");
    CHECK_FALSE(sample_value(t, R"(m365gate_milter_store_age_seconds{tenant="fabrikam"})"));
}

TEST_CASE("the sync's file: runs, requests, token requests, alerts, secret days left",
          "[metrics]") {
    sync::SyncMetrics m;
    store::TenantState ok;
    ok.last_attempt = 1'000'000;
    ok.last_success = 1'000'000;
    ok.address_count = 42;
    ok.secret_expires = 1'000'000 + 10 * 86400 + 43200;
    m.attempt("contoso", "full", "ok", ok, 1.5);
    m.attempt("contoso", "delta", "ok", ok, 0.25);
    store::TenantState failed = ok;
    failed.last_attempt = 1'000'300;
    m.attempt("contoso", "none", "token", failed, 0.5);
    m.graph_request("contoso", 200);
    m.graph_request("contoso", 200);
    m.graph_request("contoso", 429);
    m.graph_request("contoso", 0);
    m.token_request("contoso", true);
    m.token_request("contoso", false);
    m.alert_sent("contoso", "token");

    const std::string t = m.render(1'000'000);
    INFO(t);
    CHECK(exposition_problem(t).empty());
    const std::string runs = "m365gate_sync_runs_total";
    CHECK(sample_value(t, runs + R"({tenant="contoso",kind="full",status="ok"})") == "1");
    CHECK(sample_value(t, runs + R"({tenant="contoso",kind="delta",status="ok"})") == "1");
    CHECK(sample_value(t, runs + R"({tenant="contoso",kind="none",status="token"})") == "1");
    CHECK(sample_value(t, R"(m365gate_sync_graph_requests_total{tenant="contoso",code="200"})") ==
          "2");
    CHECK(sample_value(t, R"(m365gate_sync_graph_requests_total{tenant="contoso",code="0"})") ==
          "1");
    CHECK(sample_value(t, R"(m365gate_sync_graph_throttled_total{tenant="contoso"})") == "1");
    CHECK(sample_value(t, R"(m365gate_sync_token_requests_total{tenant="contoso",status="ok"})") ==
          "1");
    CHECK(sample_value(t, R"(m365gate_sync_alerts_sent_total{tenant="contoso",alert="token"})") ==
          "1");
    CHECK(sample_value(t, R"(m365gate_sync_secret_remaining_seconds{tenant="contoso"})") ==
          "907200");  // 10.5 days
    CHECK(sample_value(t, R"(m365gate_sync_failing{tenant="contoso"})") == "1");
    CHECK(sample_value(t, R"(m365gate_sync_addresses{tenant="contoso"})") == "42");
    CHECK(sample_value(t, R"(m365gate_sync_last_success_timestamp_seconds{tenant="contoso"})") ==
          "1000000");
    CHECK_FALSE(sample_value(t, "m365gate_sync_postfix_tables_current_timestamp_seconds"));

    m.postfix_tables(true, 1'000'100);
    m.postfix_tables(false, 1'000'400);
    const std::string p = m.render(1'000'500);
    INFO(p);
    CHECK(exposition_problem(p).empty());
    CHECK(sample_value(p, R"(m365gate_sync_postfix_table_writes_total{status="ok"})") == "1");
    CHECK(sample_value(p, R"(m365gate_sync_postfix_table_writes_total{status="error"})") == "1");
    CHECK(sample_value(p, "m365gate_sync_postfix_tables_current_timestamp_seconds") == "1000100");
}

TEST_CASE("the textfile replaces a symlink or hard link at its name, never writes through it",
          "[metrics]") {
    TempDir tmp;
    const auto victim = tmp.path() / "victim";
    { std::ofstream(victim) << "precious\n"; }
    const auto prom = tmp.path() / "m365gate_milter.prom";
    for (const bool symbolic : {true, false}) {
        const std::string planted = symbolic ? "symlink" : "hard link";
        INFO(planted);
        std::filesystem::remove(prom);
        if (symbolic) {
            std::filesystem::create_symlink(victim, prom);
        } else {
            std::filesystem::create_hard_link(victim, prom);
        }
        CHECK(metrics::write_textfile(tmp.path(), "m365gate_milter.prom", "m365gate_x 1\n") == "");
        CHECK(read_file(victim) == "precious\n");
        CHECK(read_file(prom) == "m365gate_x 1\n");
        struct stat st {};
        REQUIRE(::lstat(prom.c_str(), &st) == 0);
        CHECK(S_ISREG(st.st_mode));
        CHECK((st.st_mode & 07777) == 0644);
        CHECK(st.st_nlink == 1);
    }
    // Nothing else is left in the directory: no temporary.
    std::set<std::string> names;
    for (const auto& e : std::filesystem::directory_iterator(tmp.path())) {
        names.insert(e.path().filename().string());
    }
    CHECK(names == std::set<std::string>{"m365gate_milter.prom", "victim"});
    CHECK_FALSE(metrics::write_textfile(tmp.path() / "missing", "x.prom", "").empty());
}

TEST_CASE("the writer thread writes at once, follows a reconfigure, and stops promptly",
          "[metrics]") {
    TempDir tmp;
    std::atomic<int> renders{0};
    metrics::TextfileWriter writer("m365gate_test.prom", [&] {
        return "m365gate_renders " + std::to_string(++renders) + "\n";
    });
    MetricsConfig cfg;
    cfg.textfile_dir = tmp.path() / "a";
    cfg.interval = std::chrono::hours(1);  // stop() must not wait for it
    std::filesystem::create_directory(cfg.textfile_dir);
    std::filesystem::create_directory(tmp.path() / "b");
    writer.configure(cfg);
    writer.start();
    const auto wait_for_file = [](const std::filesystem::path& file) {
        for (int i = 0; i < 200 && !std::filesystem::exists(file); ++i) {
            std::this_thread::sleep_for(std::chrono::milliseconds(25));
        }
        return std::filesystem::exists(file);
    };
    CHECK(wait_for_file(tmp.path() / "a" / "m365gate_test.prom"));
    cfg.textfile_dir = tmp.path() / "b";
    writer.configure(cfg);  // applies now, not after the hour
    CHECK(wait_for_file(tmp.path() / "b" / "m365gate_test.prom"));
    writer.stop();  // wakes the thread, writes a last time, joins
    const std::string last = read_file(tmp.path() / "b" / "m365gate_test.prom");
    CHECK(last == "m365gate_renders " + std::to_string(renders.load()) + "\n");
    writer.stop();  // idempotent
}

TEST_CASE("m365gatectl metrics prints both files and names the missing and the stale",
          "[metrics][ctl]") {
    TempDir tmp;
    Config cfg;
    cfg.file = "m365gate.toml";
    std::ostringstream out;
    std::ostringstream err;
    CHECK(ctl::run_metrics(cfg, 1'000, out, err) == ctl::exit_failure);
    CHECK(err.str() ==
          "m365gatectl: metrics are off: [metrics] textfile_dir is not set in m365gate.toml\n");

    cfg.metrics.textfile_dir = tmp.path();
    cfg.metrics.interval = std::chrono::seconds(15);
    REQUIRE(metrics::write_textfile(tmp.path(), "m365gate_milter.prom", "m365gate_a 1\n") == "");
    // Each file's time set to `now` exactly: "written 0s ago" must not depend on whether a
    // second boundary passed between the write and the clock read (it did on a loaded machine).
    const auto now = static_cast<std::int64_t>(std::time(nullptr));
    const auto set_mtime = [&](const char* name) {
        const timespec times[2] = {{now, 0}, {now, 0}};
        REQUIRE(::utimensat(AT_FDCWD, (tmp.path() / name).c_str(), times, 0) == 0);
    };
    set_mtime("m365gate_milter.prom");
    out.str("");
    err.str("");
    CHECK(ctl::run_metrics(cfg, now, out, err) == ctl::exit_failure);
    const std::string milter_file = (tmp.path() / "m365gate_milter.prom").string();
    const std::string sync_file = (tmp.path() / "m365gate_sync.prom").string();
    CHECK(out.str() == "# " + milter_file + ": written 0s ago\nm365gate_a 1\n\n# " + sync_file +
                           ": missing\n\n");
    CHECK(err.str() == "m365gatectl: " + sync_file +
                           ": missing: is m365gate-sync running, with this [metrics] "
                           "textfile_dir?\n");

    REQUIRE(metrics::write_textfile(tmp.path(), "m365gate_sync.prom", "m365gate_b 2\n") == "");
    set_mtime("m365gate_sync.prom");
    out.str("");
    err.str("");
    CHECK(ctl::run_metrics(cfg, now, out, err) == ctl::exit_ok);
    CHECK(err.str().empty());

    out.str("");
    err.str("");
    CHECK(ctl::run_metrics(cfg, now + 120, out, err) == ctl::exit_failure);  // 8 intervals
    CHECK(out.str().find("# " + sync_file + ": STALE, written 2m ago\nm365gate_b 2\n") !=
          std::string::npos);
    CHECK(err.str().find("m365gatectl: " + milter_file +
                         ": STALE: written 2m ago, expected every 15s: is m365gate-milter "
                         "running?\n") != std::string::npos);

    // A symlink at a file's name is not followed: reported, not read.
    std::filesystem::remove(tmp.path() / "m365gate_sync.prom");
    std::filesystem::create_symlink("/etc/hostname", tmp.path() / "m365gate_sync.prom");
    out.str("");
    err.str("");
    CHECK(ctl::run_metrics(cfg, now, out, err) == ctl::exit_failure);
    CHECK(out.str().find(": cannot open: Too many levels of symbolic links") != std::string::npos);
}

TEST_CASE("alerts counted from the state: a new key, a reminder, a stale list's recovery",
          "[metrics]") {
    sync::SyncMetrics m;
    const std::map<std::string, std::int64_t> none;
    const std::map<std::string, std::int64_t> stale{{"stale:1000", 2000}};
    sync::count_alerts(&m, "contoso", none, stale);
    // The same key with a later time is a reminder (alerts.repeat): counted again.
    const std::map<std::string, std::int64_t> reminded{{"stale:1000", 2000 + 86400}};
    sync::count_alerts(&m, "contoso", stale, reminded);
    sync::count_alerts(&m, "contoso", reminded, reminded);  // nothing sent
    sync::count_alerts(&m, "contoso", reminded, none);      // resolved: the recovery notice
    const std::string t = m.render(1'000'000);
    INFO(t);
    CHECK(sample_value(t, R"(m365gate_sync_alerts_sent_total{tenant="contoso",alert="stale"})") ==
          "2");
    CHECK(sample_value(
              t, R"(m365gate_sync_alerts_sent_total{tenant="contoso",alert="recovered"})") == "1");
}
