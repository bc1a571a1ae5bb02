// m365gatectl report on a rejection log with known content, malformed lines included.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <sstream>

#include "ctl/ctl.h"
#include "tests/unit/ctl_fixture.h"

using namespace m365gate::ctl;
using namespace m365gate::ctl::testing;

namespace {

std::string event(const std::string& ts, const std::string& action, const std::string& client,
                  const std::string& to, const std::string& reason) {
    nlohmann::json j = {{"ts", ts},
                        {"action", action},
                        {"queue_id", ""},
                        {"client_addr", client},
                        {"client_name", "mx." + client},
                        {"from", "a@b.example"},
                        {"to", to},
                        {"tenant", "contoso"},
                        {"reason", reason},
                        {"code", "550"},
                        {"status", "5.1.1"}};
    return j.dump() + "\n";
}

// 7 good events (one of them two days old), 4 malformed lines, one blank line.
std::string known_log() {
    std::string log;
    log += event("2026-11-23T08:10:00Z", "reject", "192.0.2.7", "jon@contoso.example",
                 "unknown_recipient");
    log += event("2026-11-23T08:20:00Z", "reject", "192.0.2.7", "JON@contoso.example",
                 "unknown_recipient");
    log += event("2026-11-23T08:30:00Z", "reject", "192.0.2.7", "mary@contoso.example",
                 "unknown_recipient");
    log += event("2026-11-23T07:05:00Z", "reject", "198.51.100.9", "jon@contoso.example",
                 "unknown_recipient");
    log += event("2026-11-23T07:06:00Z", "tempfail", "198.51.100.9", "x@fabrikam.example",
                 "cache_unavailable");
    log += event("2026-11-23T08:59:59Z", "would_reject", "203.0.113.1", "old@fabrikam.example",
                 "unknown_recipient");
    log += event("2026-11-21T08:00:00Z", "reject", "192.0.2.7", "ancient@contoso.example",
                 "unknown_recipient");
    log += "{\"ts\":\"2026-11-23T08:00:00Z\",\"action\":\"reject\",\"to\":\"cut@cont";  // truncated
    log += "\nnot json at all\n";
    log += "[1,2,3]\n";
    log += "{\"ts\":\"yesterday\",\"action\":\"reject\",\"to\":\"a@b.example\"}\n";
    log += "\n";
    return log;
}

}  // namespace

TEST_CASE("report counts rejections by reason, domain, recipient, client and hour",
          "[ctl][report]") {
    TempDir dir;
    const auto file = dir.path() / "rejections.jsonl";
    write_file(file, known_log());
    ReportOptions options;
    options.files = {file.string()};
    options.since = test_now - day;
    std::istringstream no_stdin;
    std::ostringstream out, err;

    SECTION("JSON parses back with the known counts") {
        options.format = ReportFormat::json;
        REQUIRE(run_report(options, no_stdin, test_now, out, err) == 0);
        const auto doc = nlohmann::json::parse(out.str());
        CHECK(doc["lines"] == 11);
        CHECK(doc["malformed"] == 4);
        CHECK(doc["outside_period"] == 1);
        CHECK(doc["events"] == 6);
        CHECK(doc["by_action"]["reject"] == 4);
        CHECK(doc["by_action"]["tempfail"] == 1);
        CHECK(doc["by_action"]["would_reject"] == 1);
        CHECK(doc["by_reason"]["unknown_recipient"] == 5);
        CHECK(doc["by_reason"]["cache_unavailable"] == 1);
        CHECK(doc["by_domain"][0] == nlohmann::json({{"domain", "contoso.example"}, {"count", 4}}));
        CHECK(doc["by_domain"][1] ==
              nlohmann::json({{"domain", "fabrikam.example"}, {"count", 2}}));
        CHECK(doc["top_recipients"][0]["address"] == "jon@contoso.example");
        CHECK(doc["top_recipients"][0]["count"] == 3);
        CHECK(doc["top_unknown_clients"][0]["client_addr"] == "192.0.2.7");
        CHECK(doc["top_unknown_clients"][0]["count"] == 3);
        CHECK(doc["top_unknown_clients"][0]["distinct_recipients"] == 2);
        CHECK(doc["top_unknown_clients"][0]["client_name"] == "mx.192.0.2.7");
        REQUIRE(doc["per_hour"].size() == 2);
        CHECK(doc["per_hour"][0] ==
              nlohmann::json({{"hour", "2026-11-23T07:00:00Z"}, {"count", 2}}));
        CHECK(doc["per_hour"][1] ==
              nlohmann::json({{"hour", "2026-11-23T08:00:00Z"}, {"count", 4}}));
        CHECK_THAT(err.str(), Catch::Contains("skipped 4 malformed line(s)"));
    }
    SECTION("text has every section") {
        REQUIRE(run_report(options, no_stdin, test_now, out, err) == 0);
        const std::string text = out.str();
        CHECK_THAT(text, Catch::Contains("events:    6 (reject 4, tempfail 1, would_reject 1)"));
        CHECK_THAT(text, Catch::Contains("skipped:   4 malformed lines, 1 outside the period"));
        CHECK_THAT(text, Catch::Contains("By reason\n       5  unknown_recipient\n"
                                         "       1  cache_unavailable\n"));
        CHECK_THAT(text, Catch::Contains("       3  jon@contoso.example"));
        CHECK_THAT(text, Catch::Contains("192.0.2.7"));
        CHECK_THAT(text, Catch::Contains("2 distinct recipients"));
        CHECK_THAT(text, Catch::Contains("2026-11-23T08:00Z       4  " + std::string(40, '#')));
        CHECK_THAT(text, Catch::Contains("2026-11-23T07:00Z       2  " + std::string(20, '#')));
    }
    SECTION("--since all takes the whole log") {
        options.since.reset();
        options.format = ReportFormat::json;
        REQUIRE(run_report(options, no_stdin, test_now, out, err) == 0);
        CHECK(nlohmann::json::parse(out.str())["events"] == 7);
    }
    SECTION("standard input with -") {
        options.files = {"-"};
        options.format = ReportFormat::json;
        std::istringstream in(known_log());
        REQUIRE(run_report(options, in, test_now, out, err) == 0);
        CHECK(nlohmann::json::parse(out.str())["events"] == 6);
    }
    SECTION("a missing log is an error") {
        options.files = {(dir.path() / "missing.jsonl").string()};
        CHECK(run_report(options, no_stdin, test_now, out, err) == exit_failure);
        CHECK_THAT(err.str(), Catch::Contains("cannot read the rejection log"));
    }
    SECTION("control characters from clients do not reach the terminal") {
        options.files = {"-"};
        std::istringstream in(event("2026-11-23T08:10:00Z", "reject", "192.0.2.7\x1b[31m",
                                    "evil\x1b]0;x\x07@contoso.example", "unknown_recipient"));
        REQUIRE(run_report(options, in, test_now, out, err) == 0);
        CHECK(out.str().find('\x1b') == std::string::npos);
        CHECK(out.str().find('\x07') == std::string::npos);
    }
}

