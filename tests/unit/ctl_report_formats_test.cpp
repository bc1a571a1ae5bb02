// m365gatectl report as text, JSON, CSV and HTML on a log with several tenants, senders,
// clients and hours, a malformed line and hostile values, and its --tenant, --since and
// --until filters.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <sstream>

#include "ctl/ctl.h"
#include "ctl/report.h"
#include "tests/unit/ctl_fixture.h"

using namespace m365gate::ctl;
using namespace m365gate::ctl::testing;

namespace {

struct Rejection {
    const char* ts;
    const char* action;
    const char* tenant;
    const char* from;
    const char* client_addr;
    const char* client_name;
    const char* to;
    const char* reason;
};

std::string line(const Rejection& r) {
    return nlohmann::json({{"ts", r.ts},
                           {"action", r.action},
                           {"queue_id", ""},
                           {"client_addr", r.client_addr},
                           {"client_name", r.client_name},
                           {"from", r.from},
                           {"to", r.to},
                           {"tenant", r.tenant},
                           {"reason", r.reason},
                           {"code", "550"},
                           {"status", "5.1.1"}})
               .dump() +
           "\n";
}

const char* const script_sender = "<script>alert(1)</script>@evil.example";
const char* const formula_client = "=cmd|' /C calc'!A0";

// Within the 24 hours before test_now (2026-11-23T09:00:00Z): 7 rejections, contoso 4,
// fabrikam 2, one without a tenant; hours 06:00 (2), 07:00 (2), 08:00 (3). Also one two-day-old
// rejection, one malformed line and one harvest record: 10 lines.
std::string multi_tenant_log() {
    const Rejection rejections[] = {
        {"2026-11-23T06:10:00Z", "reject", "contoso", "alice@sender.example", "192.0.2.7",
         "mx1.example", "nobody@contoso.example", "unknown_recipient"},
        {"2026-11-23T06:20:00Z", "reject", "contoso", "\"Smith, Bob\"@Sender.Example", "192.0.2.7",
         "mx1.example", "x1@contoso.example", "unknown_recipient"},
        {"2026-11-23T07:05:00Z", "reject", "contoso", "alice@sender.example", "198.51.100.9",
         "mx2.example", "x2@contoso.example", "unknown_recipient"},
        {"2026-11-23T07:06:00Z", "tempfail", "fabrikam", "", "198.51.100.9", "mx2\nnext line",
         "y@fabrikam.example", "cache_unavailable"},
        {"2026-11-23T08:00:00Z", "would_reject", "fabrikam", script_sender, formula_client,
         "\"><img src=x>", "z@fabrikam.example", "unknown_recipient"},
        {"2026-11-23T08:30:00Z", "reject", "contoso", "alice@sender.example", "192.0.2.7",
         "mx1.example", "nobody@contoso.example", "unknown_recipient"},
        {"2026-11-23T08:40:00Z", "reject", "", "+sum(1)@evil.example", "", "",
         "a@unmanaged.example", "unknown_recipient"},
        {"2026-11-21T05:00:00Z", "reject", "contoso", "old@sender.example", "203.0.113.5",
         "mx3.example", "old@contoso.example", "unknown_recipient"},
    };
    std::string log;
    for (const auto& r : rejections) {
        log += line(r);
    }
    log += "{\"ts\":\"2026-11-23T08:00:00Z\",\"action\":\"rej\n";  // cut by a crash
    log += nlohmann::json({{"ts", "2026-11-23T08:31:00Z"},
                           {"action", "harvest"},
                           {"client_addr", "192.0.2.7"},
                           {"client_name", "mx1.example"},
                           {"client_key", "192.0.2.7"},
                           {"unknown", 20},
                           {"window", 600},
                           {"response", "450"},
                           {"block_until", "2026-11-23T08:41:00Z"}})
               .dump() +
           "\n";
    return log;
}

struct ReportRun {
    int status;
    std::string out;
    std::string err;
};

ReportRun run(ReportOptions options, ReportFormat format) {
    TempDir dir;
    const auto file = dir.path() / "rejections.jsonl";
    write_file(file, multi_tenant_log());
    options.files = {file.string()};
    options.format = format;
    std::istringstream no_stdin;
    std::ostringstream out, err;
    const int status = run_report(options, no_stdin, test_now, out, err);
    return {status, out.str(), err.str()};
}

ReportOptions last_day() {
    ReportOptions options;
    options.since = test_now - day;
    return options;
}

std::size_t occurrences(const std::string& text, const std::string& what) {
    std::size_t n = 0;
    for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) {
        ++n;
    }
    return n;
}

}  // namespace