TEST_CASE("report survives hostile lines", "[ctl][report]") {
    ReportOptions options;
    options.files = {"-"};
    options.format = ReportFormat::json;
    std::string log;
    log += std::string(100000, '{') + "\n";
    log += "{\"ts\":12,\"action\":\"reject\",\"to\":\"a@b.example\"}\n";
    log += "{\"ts\":\"2026-11-23T08:00:00Z\",\"action\":\"accept\",\"to\":\"a@b.example\"}\n";
    log += "{\"ts\":\"2026-11-23T08:00:00Z\",\"action\":\"reject\",\"to\":7}\n";
    log += "{\"ts\":\"2026-11-23T08:00:00Z\",\"action\":\"reject\",\"to\":\"nodomain\"}\n";
    log += std::string("\xff\xfe\x00garbage", 10) + "\n";
    std::istringstream in(log);
    std::ostringstream out, err;
    REQUIRE(run_report(options, in, test_now, out, err) == 0);
    const auto doc = nlohmann::json::parse(out.str());
    CHECK(doc["malformed"] == 5);
    CHECK(doc["events"] == 1);
    CHECK(doc["by_domain"][0]["domain"] == "(no domain)");
}

TEST_CASE("report lists the clients that crossed the harvest threshold", "[ctl][report]") {
    const auto harvest = [](const std::string& ts, const std::string& addr, const std::string& key,
                            const std::string& response) {
        nlohmann::json j = {{"ts", ts},
                            {"action", "harvest"},
                            {"client_addr", addr},
                            {"client_name", "mx." + addr},
                            {"client_key", key},
                            {"unknown", 20},
                            {"window", 600},
                            {"response", response},
                            {"block_until", ""}};
        return j.dump() + "\n";
    };
    std::string log = known_log();
    log += harvest("2026-11-23T08:11:00Z", "192.0.2.7", "192.0.2.7", "report");
    log += harvest("2026-11-23T08:31:00Z", "192.0.2.7", "192.0.2.7", "450");
    log += harvest("2026-11-23T08:40:00Z", "2001:db8:5:6::9", "2001:db8:5:6::/64", "421");
    log += harvest("2026-11-20T08:00:00Z", "198.51.100.9", "198.51.100.9", "report");  // old
    log += "{\"ts\":\"2026-11-23T08:50:00Z\",\"action\":\"harvest\",\"client_addr\":\"x\"}\n";

    ReportOptions options;
    options.files = {"-"};
    options.since = test_now - day;
    std::istringstream in(log);
    std::ostringstream out, err;

    SECTION("JSON") {
        options.format = ReportFormat::json;
        REQUIRE(run_report(options, in, test_now, out, err) == 0);
        const auto doc = nlohmann::json::parse(out.str());
        CHECK(doc["events"] == 6);  // harvest records are not rejections
        CHECK(doc["malformed"] == 5);
        CHECK(doc["outside_period"] == 2);
        REQUIRE(doc["harvest_clients"].size() == 2);
        CHECK(doc["harvest_clients"][0] == nlohmann::json({{"client_key", "192.0.2.7"},
                                                           {"client_addr", "192.0.2.7"},
                                                           {"client_name", "mx.192.0.2.7"},
                                                           {"crossings", 2},
                                                           {"first", "2026-11-23T08:11:00Z"},
                                                           {"last", "2026-11-23T08:31:00Z"},
                                                           {"response", "450"}}));
        CHECK(doc["harvest_clients"][1]["client_key"] == "2001:db8:5:6::/64");
        CHECK(doc["harvest_clients"][1]["client_addr"] == "2001:db8:5:6::9");
        CHECK(doc["harvest_clients"][1]["crossings"] == 1);
        CHECK(doc["harvest_clients"][1]["response"] == "421");
    }
    SECTION("text") {
        REQUIRE(run_report(options, in, test_now, out, err) == 0);
        const std::string text = out.str();
        CHECK_THAT(text, Catch::Contains("Clients that crossed the harvest threshold"));
        CHECK_THAT(text, Catch::Contains("       2  192.0.2.7"));
        CHECK_THAT(text, Catch::Contains("last 2026-11-23T08:31:00Z answered 450"));
        CHECK_THAT(text, Catch::Contains("       1  2001:db8:5:6::/64"));
    }
}