TEST_CASE("report JSON has senders, sender domains, clients and tenants", "[ctl][report]") {
    const auto r = run(last_day(), ReportFormat::json);
    REQUIRE(r.status == 0);
    const auto doc = nlohmann::json::parse(r.out);
    CHECK(doc["lines"] == 10);
    CHECK(doc["malformed"] == 1);
    CHECK(doc["outside_period"] == 1);
    CHECK(doc["events"] == 7);
    CHECK(doc["by_action"] ==
          nlohmann::json({{"reject", 5}, {"tempfail", 1}, {"would_reject", 1}}));
    CHECK(doc["by_tenant"] == nlohmann::json({{"contoso", 4}, {"fabrikam", 2}, {"(none)", 1}}));
    CHECK(doc["top_senders"][0] ==
          nlohmann::json({{"sender", "alice@sender.example"}, {"count", 3}}));
    CHECK(doc["top_senders"].size() == 5);
    CHECK(doc["top_sender_domains"] ==
          nlohmann::json::parse(R"([{"domain":"sender.example","count":4},
                                    {"domain":"evil.example","count":2},
                                    {"domain":"<>","count":1}])"));
    CHECK(doc["top_clients"] == nlohmann::json::parse(R"js([
        {"client_addr":"192.0.2.7","client_name":"mx1.example","count":3},
        {"client_addr":"198.51.100.9","client_name":"mx2\nnext line","count":2},
        {"client_addr":"(unknown)","client_name":"","count":1
},
        {"client_addr":"=cmd|' /C calc'!A0","client_name":"\"><img src=x>","count":1}])js"));
    REQUIRE(doc["per_tenant"].size() == 3);
    const auto& contoso = doc["per_tenant"][0];
    CHECK(contoso["tenant"] == "contoso");
    CHECK(contoso["events"] == 4);
    CHECK(contoso["top_senders"][0] ==
          nlohmann::json({{"sender", "alice@sender.example"}, {"count", 3}}));
    CHECK(contoso["top_clients"][0]["count"] == 3);
    CHECK(contoso["top_clients"][1] ==
          nlohmann::json(
              {{"client_addr", "198.51.100.9"}, {"client_name", "mx2\nnext line"}, {"count", 1}}));
    CHECK(doc["per_tenant"][1]["tenant"] == "fabrikam");
    CHECK(doc["per_tenant"][1]["by_action"] ==
          nlohmann::json({{"tempfail", 1}, {"would_reject", 1}}));
    CHECK(doc["per_hour"] == nlohmann::json::parse(R"([
        {"hour":"2026-11-23T06:00:00Z","count":2},{"hour":"2026-11-23T07:00:00Z","count":2},
        {"hour":"2026-11-23T08:00:00Z","count":3}])"));
    CHECK(doc["harvest_clients"][0]["client_key"] == "192.0.2.7");
    CHECK(doc["since"] == "2026-11-22T09:00:00Z");
    CHECK(doc["until"] == "2026-11-23T09:00:00Z");
}

TEST_CASE("report --tenant keeps only the tenants named", "[ctl][report]") {
    ReportOptions options = last_day();
    SECTION("one tenant") {
        options.tenants = {"fabrikam"};
        const auto doc = nlohmann::json::parse(run(options, ReportFormat::json).out);
        CHECK(doc["events"] == 2);
        CHECK(doc["other_tenants"] == 5);
        CHECK(doc["by_tenant"] == nlohmann::json({{"fabrikam", 2}}));
        CHECK(doc["top_sender_domains"] == nlohmann::json::parse(R"([{"domain":"<>","count":1},
                                        {"domain":"evil.example","count":1}])"));
        CHECK(doc["harvest_clients"].size() == 1);  // a client's, not a tenant's
        CHECK(doc["tenants"] == nlohmann::json({"fabrikam"}));
    }
    SECTION("two, one of them the events without a tenant") {
        options.tenants = {"contoso", "(none)"};
        const auto doc = nlohmann::json::parse(run(options, ReportFormat::json).out);
        CHECK(doc["events"] == 5);
        CHECK(doc["other_tenants"] == 2);
        CHECK(doc["by_tenant"] == nlohmann::json({{"contoso", 4}, {"(none)", 1}}));
    }
    SECTION("a tenant with no rejections") {
        options.tenants = {"northwind"};
        const auto r = run(options, ReportFormat::text);
        CHECK_THAT(r.out, Catch::Contains("  tenants:   northwind\n"));
        CHECK_THAT(r.out, Catch::Contains("  events:    0\n"));
        CHECK_THAT(r.out, Catch::Contains("1 outside the period, 7 of other tenants"));
    }
}

TEST_CASE("report --since and --until take dates, and --until is not included", "[ctl][report]") {
    ReportOptions options;
    std::optional<std::int64_t> since, until;
    REQUIRE(parse_report_bound("2026-11-23T07:00:00Z", test_now, since));
    REQUIRE(parse_report_bound("2026-11-23T10:00:00+02:00", test_now, until));
    options.since = since;
    options.until = until;
    const auto doc = nlohmann::json::parse(run(options, ReportFormat::json).out);
    CHECK(doc["events"] == 2);          // 07:05 and 07:06; 08:00 is the --until itself
    CHECK(doc["outside_period"] == 7);  // 5 rejections of that day, the harvest, the old one
    CHECK(doc["first_event"] == "2026-11-23T07:05:00Z");
    CHECK(doc["last_event"] == "2026-11-23T07:06:00Z");

    std::optional<std::int64_t> bound = 1;
    CHECK(parse_report_bound("all", test_now, bound));
    CHECK_FALSE(bound);
    CHECK(parse_report_bound("7d", test_now, bound));
    CHECK(bound == test_now - 7 * day);
    CHECK(parse_report_bound("2026-11-22", test_now, bound));
    CHECK(bound == test_now - day - 9 * 3600);
    CHECK_FALSE(parse_report_bound("yesterday", test_now, bound));
    CHECK_FALSE(parse_report_bound("2026-11-22T08:00:00", test_now, bound));  // no offset
}

TEST_CASE("report text shows the new lists and each tenant", "[ctl][report]") {
    const auto r = run(last_day(), ReportFormat::text);
    REQUIRE(r.status == 0);
    CHECK_THAT(r.out,
               Catch::Contains("  period:    2026-11-22T09:00:00Z .. 2026-11-23T09:00:00Z\n"));
    CHECK_THAT(r.out, Catch::Contains("  events:    7 (reject 5, tempfail 1, would_reject 1)\n"));
    CHECK_THAT(r.out, Catch::Contains("Top senders\n       3  alice@sender.example\n"));
    CHECK_THAT(r.out, Catch::Contains("Top sender domains\n       4  sender.example\n"
                                      "       2  evil.example\n       1  <>\n"));
    CHECK_THAT(r.out, Catch::Contains("       2  198.51.100.9      mx2?next line\n"));
    CHECK_THAT(r.out, Catch::Contains("\nTenant contoso: 4 events (reject 4)\n"));
    CHECK_THAT(r.out,
               Catch::Contains("\nTenant fabrikam: 2 events (tempfail 1, would_reject 1)\n"));
    CHECK_THAT(r.out, Catch::Contains("  Top senders\n         3  alice@sender.example\n"));
    CHECK_THAT(r.out, Catch::Contains("Clients that crossed the harvest threshold"));
}

TEST_CASE("report CSV is one RFC 4180 table a spreadsheet cannot be tricked by", "[ctl][report]") {
    const auto r = run(last_day(), ReportFormat::csv);
    REQUIRE(r.status == 0);
    const std::string& csv = r.out;
    CHECK(csv.rfind("section,tenant,key,value,detail\r\n", 0) == 0);
    CHECK(occurrences(csv, "\n") == occurrences(csv, "\r\n"));  // every record ends in CRLF
    const char* const rows[] = {
        "\r\nsummary,,lines,10,\r\n",
        "\r\nsummary,,events,7,\r\n",
        "\r\nsummary,,malformed,1,\r\n",
        "\r\nsummary,,outside_period,1,\r\n",
        "\r\nsummary,,since,2026-11-22T09:00:00Z,\r\n",
        "\r\naction,,reject,5,\r\n",
        "\r\nreason,,unknown_recipient,6,\r\n",
        "\r\ntenant,,contoso,4,\r\n",
        "\r\ntenant,,(none),1,\r\n",
        "\r\nsender,,alice@sender.example,3,\r\n",
        "\r\nsender,,\"\"\"smith, bob\"\"@sender.example\",1,\r\n",
        "\r\nsender,,'+sum(1)@evil.example,1,\r\n",
        "\r\nsender,,<script>alert(1)</script>@evil.example,1,\r\n",
        "\r\nsender_domain,,sender.example,4,\r\n",
        "\r\nclient,,192.0.2.7,3,client_name=mx1.example\r\n",
        "\r\nclient,,198.51.100.9,2,client_name=mx2?next line\r\n",
        "\r\nclient,,'=cmd|' /C calc'!A0,1,\"client_name=\"\"><img src=x>\"\r\n",
        "\r\nhour,,2026-11-23T08:00:00Z,3,\r\n",
        "\r\nharvest,,192.0.2.7,1,client_addr=192.0.2.7 client_name=mx1.example "
        "first=2026-11-23T08:31:00Z last=2026-11-23T08:31:00Z response=450\r\n",
        "\r\nsender,contoso,alice@sender.example,3,\r\n",
        "\r\nclient,fabrikam,'=cmd|' /C calc'!A0,1,\"client_name=\"\"><img src=x>\"\r\n",
        "\r\nsender_domain,(none),evil.example,1,\r\n",
    };
    for (const char* row : rows) {
        INFO(row);
        CHECK(csv.find(row) != std::string::npos);
    }
    CHECK(csv.find("\r\n=") == std::string::npos);
    CHECK(csv.find(",=") == std::string::npos);
}

TEST_CASE("report HTML is one page with the numbers, a chart, and every value escaped",
          "[ctl][report]") {
    const auto r = run(last_day(), ReportFormat::html);
    REQUIRE(r.status == 0);
    const std::string& html = r.out;
    CHECK(html.rfind("<!DOCTYPE html>", 0) == 0);
    CHECK_THAT(html, Catch::Contains("content=\"default-src 'none'; style-src 'unsafe-inline'\""));
    CHECK_THAT(html, Catch::Contains("<td data-key=\"events\">7</td>"));
    CHECK_THAT(html, Catch::Contains("<td data-key=\"malformed\">1</td>"));
    CHECK_THAT(html, Catch::Contains("<td data-key=\"action-would_reject\">1</td>"));
    CHECK(occurrences(html, "<rect class=\"bar\"") == 24);  // one per hour of the last day
    CHECK_THAT(html, Catch::Contains("data-hour=\"2026-11-23T08:00Z\" data-count=\"3\">"
                                     "<title>2026-11-23T08:00Z: 3</title>"));
    CHECK_THAT(html, Catch::Contains("data-hour=\"2026-11-22T09:00Z\" data-count=\"0\">"));
    CHECK_THAT(html, Catch::Contains("<td class=\"n\">3</td><td>alice@sender.example</td>"));
    CHECK_THAT(html, Catch::Contains("<section class=\"tenant\" data-tenant=\"contoso\">"));
    CHECK_THAT(html, Catch::Contains("<h2>Tenant fabrikam: 2 rejections</h2>"));
    CHECK_THAT(html, Catch::Contains("&lt;script&gt;alert(1)&lt;/script&gt;@evil.example"));
    CHECK_THAT(html, Catch::Contains("<td>&quot;&gt;&lt;img src=x&gt;</td>"));
    CHECK_THAT(html, Catch::Contains("=cmd|&#39; /C calc&#39;!A0"));
    CHECK_THAT(html, Catch::Contains("mx2\xEF\xBF\xBDnext line"));
    CHECK_THAT(html, Catch::Contains("<table data-list=\"harvest\">"));
    CHECK(html.find("<script") == std::string::npos);
    CHECK(html.find("<img") == std::string::npos);
    CHECK(html.find("http:") == std::string::npos);
    CHECK(html.find("https:") == std::string::npos);
}

TEST_CASE("report's hour chart never has more than 744 bars", "[ctl][report]") {
    const auto at = [](const char* ts) {
        return line({ts, "reject", "contoso", "a@b.example", "192.0.2.7", "mx1.example",
                     "x@contoso.example", "unknown_recipient"});
    };
    ReportOptions options;  // --since all: the chart spans the events seen
    options.files = {"-"};
    options.format = ReportFormat::html;
    std::ostringstream out, err;
    SECTION("a year: bars of 12 hours") {
        // 2026-01-01T00 .. 2026-12-31T00 is 8737 hours: 12 per bar, 729 bars.
        std::istringstream in(at("2026-01-01T00:10:00Z") + at("2026-12-31T00:20:00Z"));
        REQUIRE(run_report(options, in, test_now, out, err) == 0);
        CHECK(occurrences(out.str(), "<rect class=\"bar\"") == 729);
        CHECK_THAT(out.str(), Catch::Contains("<h2>Rejections per 12 hours (UTC)</h2>"));
        CHECK_THAT(out.str(), Catch::Contains("data-hour=\"2026-12-31T00:00Z\" data-count=\"1\""));
        CHECK_THAT(out.str(), Catch::Contains("data-hour=\"2026-01-01T00:00Z\" data-count=\"1\""));
    }
    SECTION("the widest range a timestamp can give, and the epoch") {
        std::istringstream in(at("1900-01-01T00:00:00Z") + at("1970-01-01T00:00:00Z") +
                              at("2261-12-31T23:59:59Z"));
        REQUIRE(run_report(options, in, test_now, out, err) == 0);
        CHECK(occurrences(out.str(), "<rect class=\"bar\"") <= report::max_chart_bars);
        CHECK_THAT(out.str(), Catch::Contains("<td data-key=\"events\">3</td>"));
        CHECK_THAT(out.str(),
                   Catch::Contains("<td data-key=\"first_event\">1900-01-01T00:00:00Z</td>"));
    }
    SECTION("an event at the epoch is an event like any other") {
        options.format = ReportFormat::json;
        std::istringstream in(at("1970-01-01T00:00:00Z") + at("2026-11-23T08:00:00Z"));
        REQUIRE(run_report(options, in, test_now, out, err) == 0);
        const auto doc = nlohmann::json::parse(out.str());
        CHECK(doc["first_event"] == "1970-01-01T00:00:00Z");
        CHECK(doc["last_event"] == "2026-11-23T08:00:00Z");
    }
}

TEST_CASE("report escapers for CSV and HTML", "[ctl][report]") {
    using report::csv_field;
    using report::html_escape;
    struct Case {
        const char* label;
        const char* in;
        const char* csv;
        const char* html;
    };
    const Case cases[] = {
        {"plain", "a@b.example", "a@b.example", "a@b.example"},
        {"comma", "a,b", "\"a,b\"", "a,b"},
        {"quote", "say \"hi\"", "\"say \"\"hi\"\"\"", "say &quot;hi&quot;"},
        {"formula =", "=1+1", "'=1+1", "=1+1"},
        {"formula +", "+1", "'+1", "+1"},
        {"formula -", "-1", "'-1", "-1"},
        {"formula @", "@SUM(A1)", "'@SUM(A1)", "@SUM(A1)"},
        {"newline", "a\r\nb", "a??b",
         "a\xEF\xBF\xBD\xEF\xBF\xBD"
         "b"},
        {"leading space", " a", "\" a\"", " a"},
        {"markup", "<a href='x'>&</a>", "<a href='x'>&</a>",
         "&lt;a href=&#39;x&#39;&gt;&amp;&lt;/a&gt;"},
        {"UTF-8 kept", "J\xC3\xB6rg", "J\xC3\xB6rg", "J\xC3\xB6rg"},
    };
    for (const auto& c : cases) {
        INFO(c.label);
        CHECK(csv_field(c.in) == c.csv);
        CHECK(html_escape(c.in) == c.html);
    }
    CHECK(html_escape(std::string(400, 'a')) == std::string(320, 'a') + "...");
    CHECK(html_escape("\xC3\xB6\xC3\xB6", 3) == "\xC3\xB6...");  // never half a character
}
