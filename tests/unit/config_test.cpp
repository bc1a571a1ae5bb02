// tests/unit/config_test.cpp - m365gate.toml: sizes, every key, every error message (exact
// text, with file, line and key), the annotated example, and logging. Durations and dates:
// tests/unit/time_test.cpp.
#include "common/config.h"

#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>
#include <stdlib.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "common/log.h"
#include "tests/unit/temp_dir.h"

using namespace m365gate;
using namespace std::chrono_literals;

namespace {

using m365gate::testing::TempDir;

void write_file(const std::filesystem::path& file, const std::string& text) {
    std::ofstream out(file, std::ios::binary | std::ios::trunc);
    out << text;
}

std::string read_file(const std::filesystem::path& file) {
    std::ifstream in(file, std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

// The message parse_config throws, or "<no error>".
std::string config_error(const std::string& text) {
    try {
        parse_config(text, "m365gate.toml");
    } catch (const ConfigError& e) {
        return e.what();
    }
    return "<no error>";
}

const char* const good_tenant =
    "[[tenant]]\n"
    "name = \"contoso\"\n"
    "tenant_id = \"8f0c2a43-5d1e-4b7a-9c36-2e4f1d0b7a95\"\n"
    "client_id = \"3b9d6e1f-0a42-4c8e-b5d7-61f2a9c4e803\"\n"
    "client_secret_file = \"/etc/m365gate/secrets/contoso.secret\"\n";

std::filesystem::path example_config() {
    const char* source = std::getenv("M365GATE_SOURCE_DIR");
    REQUIRE(source != nullptr);
    return std::filesystem::path(source) / "conf" / "m365gate.toml";
}

}  // namespace

TEST_CASE("parse_size reads bytes and binary suffixes", "[config]") {
    struct Case {
        const char* label;
        const char* text;
        std::uint64_t want;  // 0: refused
    };
    const Case cases[] = {
        {"bytes", "65536", 65536},
        {"kibibytes", "64K", 64ull << 10},
        {"mebibytes", "512M", 512ull << 20},
        {"gibibytes", "4G", 4ull << 30},
        {"tebibytes", "1T", 1ull << 40},
        {"lower-case suffix", "4g", 4ull << 30},
        {"suffix alone", "G", 0},
        {"empty", "", 0},
        {"unknown suffix", "4X", 0},
        {"two-letter suffix", "4GB", 0},
        {"negative", "-1", 0},
        {"space", "4 G", 0},
        {"overflow with suffix", "17179869184G", 0},
        {"overflow in digits", "99999999999999999999", 0},
    };
    for (const auto& c : cases) {
        INFO(c.label << ": " << c.text);
        const auto got = parse_size(c.text);
        if (c.want == 0) {
            CHECK_FALSE(got);
        } else {
            REQUIRE(got);
            CHECK(*got == c.want);
        }
    }
}

TEST_CASE("an empty config is the defaults of config.h", "[config]") {
    const Config cfg = parse_config("", "empty.toml");
    const Config defaults;
    CHECK(cfg.file == "empty.toml");
    CHECK(cfg.store.path == defaults.store.path);
    CHECK(cfg.store.max_size == 4ull << 30);
    CHECK(cfg.log.target == LogTarget::syslog);
    CHECK(cfg.milter.socket == "unix:/var/spool/postfix/m365gate/milter.sock");
    CHECK(cfg.milter.socket_mode == 0660);
    CHECK(cfg.decision.always_accept == std::vector<std::string>{"postmaster", "abuse"});
    CHECK(cfg.decision.stale_after == std::chrono::hours(24));
    CHECK(cfg.sync.interval == std::chrono::minutes(5));
    CHECK(cfg.alerts.secret_days == std::vector<int>{30, 14, 7, 1});
    CHECK(cfg.tenants.empty());
    CHECK(cfg.find_tenant("contoso") == nullptr);
}

TEST_CASE("every key lands in its member, normalised", "[config]") {
    const std::string text = R"(
[store]
path = "/srv/m365gate"
max_size = 1073741824

[log]
target = "file"
file = "/var/log/m365gate/m365gate.log"
level = "debug"
rejections = "/var/log/m365gate/rejections.jsonl"

[milter]
socket = "inet:10025@127.0.0.1"
socket_mode = "0600"
socket_group = "mail"
user = "milter"
group = "milter"
pid_file = "/run/milter.pid"
timeout = "2m"
mode = "report"
always_accept = ["PostMaster", "hostmaster"]
subaddress_delimiters = "+-"
on_cache_unavailable = "accept"
on_stale = "tempfail"
reject_code = 554
reject_status = "5.7.1"
reject_text = "no such user here"
tempfail_code = "450"
tempfail_status = "4.7.1"
tempfail_text = "try later"

[sync]
interval = "1m"
full_every = "1w"
stale_after = "2d"
max_shrink = 1
ca_file = "/etc/ssl/proxy.pem"
request_timeout = "30s"
connect_timeout = "5s"
max_retries = 0
max_backoff = "1h"
user = "sync"
pid_file = "/run/sync.pid"

[alerts]
mail_to = ["a@example.net", "b@example.net"]
mail_from = "gw@example.net"
sendmail = "/usr/lib/sendmail"
webhook = "https://hooks.example.net/m365gate"
language = "ja"
timezone = "UTC"
secret_days = [7, 30, 7, 1]
sync_failure_after = "3h"

[[tenant]]
name = "contoso"
tenant_id = "Contoso.onmicrosoft.com"
client_id = "3B9D6E1F-0A42-4C8E-B5D7-61F2A9C4E803"
client_secret_file = "/etc/m365gate/secrets/contoso.secret"
client_secret_expires = 2027-01-31T21:00:00+09:00
domains = ["Contoso.COM.", "contoso.co.jp"]
include_upn = true
login_endpoint = "https://login.microsoftonline.us/"
graph_endpoint = "https://127.0.0.1:8443//"
alert_mail_to = ["ops@contoso.com"]
extra_recipients = ["All-Staff@Contoso.com"]
extra_recipients_file = "/etc/m365gate/contoso.extra"

[[tenant]]
name = "fabrikam"
tenant_id = "c4a1e7d2-9b3f-4e60-8d15-7f2b0a6c9e41"
client_id = "c4a1e7d2-9b3f-4e60-8d15-7f2b0a6c9e42"
client_secret_file = "fabrikam.secret"
client_secret_expires = 2027-02-01
)";
    const Config cfg = parse_config(text, "all.toml");
    CHECK(cfg.store.path == "/srv/m365gate");
    CHECK(cfg.store.max_size == 1ull << 30);
    CHECK(cfg.log.target == LogTarget::file);
    CHECK(cfg.log.file == "/var/log/m365gate/m365gate.log");
    CHECK(cfg.log.level == "debug");
    CHECK(cfg.log.rejections == "/var/log/m365gate/rejections.jsonl");
    CHECK(cfg.milter.socket == "inet:10025@127.0.0.1");
    CHECK(cfg.milter.socket_mode == 0600);
    CHECK(cfg.milter.socket_group == "mail");
    CHECK(cfg.milter.user == "milter");
    CHECK(cfg.milter.group == "milter");
    CHECK(cfg.milter.pid_file == "/run/milter.pid");
    CHECK(cfg.milter.timeout == 120s);
    CHECK(cfg.decision.mode == MilterMode::report);
    CHECK(cfg.decision.always_accept == std::vector<std::string>{"postmaster", "hostmaster"});
    CHECK(cfg.decision.subaddress_delimiters == "+-");
    CHECK(cfg.decision.on_cache_unavailable == Verdict::accept);
    CHECK(cfg.decision.on_stale == Verdict::tempfail);
    CHECK(cfg.decision.reject.code == "554");
    CHECK(cfg.decision.reject.status == "5.7.1");
    CHECK(cfg.decision.reject.text == "no such user here");
    CHECK(cfg.decision.tempfail.code == "450");
    CHECK(cfg.decision.tempfail.status == "4.7.1");
    CHECK(cfg.decision.tempfail.text == "try later");
    CHECK(cfg.decision.stale_after == std::chrono::hours(48));
    CHECK(cfg.sync.interval == 60s);
    CHECK(cfg.sync.full_every == std::chrono::hours(24 * 7));
    CHECK(cfg.sync.stale_after == std::chrono::hours(48));
    CHECK(cfg.sync.max_shrink == 1.0);
    CHECK(cfg.sync.ca_file == "/etc/ssl/proxy.pem");
    CHECK(cfg.sync.request_timeout == 30s);
    CHECK(cfg.sync.connect_timeout == 5s);
    CHECK(cfg.sync.max_retries == 0);
    CHECK(cfg.sync.max_backoff == std::chrono::hours(1));
    CHECK(cfg.sync.user == "sync");
    CHECK(cfg.sync.pid_file == "/run/sync.pid");
    CHECK(cfg.alerts.mail_to == std::vector<std::string>{"a@example.net", "b@example.net"});
    CHECK(cfg.alerts.mail_from == "gw@example.net");
    CHECK(cfg.alerts.sendmail == "/usr/lib/sendmail");
    CHECK(cfg.alerts.webhook == "https://hooks.example.net/m365gate");
    // A workflow URL with its signature in the query is a webhook like any other.
    const auto q = parse_config(
        "[alerts]\nwebhook = \"https://prod.example.net/workflows/1/run?api-version=1&sig=abc\"\n",
        "q.toml");
    CHECK(q.alerts.webhook == "https://prod.example.net/workflows/1/run?api-version=1&sig=abc");
    CHECK(cfg.alerts.language == "ja");
    CHECK(cfg.alerts.timezone == "UTC");
    CHECK(cfg.alerts.secret_days == std::vector<int>{30, 7, 1});
    CHECK(cfg.alerts.sync_failure_after == std::chrono::hours(3));

    REQUIRE(cfg.tenants.size() == 2);
    const TenantConfig& t = cfg.tenants[0];
    CHECK(t.name == "contoso");
    CHECK(t.line == 55);
    CHECK(t.tenant_id == "Contoso.onmicrosoft.com");
    CHECK(t.client_id == "3B9D6E1F-0A42-4C8E-B5D7-61F2A9C4E803");
    CHECK(t.client_secret_file == "/etc/m365gate/secrets/contoso.secret");
    REQUIRE(t.client_secret_expires);
    CHECK(format_datetime_utc(*t.client_secret_expires) == "2027-01-31T12:00:00Z");
    CHECK(t.domains == std::vector<std::string>{"contoso.com", "contoso.co.jp"});
    CHECK(t.include_upn);
    CHECK(t.login_endpoint == "https://login.microsoftonline.us");
    CHECK(t.graph_endpoint == "https://127.0.0.1:8443");
    CHECK(t.alert_mail_to == std::vector<std::string>{"ops@contoso.com"});
    CHECK(t.extra_recipients == std::vector<std::string>{"all-staff@contoso.com"});
    CHECK(t.extra_recipients_file == "/etc/m365gate/contoso.extra");

    const TenantConfig* f = cfg.find_tenant("fabrikam");
    REQUIRE(f != nullptr);
    CHECK(f->line == 69);
    CHECK(f->domains.empty());
    CHECK_FALSE(f->include_upn);
    CHECK(f->login_endpoint == "https://login.microsoftonline.com");
    CHECK(f->graph_endpoint == "https://graph.microsoft.com");
    REQUIRE(f->client_secret_expires);
    CHECK(format_datetime_utc(*f->client_secret_expires) == "2027-02-01T00:00:00Z");
}

TEST_CASE("a date string and an array of secret days are read too", "[config]") {
    const Config cfg = parse_config(std::string(good_tenant) +
                                        "client_secret_expires = \"2027-01-31T21:00:00+09:00\"\n"
                                        "[alerts]\nsecret_days = []\n",
                                    "m365gate.toml");
    REQUIRE(cfg.tenants.at(0).client_secret_expires);
    CHECK(format_datetime_utc(*cfg.tenants[0].client_secret_expires) == "2027-01-31T12:00:00Z");
    CHECK(cfg.alerts.secret_days.empty());
    CHECK(parse_config("[milter]\nsubaddress_delimiters = \"\"\n", "m365gate.toml")
              .decision.subaddress_delimiters.empty());
}

TEST_CASE("the sync round bounds: defaults, derived values, limits", "[config]") {
    const Config defaults = parse_config("", "empty.toml");
    CHECK(defaults.sync.max_objects == 20'000'000);
    CHECK(defaults.sync.max_pages == 0);
    CHECK(effective_max_pages(defaults.sync) == 201'000);  // 100 objects a page + 1000
    CHECK(defaults.sync.round_budget == std::chrono::hours(8));
    CHECK(defaults.sync.max_spill_size == 0);
    CHECK(effective_max_spill_size(defaults.sync, defaults.store) == 4ull << 30);

    const Config set = parse_config(
        "[store]\nmax_size = \"1G\"\n[sync]\nmax_objects = 5000\nmax_pages = 7\n"
        "round_budget = \"90s\"\nmax_spill_size = \"2M\"\n",
        "m365gate.toml");
    CHECK(set.sync.max_objects == 5000);
    CHECK(effective_max_pages(set.sync) == 7);
    CHECK(set.sync.round_budget == std::chrono::seconds(90));
    CHECK(effective_max_spill_size(set.sync, set.store) == 2u << 20);

    const std::string f = "m365gate.toml:";
    const std::pair<std::string, std::string> errors[] = {
        {"[sync]\nmax_objects = 0\n",
         f + "2: [sync] max_objects: must be from 1 to 1000000000, got 0"},
        {"[sync]\nmax_pages = -1\n",
         f + "2: [sync] max_pages: must be from 0 to 1000000000, got -1"},
        {"[sync]\nmax_objects = \"many\"\n", "[sync] max_objects: expected an integer"},
        {"[sync]\nround_budget = \"0s\"\n",
         f + "2: [sync] round_budget: must be greater than zero"},
        {"[sync]\nmax_spill_size = \"64K\"\n",
         f + "2: [sync] max_spill_size: must be 0 (the store's max_size) or at least 1M"},
        {"[sync]\nmax_spill_size = \"lots\"\n", f + "2: [sync] max_spill_size: bad size"},
    };
    for (const auto& [text, want] : errors) {
        INFO(text);
        try {
            (void)parse_config(text, "m365gate.toml");
            FAIL("no ConfigError");
        } catch (const ConfigError& e) {
            CHECK_THAT(e.what(), Catch::Contains(want));
        }
    }
}

TEST_CASE("U-label domains are kept as A-labels, the store's form", "[config]") {
    const Config cfg = parse_config(std::string(good_tenant) +
                                        "domains = [\"B\u00FCcher.Example.\", \"contoso.com\"]\n"
                                        "extra_recipients = [\"Info@B\u00DCCHER.example\", "
                                        "\"Sales@xn--bcher-kva.example\"]\n",
                                    "m365gate.toml");
    const TenantConfig& t = cfg.tenants.at(0);
    CHECK(t.domains == std::vector<std::string>{"xn--bcher-kva.example", "contoso.com"});
    CHECK(t.extra_recipients ==
          std::vector<std::string>{"info@xn--bcher-kva.example", "sales@xn--bcher-kva.example"});
}

TEST_CASE("every config error names file, line and key", "[config]") {
    struct Case {
        const char* label;
        std::string text;
        std::string want;
    };
    const std::string t = good_tenant;      // lines 1-5
    const std::string certificate_tenant =  // lines 1-5
        "[[tenant]]\nname = \"c\"\ntenant_id = \"c.example\"\n"
        "client_id = \"3b9d6e1f-0a42-4c8e-b5d7-61f2a9c4e803\"\n"
        "client_certificate_file = \"/etc/m365gate/secrets/c.pem\"\n";
    const std::string second_tenant =
        "\n[[tenant]]\n"                                          // 7
        "name = \"fabrikam\"\n"                                   // 8
        "tenant_id = \"fabrikam.onmicrosoft.com\"\n"              // 9
        "client_id = \"c4a1e7d2-9b3f-4e60-8d15-7f2b0a6c9e41\"\n"  // 10
        "client_secret_file = \"/y\"\n";                          // 11
    const std::string f = "m365gate.toml:";
    const Case cases[] = {
        // Structure
        {"unknown key with a near miss", "[milter]\non_stal = \"reject\"\n",
         f + "2: [milter] on_stal: unknown key (did you mean on_stale?)"},
        {"unknown key", "[sync]\n\nfrobnicate = 1\n", f + "3: [sync] frobnicate: unknown key"},
        {"first unknown key in file order", "[sync]\nzzz = 1\naaa = 2\n",
         f + "2: [sync] zzz: unknown key"},
        {"unknown quoted key", "[store]\n\"max size\" = 1\n",
         f + "2: [store] \"max size\": unknown key (did you mean max_size?)"},
        {"unknown section", "[stor]\npath = \"/x\"\n", f + "1: [stor]: unknown section"},
        {"unknown sub-table", "[milter.extra]\nx = 1\n", f + "1: [milter] extra: unknown key"},
        {"key outside any section", "path = \"/x\"\n",
         f + "1: path: unknown key outside any section (sections: [store], [log], [milter], "
             "[sync], [alerts], [metrics], [postfix], [[tenant]])"},
        {"section that is a value", "store = 5\n", f + "1: [store]: expected a table, got integer"},
        {"section as an array of tables", "[[sync]]\n",
         f + "1: [sync]: expected a table, got array"},
        {"tenant as a plain table", "[tenant]\nname = \"a\"\n",
         f + "1: [[tenant]]: expected an array of tables ([[tenant]] headers), got table"},
        {"unknown key in a tenant", t + "domain = [\"contoso.com\"]\n",
         f + "6: [[tenant]] #1 domain: unknown key (did you mean domains?)"},
        // Types
        {"integer wanted", "[sync]\nmax_retries = \"6\"\n",
         f + "2: [sync] max_retries: expected an integer, got string"},
        {"string wanted", "[milter]\nuser = 5\n",
         f + "2: [milter] user: expected a string, got integer"},
        {"boolean wanted", t + "include_upn = \"yes\"\n",
         f + "6: [[tenant]] #1 include_upn: expected a boolean (true or false), got string"},
        {"array wanted", "[alerts]\nmail_to = \"a@example.net\"\n",
         f + "2: [alerts] mail_to: expected an array of strings, got string"},
        {"array element type", "[milter]\nalways_accept = [\"postmaster\",\n  7]\n",
         f + "3: [milter] always_accept: item 2: expected a string, got integer"},
        {"duration as a number", "[sync]\ninterval = 300\n",
         f + "2: [sync] interval: expected a duration string such as \"15m\", got integer"},
        {"float wanted", "[sync]\nmax_shrink = \"0.25\"\n",
         f + "2: [sync] max_shrink: expected a number from 0 to 1, got string"},
        // Durations and sizes
        {"bad duration", "[sync]\ninterval = \"5 minutes\"\n",
         f + "2: [sync] interval: bad duration \"5 minutes\" (use e.g. \"30s\", \"15m\", \"6h\", "
             "\"2d\")"},
        {"negative duration", "[sync]\nrequest_timeout = \"-5m\"\n",
         f + "2: [sync] request_timeout: bad duration \"-5m\" (use e.g. \"30s\", \"15m\", \"6h\", "
             "\"2d\")"},
        {"zero duration", "[milter]\ntimeout = \"0s\"\n",
         f + "2: [milter] timeout: must be greater than zero, got \"0s\""},
        {"huge duration", "[alerts]\nsync_failure_after = \"400d\"\n",
         f + "2: [alerts] sync_failure_after: must be at most 365d, got \"400d\""},
        {"bad size", "[store]\nmax_size = \"4X\"\n",
         f + "2: [store] max_size: bad size \"4X\" (use e.g. \"512M\", \"4G\" or a number of "
             "bytes)"},
        {"tiny size", "[store]\nmax_size = \"512K\"\n",
         f + "2: [store] max_size: must be at least 1M"},
        {"negative size", "[store]\nmax_size = -1\n",
         f + "2: [store] max_size: must not be negative"},
        {"size of the wrong type", "[store]\nmax_size = 1.5\n",
         f + "2: [store] max_size: expected a size such as \"4G\" or an integer, got float"},
        {"empty store path", "[store]\npath = \"\"\n", f + "2: [store] path: must not be empty"},
        {"control character in a path", "[sync]\nca_file = \"/etc/a\\nb\"\n",
         f + "2: [sync] ca_file: must not contain control characters"},
        // [log]
        {"unknown log target", "[log]\ntarget = \"journal\"\n",
         f + "2: [log] target: must be one of \"syslog\", \"stderr\", \"file\"; got \"journal\""},
        {"log file missing", "[log]\ntarget = \"file\"\n",
         f + "2: [log] target: target = \"file\" needs [log] file"},
        {"unknown log level", "[log]\nlevel = \"warning\"\n",
         f + "2: [log] level: must be one of \"trace\", \"debug\", \"info\", \"warn\", \"error\"; "
             "got \"warning\""},
        // [milter]
        {"socket without a scheme", "[milter]\nsocket = \"/run/milter.sock\"\n",
         f + "2: [milter] socket: must start with unix:, local:, inet: or inet6:, got "
             "\"/run/milter.sock\""},
        {"socket scheme alone", "[milter]\nsocket = \"inet:\"\n",
         f + "2: [milter] socket: must start with unix:, local:, inet: or inet6:, got \"inet:\""},
        {"socket mode not octal", "[milter]\nsocket_mode = \"0999\"\n",
         f + "2: [milter] socket_mode: must be octal permission bits such as \"0660\", got "
             "\"0999\""},
        {"socket mode as a number", "[milter]\nsocket_mode = 660\n",
         f + "2: [milter] socket_mode: expected a string of octal digits such as \"0660\", got "
             "integer"},
        {"milter as root", "[milter]\nuser = \"root\"\n",
         f + "2: [milter] user: must not be root: the milter faces the Internet"},
        {"milter user empty", "[milter]\nuser = \"\"\n", f + "2: [milter] user: must not be empty"},
        {"unknown mode", "[milter]\nmode = \"monitor\"\n",
         f + "2: [milter] mode: must be one of \"enforce\", \"report\"; got \"monitor\""},
        {"address in always_accept", "[milter]\nalways_accept = [\"postmaster@example.com\"]\n",
         f + "2: [milter] always_accept: item 1: must be a local part such as \"postmaster\", got "
             "\"postmaster@example.com\""},
        {"letter as delimiter", "[milter]\nsubaddress_delimiters = \"+a\"\n",
         f + "2: [milter] subaddress_delimiters: must be ASCII punctuation other than '@' (e.g. "
             "\"+\" or \"+-\"), got \"+a\""},
        {"unknown verdict", "[milter]\non_stale = \"bounce\"\n",
         f + "2: [milter] on_stale: must be one of \"accept\", \"reject\", \"tempfail\"; got "
             "\"bounce\""},
        {"reject with a 4xx code", "[milter]\nreject_code = \"450\"\n",
         f + "2: [milter] reject_code: must be three digits starting with 5 for a reject, got "
             "\"450\""},
        {"reject code of four digits", "[milter]\nreject_code = 5500\n",
         f + "2: [milter] reject_code: must be three digits starting with 5 for a reject, got "
             "\"5500\""},
        {"reject with a 4.x.x status", "[milter]\nreject_status = \"4.1.1\"\n",
         f + "2: [milter] reject_status: must start with \"5.\" for a reject, got \"4.1.1\""},
        {"status with two parts", "[milter]\nreject_status = \"5.1\"\n",
         f + "2: [milter] reject_status: must be an enhanced status code such as \"5.1.1\", got "
             "\"5.1\""},
        {"status part too long", "[milter]\nreject_status = \"5.1234.1\"\n",
         f + "2: [milter] reject_status: must be an enhanced status code such as \"5.1.1\", got "
             "\"5.1234.1\""},
        {"tempfail with a 5xx code", "[milter]\ntempfail_code = \"550\"\n",
         f + "2: [milter] tempfail_code: must be three digits starting with 4 for a tempfail, got "
             "\"550\""},
        {"tempfail with a 5.x.x status", "[milter]\ntempfail_status = \"5.3.0\"\n",
         f + "2: [milter] tempfail_status: must start with \"4.\" for a tempfail, got \"5.3.0\""},
        {"reply text with CRLF", "[milter]\nreject_text = \"user unknown\\r\\n250 ok\"\n",
         f + "2: [milter] reject_text: must be printable ASCII on one line (no CR, LF or "
             "controls)"},
        {"reply text not ASCII", "[milter]\ntempfail_text = \"caf\xC3\xA9\"\n",
         f + "2: [milter] tempfail_text: must be printable ASCII on one line (no CR, LF or "
             "controls)"},
        {"reply text too long", "[milter]\nreject_text = \"" + std::string(401, 'x') + "\"\n",
         f + "2: [milter] reject_text: longer than 400 bytes"},
        {"reply text empty", "[milter]\nreject_text = \"\"\n",
         f + "2: [milter] reject_text: must not be empty"},
        // [sync]
        {"shrink above one", "[sync]\nmax_shrink = 1.5\n",
         f + "2: [sync] max_shrink: must be a fraction from 0 to 1 (0.25 = a quarter)"},
        {"shrink as integer two", "[sync]\nmax_shrink = 2\n",
         f + "2: [sync] max_shrink: must be a fraction from 0 to 1 (0.25 = a quarter)"},
        {"shrink not a number", "[sync]\nmax_shrink = nan\n",
         f + "2: [sync] max_shrink: must be a fraction from 0 to 1 (0.25 = a quarter)"},
        {"too many retries", "[sync]\nmax_retries = 21\n",
         f + "2: [sync] max_retries: must be from 0 to 20, got 21"},
        {"negative retries", "[sync]\nmax_retries = -1\n",
         f + "2: [sync] max_retries: must be from 0 to 20, got -1"},
        {"sync as root", "[sync]\nuser = \"root\"\n",
         f + "2: [sync] user: must not be root: the sync worker never runs as root"},
        // [alerts]
        {"webhook over http", "[alerts]\nwebhook = \"http://hooks.example.net/x\"\n",
         f + "2: [alerts] webhook: must be an https:// URL, got \"http://hooks.example.net/x\" (or "
             "\"\" for none)"},
        {"webhook with user info", "[alerts]\nwebhook = \"https://u:p@hooks.example.net/x\"\n",
         f + "2: [alerts] webhook: must be a plain https:// URL (no spaces, user info, or "
             "fragment), got \"https://u:p@hooks.example.net/x\" (or \"\" for none)"},
        {"unknown language", "[alerts]\nlanguage = \"de\"\n",
         f + "2: [alerts] language: must be one of \"en\", \"ja\", \"en+ja\"; got \"de\""},
        {"unknown time zone", "[alerts]\ntimezone = \"Mars/Olympus_Mons\"\n",
         f + "2: [alerts] timezone: unknown time zone \"Mars/Olympus_Mons\" (an IANA name from "
             "/usr/share/zoneinfo, e.g. \"Asia/Tokyo\", or \"UTC\")"},
        {"time zone escaping zoneinfo", "[alerts]\ntimezone = \"../../../etc/passwd\"\n",
         f + "2: [alerts] timezone: unknown time zone \"../../../etc/passwd\" (an IANA name from "
             "/usr/share/zoneinfo, e.g. \"Asia/Tokyo\", or \"UTC\")"},
        {"secret day zero", "[alerts]\nsecret_days = [30, 0]\n",
         f + "2: [alerts] secret_days: item 2: must be from 1 to 365, got 0"},
        {"secret day as string", "[alerts]\nsecret_days = [\"30\"]\n",
         f + "2: [alerts] secret_days: item 1: expected an integer, got string"},
        {"alert address without @", "[alerts]\nmail_to = [\"admins\"]\n",
         f + "2: [alerts] mail_to: item 1: not a plain address (local@domain) \"admins\""},
        {"alert address with a header break", "[alerts]\nmail_to = [\"a@b.example\\nBcc: x@y\"]\n",
         f + "2: [alerts] mail_to: item 1: not a plain address (local@domain) "
             "\"a@b.example?Bcc: x@y\""},
        {"sender without @", "[alerts]\nmail_from = \"m365gate\"\n",
         f + "2: [alerts] mail_from: not a plain address (local@domain) \"m365gate\""},
        // [[tenant]]
        {"missing client_id",
         t + "\n[[tenant]]\nname = \"fabrikam\"\ntenant_id = \"fabrikam.onmicrosoft.com\"\n"
             "client_secret_file = \"/y\"\n",
         f + "7: [[tenant]] #2: missing required key client_id"},
        {"missing name", "[[tenant]]\ntenant_id = \"x.example\"\n",
         f + "1: [[tenant]] #1: missing required key name"},
        {"duplicate name", t + "\n[[tenant]]\nname = \"contoso\"\n",
         f + "7: [[tenant]] name \"contoso\": duplicate (first defined at line 1)"},
        {"domain of two tenants",
         t + "domains = [\"contoso.com\"]\n" + second_tenant + "domains = [\"fabrikam.com\",\n" +
             "  \"Contoso.com.\"]\n",
         f + "14: [[tenant]] #2 domains: \"contoso.com\" is already listed by tenant \"contoso\" "
             "(line 1)"},
        {"domain twice in one tenant", t + "domains = [\"contoso.com\", \"CONTOSO.com\"]\n",
         f + "6: [[tenant]] #1 domains: \"contoso.com\" is listed twice in this tenant"},
        {"domain that is not one", t + "domains = [\"contoso\"]\n",
         f + "6: [[tenant]] #1 domains: item 1: not a domain name \"contoso\""},
        {"U-label and its A-label in two tenants",
         t + "domains = [\"xn--bcher-kva.example\"]\n" + second_tenant +
             "domains = [\"b\u00FCcher.example\"]\n",
         f + "13: [[tenant]] #2 domains: \"xn--bcher-kva.example\" is already listed by tenant "
             "\"contoso\" (line 1)"},
        {"invalid U-label domain", t + "domains = [\"\u2603.example\"]\n",
         f + "6: [[tenant]] #1 domains: item 1: not a valid internationalised domain name "
             "(IDNA2008) \"???.example\""},
        {"invalid U-label in an extra recipient",
         t + "extra_recipients = [\"info@\u2603.example\"]\n",
         f + "6: [[tenant]] #1 extra_recipients: item 1: not a valid internationalised domain "
             "name (IDNA2008) in \"info@???.example\""},
        {"upper-case tenant name",
         "[[tenant]]\nname = \"Contoso\"\ntenant_id = \"x.example\"\n"
         "client_id = \"x\"\nclient_secret_file = \"/x\"\n",
         f + "2: [[tenant]] #1 name: must be 1 to 64 of a-z 0-9 . _ - (it names the tenant in the "
             "store and the logs), got \"Contoso\""},
        {"tenant id neither GUID nor domain",
         "[[tenant]]\nname = \"c\"\ntenant_id = \"contoso tenant\"\nclient_id = \"x\"\n"
         "client_secret_file = \"/x\"\n",
         f + "3: [[tenant]] #1 tenant_id: must be the directory (tenant) ID, a GUID, or a domain "
             "such as \"contoso.onmicrosoft.com\", got \"contoso tenant\""},
        {"client id not a GUID",
         "[[tenant]]\nname = \"c\"\ntenant_id = \"c.example\"\nclient_id = \"3b9d6e1f\"\n"
         "client_secret_file = \"/x\"\n",
         f + "4: [[tenant]] #1 client_id: must be the application (client) ID, a GUID, got "
             "\"3b9d6e1f\""},
        {"empty secret file",
         "[[tenant]]\nname = \"c\"\ntenant_id = \"c.example\"\n"
         "client_id = \"3b9d6e1f-0a42-4c8e-b5d7-61f2a9c4e803\"\n"
         "client_secret_file = \"\"\n",
         f + "5: [[tenant]] #1 client_secret_file: must not be empty"},
        {"bad expiry string", t + "client_secret_expires = \"next year\"\n",
         f + "6: [[tenant]] #1 client_secret_expires: bad date \"next year\" (use e.g. 2027-01-31, "
             "2027-01-31T12:00:00Z or 2027-01-31T21:00:00+09:00)"},
        {"expiry without offset", t + "client_secret_expires = 2027-01-31T12:00:00\n",
         f + "6: [[tenant]] #1 client_secret_expires: date-time needs a time zone offset (e.g. "
             "2027-01-31T00:00:00Z or +09:00)"},
        {"expiry as a number", t + "client_secret_expires = 2027\n",
         f + "6: [[tenant]] #1 client_secret_expires: expected a date or date-time, got integer"},
        {"login endpoint over http", t + "login_endpoint = \"http://login.example\"\n",
         f + "6: [[tenant]] #1 login_endpoint: must be an https:// URL, got "
             "\"http://login.example\""},
        {"graph endpoint with user info", t + "graph_endpoint = \"https://evil@graph.example\"\n",
         f + "6: [[tenant]] #1 graph_endpoint: must be a plain https:// URL (no spaces, user info, "
             "query or fragment), got \"https://evil@graph.example\""},
        {"extra recipient without @", t + "extra_recipients = [\"all-staff\"]\n",
         f + "6: [[tenant]] #1 extra_recipients: item 1: not a plain address (local@domain) "
             "\"all-staff\""},
        {"alert_mail_to of the wrong type", t + "alert_mail_to = [1]\n",
         f + "6: [[tenant]] #1 alert_mail_to: item 1: expected a string, got integer"},
        {"a tenant's mode misspelt", t + "mode = \"reports\"\n",
         f + "6: [[tenant]] #1 mode: must be one of \"enforce\", \"report\"; got \"reports\""},
        {"enabled as a string", t + "enabled = \"no\"\n",
         f + "6: [[tenant]] #1 enabled: expected a boolean (true or false), got string"},
        // certificate credentials
        {"secret and certificate both", t + "client_certificate_file = \"/c.pem\"\n",
         f + "1: [[tenant]] #1: client_secret_file and client_certificate_file are both set: a "
             "tenant signs in with one credential, remove the other"},
        {"neither secret nor certificate",
         "[[tenant]]\nname = \"c\"\ntenant_id = \"c.example\"\n"
         "client_id = \"3b9d6e1f-0a42-4c8e-b5d7-61f2a9c4e803\"\n",
         f + "1: [[tenant]] #1: missing required key client_secret_file (or "
             "client_certificate_file)"},
        {"assertion_alg unknown", certificate_tenant + "assertion_alg = \"ES256\"\n",
         f + "6: [[tenant]] #1 assertion_alg: must be \"PS256\" or \"RS256\", got \"ES256\""},
        {"assertion_alg with a secret", t + "assertion_alg = \"RS256\"\n",
         f + "6: [[tenant]] #1 assertion_alg: applies only with client_certificate_file"},
        {"secret expiry with a certificate",
         certificate_tenant + "client_secret_expires = 2027-01-31\n",
         f + "6: [[tenant]] #1 client_secret_expires: does not apply with "
             "client_certificate_file (the certificate's notAfter is its expiry)"},
        {"empty certificate file",
         "[[tenant]]\nname = \"c\"\ntenant_id = \"c.example\"\n"
         "client_id = \"3b9d6e1f-0a42-4c8e-b5d7-61f2a9c4e803\"\nclient_certificate_file = \"\"\n",
         f + "5: [[tenant]] #1 client_certificate_file: must not be empty"},
        // [milter.harvest]
        {"harvest as a value", "[milter]\nharvest = 20\n",
         f + "2: [milter] harvest: expected a table ([milter.harvest]), got integer"},
        {"harvest key misspelt", "[milter.harvest]\nthreshhold = 20\n",
         f + "2: [milter.harvest] threshhold: unknown key (did you mean threshold?)"},
        {"harvest threshold negative", "[milter.harvest]\nthreshold = -1\n",
         f + "2: [milter.harvest] threshold: must be from 0 to 1000000, got -1"},
        {"harvest action as a number", "[milter.harvest]\naction = 450\n",
         f + "2: [milter.harvest] action: expected a string, got integer"},
        {"harvest action unknown", "[milter.harvest]\naction = \"550\"\n",
         f + "2: [milter.harvest] action: must be one of \"report\", \"450\", \"421\"; got "
             "\"550\""},
        {"harvest window too long", "[milter.harvest]\nwindow = \"2d\"\n",
         f + "2: [milter.harvest] window: must be at most 1d"},
        {"harvest block too long", "[milter.harvest]\nblock_for = \"8d\"\n",
         f + "2: [milter.harvest] block_for: must be at most 7d"},
        {"harvest max_clients too small", "[milter.harvest]\nmax_clients = 10\n",
         f + "2: [milter.harvest] max_clients: must be from 1000 to 1000000, got 10"},
    };
    for (const auto& c : cases) {
        INFO(c.label);
        CHECK(config_error(c.text) == c.want);
    }
}

TEST_CASE("alert keys: repeat, host_label, portal_url, languages, a tenant's language",
          "[config]") {
    const Config defaults = parse_config(good_tenant, "d.toml");
    CHECK(defaults.alerts.repeat == std::chrono::hours(24));
    CHECK(defaults.alerts.host_label.empty());
    CHECK(defaults.alerts.portal_url.empty());
    CHECK(defaults.tenants[0].language.empty());

    const Config cfg = parse_config(std::string("[alerts]\nlanguage = \"en+ja\"\nrepeat = \"12h\"\n"
                                                "host_label = \"mx1.example.net (Tokyo)\"\n"
                                                "portal_url = \"https://portal.azure.us/\"\n") +
                                        good_tenant + "language = \"ja\"\n",
                                    "a.toml");
    CHECK(cfg.alerts.language == "en+ja");
    CHECK(cfg.alerts.repeat == std::chrono::hours(12));
    CHECK(cfg.alerts.host_label == "mx1.example.net (Tokyo)");
    CHECK(cfg.alerts.portal_url == "https://portal.azure.us");
    CHECK(cfg.tenants[0].language == "ja");

    struct Case {
        const char* label;
        std::string text;
        const char* error;
    };
    const Case cases[] = {
        {"repeat below an hour", "[alerts]\nrepeat = \"30m\"\n", "repeat: must be at least 1h"},
        {"unknown language", "[alerts]\nlanguage = \"de\"\n", "\"en+ja\""},
        {"portal not https", "[alerts]\nportal_url = \"http://portal.example\"\n",
         "must be an https:// URL"},
        {"portal with a fragment", "[alerts]\nportal_url = \"https://p.example/#x\"\n", "fragment"},
        {"tenant language", std::string(good_tenant) + "language = \"fr\"\n", "language"},
    };
    for (const auto& c : cases) {
        INFO(c.label);
        try {
            parse_config(c.text, "bad.toml");
            FAIL("accepted");
        } catch (const ConfigError& e) {
            CHECK_THAT(e.what(), Catch::Matchers::Contains(c.error));
        }
    }
}

TEST_CASE("a tenant's mode and enabled: absent means [milter]'s mode and enabled", "[config]") {
    const Config cfg = parse_config(std::string("[milter]\nmode = \"report\"\n\n") + good_tenant +
                                        "mode = \"enforce\"\n"
                                        "\n[[tenant]]\nname = \"fabrikam\"\n"
                                        "tenant_id = \"fabrikam.onmicrosoft.com\"\n"
                                        "client_id = \"c4a1e7d2-9b3f-4e60-8d15-7f2b0a6c9e41\"\n"
                                        "client_secret_file = \"/y\"\nenabled = false\n",
                                    "m365gate.toml");
    REQUIRE(cfg.tenants.size() == 2);
    CHECK(cfg.decision.mode == MilterMode::report);
    REQUIRE(cfg.tenants[0].mode);
    CHECK(*cfg.tenants[0].mode == MilterMode::enforce);
    CHECK(cfg.tenants[0].enabled);
    CHECK_FALSE(cfg.tenants[1].mode);
    CHECK_FALSE(cfg.tenants[1].enabled);
    CHECK(std::string(mode_name(MilterMode::report)) == "report");
    CHECK(std::string(mode_name(MilterMode::enforce)) == "enforce");
}

TEST_CASE("[milter.harvest]: a table of its own or dotted keys in [milter]", "[config]") {
    const Config defaults = parse_config("", "m365gate.toml");
    CHECK(defaults.milter.harvest.threshold == 20);
    CHECK(defaults.milter.harvest.window == std::chrono::minutes(10));
    CHECK(defaults.milter.harvest.action == HarvestAction::report);
    CHECK(defaults.milter.harvest.block_for == std::chrono::minutes(30));
    CHECK(defaults.milter.harvest.max_clients == 50'000);

    const Config table = parse_config(
        "[milter.harvest]\nthreshold = 50\nwindow = \"1h\"\naction = \"421\"\n"
        "block_for = \"2h\"\nmax_clients = 1000\n",
        "m365gate.toml");
    CHECK(table.milter.harvest.threshold == 50);
    CHECK(table.milter.harvest.window == std::chrono::hours(1));
    CHECK(table.milter.harvest.action == HarvestAction::disconnect);
    CHECK(table.milter.harvest.block_for == std::chrono::hours(2));
    CHECK(table.milter.harvest.max_clients == 1000);

    const Config dotted = parse_config(
        "[milter]\nmode = \"report\"\nharvest.threshold = 0\nharvest.action = \"450\"\n",
        "m365gate.toml");
    CHECK(dotted.milter.harvest.threshold == 0);
    CHECK(dotted.milter.harvest.action == HarvestAction::tempfail);
    CHECK(std::string(harvest_action_name(HarvestAction::report)) == "report");
    CHECK(std::string(harvest_action_name(HarvestAction::tempfail)) == "450");
    CHECK(std::string(harvest_action_name(HarvestAction::disconnect)) == "421");
}

TEST_CASE("[metrics]: off by default, an absolute directory and an interval from 1s to 1h",
          "[config]") {
    const Config defaults = parse_config("", "m365gate.toml");
    CHECK(defaults.metrics.textfile_dir.empty());
    CHECK(defaults.metrics.interval == std::chrono::seconds(15));

    const Config on = parse_config(
        "[metrics]\ntextfile_dir = \"/var/lib/prometheus/node-exporter\"\ninterval = \"1m\"\n",
        "m365gate.toml");
    CHECK(on.metrics.textfile_dir == "/var/lib/prometheus/node-exporter");
    CHECK(on.metrics.interval == std::chrono::minutes(1));
    CHECK(parse_config("[metrics]\ninterval = \"1s\"\n", "m365gate.toml").metrics.interval ==
          std::chrono::seconds(1));
    CHECK(parse_config("[metrics]\ninterval = \"1h\"\n", "m365gate.toml").metrics.interval ==
          std::chrono::hours(1));

    CHECK(config_error("[metrics]\ntextfile_dir = \"prom\"\n") ==
          "m365gate.toml:2: [metrics] textfile_dir: must be an absolute path (or \"\" for no "
          "metrics), got \"prom\"");
    CHECK(config_error("[metrics]\ninterval = \"2h\"\n") ==
          "m365gate.toml:2: [metrics] interval: must be from 1s to 1h");
    CHECK(config_error("[metrics]\ninterval = \"0s\"\n") ==
          "m365gate.toml:2: [metrics] interval: must be greater than zero, got \"0s\"");
    CHECK(config_error("[metrics]\ninterval = 15\n") ==
          "m365gate.toml:2: [metrics] interval: expected a duration string such as \"15m\", got "
          "integer");
    CHECK(config_error("[metrics]\nport = 9100\n") ==
          "m365gate.toml:2: [metrics] port: unknown key");
}

TEST_CASE("[postfix]: off by default, an absolute export directory", "[config]") {
    CHECK(parse_config("", "m365gate.toml").postfix.export_dir.empty());
    CHECK(parse_config("[postfix]\nexport_dir = \"/var/lib/m365gate-postfix\"\n", "m365gate.toml")
              .postfix.export_dir == "/var/lib/m365gate-postfix");
    CHECK(config_error("[postfix]\nexport_dir = \"tables\"\n") ==
          "m365gate.toml:2: [postfix] export_dir: must be an absolute path (or \"\" for no Postfix "
          "tables), got \"tables\"");
    CHECK(config_error("[postfix]\nformat = \"cdb\"\n") ==
          "m365gate.toml:2: [postfix] format: unknown key");
}

TEST_CASE("a TOML syntax error gives file, line, column and toml++'s description", "[config]") {
    const std::string unclosed = config_error("[sync]\ninterval = \"5m\n");
    CHECK_THAT(unclosed, Catch::StartsWith("m365gate.toml:2:"));
    CHECK(unclosed.size() > std::string("m365gate.toml:2:1: ").size());
    CHECK_THAT(config_error("[sync]\nmax_retries = 1\nmax_retries = 2\n"),
               Catch::StartsWith("m365gate.toml:3:") && Catch::Contains("max_retries"));
    CHECK_THAT(config_error("[milter\n"), Catch::StartsWith("m365gate.toml:1:"));
}

TEST_CASE("load_config reads a file and refuses what is not one", "[config]") {
    TempDir dir;
    const auto file = dir.path() / "m365gate.toml";
    write_file(file, std::string(good_tenant));
    const Config cfg = load_config(file);
    CHECK(cfg.file == file);
    CHECK(cfg.tenants.size() == 1);

    write_file(file, "[sync]\n\ninterval = \"5 minutes\"\n");
    CHECK_THROWS_WITH(load_config(file), file.string() +
                                             ":3: [sync] interval: bad duration \"5 minutes\" "
                                             "(use e.g. \"30s\", \"15m\", \"6h\", \"2d\")");

    write_file(file, "# " + std::string(1u << 20, 'x') + "\n");
    CHECK_THROWS_WITH(load_config(file),
                      file.string() + ": configuration is larger than 1 MiB; refusing it");
    CHECK_THROWS_WITH(parse_config(std::string((1u << 20) + 1, '#'), "big.toml"),
                      "big.toml: configuration is larger than 1 MiB; refusing it");

    CHECK_THROWS_WITH(load_config(dir.path() / "absent.toml"),
                      (dir.path() / "absent.toml").string() +
                          ": cannot open configuration: No such file or directory");
    CHECK_THROWS_WITH(load_config(dir.path()),
                      dir.path().string() + ": configuration is not a regular file");
}

TEST_CASE("a real time zone name is accepted", "[config]") {
    if (!std::filesystem::exists("/usr/share/zoneinfo/Asia/Tokyo")) {
        WARN("no tzdata here: skipped");
        return;
    }
    CHECK(parse_config("[alerts]\ntimezone = \"Asia/Tokyo\"\n", "m365gate.toml").alerts.timezone ==
          "Asia/Tokyo");
}

TEST_CASE("the annotated example conf/m365gate.toml loads", "[config]") {
    const Config cfg = load_config(example_config());
    REQUIRE(cfg.tenants.size() == 1);
    const TenantConfig& t = cfg.tenants[0];
    CHECK(t.name == "contoso");
    CHECK(t.domains == std::vector<std::string>{"contoso.com", "contoso.co.jp"});
    REQUIRE(t.client_secret_expires);
    CHECK(format_datetime_utc(*t.client_secret_expires) == "2027-01-31T00:00:00Z");
    CHECK(cfg.alerts.mail_to == std::vector<std::string>{"mail-admins@example.net"});
    CHECK(cfg.log.rejections == "/var/log/m365gate/rejections.jsonl");
}

// The example shows each default as a commented "# key = value" line. Uncommented, those lines
// must give exactly what config.h gives, or the documentation lies.
TEST_CASE("the defaults written in the example are the defaults of the code", "[config]") {
    const std::string text = read_file(example_config());
    std::istringstream lines(text);
    const std::regex header(R"(^\[\[?[a-z.]+\]\]?$)");
    const std::regex commented_key(R"(^# ([a-z_]+ = .*)$)");
    std::string uncommented;
    std::string line;
    int keys = 0;
    std::smatch m;
    while (std::getline(lines, line)) {
        if (std::regex_match(line, header)) {
            uncommented += line + "\n";
        } else if (std::regex_match(line, m, commented_key)) {
            uncommented += m[1].str() + "\n";
            ++keys;
        } else if (line.rfind("name = ", 0) == 0 || line.rfind("tenant_id = ", 0) == 0 ||
                   line.rfind("client_id = ", 0) == 0 ||
                   line.rfind("client_secret_file = ", 0) == 0) {
            uncommented += line + "\n";  // the tenant's required keys
        }
    }
    INFO(uncommented);
    CHECK(keys >= 40);
    const Config shown = parse_config(uncommented, "defaults.toml");
    const Config code = parse_config(good_tenant, "defaults.toml");

    CHECK(shown.store.path == code.store.path);
    CHECK(shown.store.max_size == code.store.max_size);
    CHECK(shown.log.target == code.log.target);
    CHECK(shown.log.file == code.log.file);
    CHECK(shown.log.level == code.log.level);
    CHECK(shown.milter.socket == code.milter.socket);
    CHECK(shown.milter.socket_mode == code.milter.socket_mode);
    CHECK(shown.milter.socket_group == code.milter.socket_group);
    CHECK(shown.milter.user == code.milter.user);
    CHECK(shown.milter.group == code.milter.group);
    CHECK(shown.milter.pid_file == code.milter.pid_file);
    CHECK(shown.milter.timeout == code.milter.timeout);
    CHECK(shown.decision.mode == code.decision.mode);
    CHECK(shown.milter.harvest.threshold == code.milter.harvest.threshold);
    CHECK(shown.milter.harvest.window == code.milter.harvest.window);
    CHECK(shown.milter.harvest.action == code.milter.harvest.action);
    CHECK(shown.milter.harvest.block_for == code.milter.harvest.block_for);
    CHECK(shown.milter.harvest.max_clients == code.milter.harvest.max_clients);
    CHECK(shown.decision.always_accept == code.decision.always_accept);
    CHECK(shown.decision.subaddress_delimiters == code.decision.subaddress_delimiters);
    CHECK(shown.decision.on_cache_unavailable == code.decision.on_cache_unavailable);
    CHECK(shown.decision.on_stale == code.decision.on_stale);
    CHECK(shown.decision.reject.code == code.decision.reject.code);
    CHECK(shown.decision.reject.status == code.decision.reject.status);
    CHECK(shown.decision.reject.text == code.decision.reject.text);
    CHECK(shown.decision.tempfail.code == code.decision.tempfail.code);
    CHECK(shown.decision.tempfail.status == code.decision.tempfail.status);
    CHECK(shown.decision.tempfail.text == code.decision.tempfail.text);
    CHECK(shown.sync.interval == code.sync.interval);
    CHECK(shown.sync.full_every == code.sync.full_every);
    CHECK(shown.sync.stale_after == code.sync.stale_after);
    CHECK(shown.sync.max_shrink == code.sync.max_shrink);
    CHECK(shown.sync.ca_file == code.sync.ca_file);
    CHECK(shown.sync.request_timeout == code.sync.request_timeout);
    CHECK(shown.sync.connect_timeout == code.sync.connect_timeout);
    CHECK(shown.sync.max_retries == code.sync.max_retries);
    CHECK(shown.sync.max_backoff == code.sync.max_backoff);
    CHECK(shown.sync.max_objects == code.sync.max_objects);
    CHECK(shown.sync.max_pages == code.sync.max_pages);
    CHECK(shown.sync.round_budget == code.sync.round_budget);
    CHECK(shown.sync.max_spill_size == code.sync.max_spill_size);
    CHECK(shown.sync.user == code.sync.user);
    CHECK(shown.sync.pid_file == code.sync.pid_file);
    CHECK(shown.alerts.sendmail == code.alerts.sendmail);
    CHECK(shown.alerts.webhook == code.alerts.webhook);
    CHECK(shown.alerts.language == code.alerts.language);
    CHECK(shown.alerts.timezone == code.alerts.timezone);
    CHECK(shown.alerts.secret_days == code.alerts.secret_days);
    CHECK(shown.alerts.sync_failure_after == code.alerts.sync_failure_after);
    CHECK(shown.alerts.repeat == code.alerts.repeat);
    CHECK(shown.alerts.host_label == code.alerts.host_label);
    CHECK(shown.alerts.portal_url == code.alerts.portal_url);
    CHECK(shown.metrics.textfile_dir == code.metrics.textfile_dir);
    CHECK(shown.metrics.interval == code.metrics.interval);
    CHECK(shown.postfix.export_dir == code.postfix.export_dir);
    REQUIRE(shown.tenants.size() == 1);
    CHECK(shown.tenants[0].include_upn == code.tenants[0].include_upn);
    CHECK(shown.tenants[0].login_endpoint == code.tenants[0].login_endpoint);
    CHECK(shown.tenants[0].graph_endpoint == code.tenants[0].graph_endpoint);
    CHECK(shown.tenants[0].extra_recipients_file == code.tenants[0].extra_recipients_file);
    CHECK(shown.tenants[0].enabled == code.tenants[0].enabled);
    CHECK(shown.tenants[0].mode == code.tenants[0].mode);  // prose only: [milter]'s
}

TEST_CASE("a tenant signs in with a certificate instead of a secret", "[config]") {
    const Config cfg = parse_config(
        "[[tenant]]\nname = \"c\"\ntenant_id = \"c.example\"\n"
        "client_id = \"3b9d6e1f-0a42-4c8e-b5d7-61f2a9c4e803\"\n"
        "client_certificate_file = \"/etc/m365gate/secrets/c.pem\"\nassertion_alg = \"RS256\"\n",
        "m.toml");
    REQUIRE(cfg.tenants.size() == 1);
    CHECK(cfg.tenants[0].client_certificate_file == "/etc/m365gate/secrets/c.pem");
    CHECK(cfg.tenants[0].client_secret_file.empty());
    CHECK(cfg.tenants[0].assertion_alg == "RS256");
    CHECK(parse_config(good_tenant, "m.toml").tenants[0].assertion_alg == "PS256");
}

TEST_CASE("the commented second tenant of the example loads when uncommented", "[config]") {
    std::string text = read_file(example_config());
    const std::string marker = "## A second tenant: uncomment and fill in.\n##\n";
    const auto at = text.find(marker);
    REQUIRE(at != std::string::npos);
    std::string tail = text.substr(at + marker.size());
    std::string uncommented;
    std::istringstream lines(tail);
    std::string line;
    while (std::getline(lines, line)) {
        uncommented += (line.rfind("## ", 0) == 0 ? line.substr(3) : line) + "\n";
    }
    const Config cfg = parse_config(text.substr(0, at) + uncommented, "example.toml");
    REQUIRE(cfg.tenants.size() == 2);
    CHECK(cfg.tenants[1].name == "fabrikam");
    CHECK(cfg.tenants[1].mode == MilterMode::report);
}

// ---- logging ----

namespace {

// A sink that keeps the formatted lines (spdlog's test_sink idea).
class CaptureSink final : public spdlog::sinks::base_sink<std::mutex> {
public:
    std::vector<std::string> lines() {
        std::lock_guard<std::mutex> lock(mutex_);
        return lines_;
    }

protected:
    void sink_it_(const spdlog::details::log_msg& msg) override {
        spdlog::memory_buf_t formatted;
        formatter_->format(msg, formatted);
        lines_.emplace_back(formatted.data(), formatted.size());
    }
    void flush_() override {}

private:
    std::vector<std::string> lines_;
};

}  // namespace

TEST_CASE("printable masks bytes and caps the length", "[log]") {
    struct Case {
        const char* label;
        std::string in;
        std::size_t max_len;
        std::string want;
    };
    const Case cases[] = {
        {"plain text kept", "bob@example.com", 320, "bob@example.com"},
        {"CR LF masked", "a\r\nb", 320, "a??b"},
        {"NUL masked", std::string("a\0b", 3), 320, "a?b"},
        {"UTF-8 bytes masked", "J\xC3\xB6rg", 320, "J??rg"},
        {"DEL masked", "a\x7f", 320, "a?"},
        {"capped", "abcdef", 3, "abc..."},
        {"exactly at the cap", "abc", 3, "abc"},
    };
    for (const auto& c : cases) {
        INFO(c.label);
        CHECK(printable(c.in, c.max_len) == c.want);
    }
}

TEST_CASE("log_value quotes what would break key=value parsing", "[log]") {
    struct Case {
        const char* label;
        std::string in;
        std::string want;
    };
    const Case cases[] = {
        {"bare word", "contoso", "contoso"},
        {"empty", "", ""},
        {"space", "user unknown", "\"user unknown\""},
        {"equals sign", "a=b", "\"a=b\""},
        {"quote escaped", "say \"hi\"", "\"say \\\"hi\\\"\""},
        {"backslash escaped when quoted", "a\\ b", "\"a\\\\ b\""},
        {"newline masked, no quoting needed", "a\nb", "a?b"},
        {"forged key=value on a new line", "x\nreason=ok", "\"x?reason=ok\""},
    };
    for (const auto& c : cases) {
        INFO(c.label);
        CHECK(log_value(c.in) == c.want);
    }
}

TEST_CASE("setup_logging with target file appends lines to the file", "[log]") {
    TempDir dir;
    LogConfig cfg;
    cfg.target = LogTarget::file;
    cfg.file = dir.path() / "m365gate.log";
    write_file(cfg.file, "earlier line\n");

    setup_logging(cfg, "m365gate-test", true);
    spdlog::info("event=test to={}", log_value("bob example"));
    spdlog::debug("event=hidden");
    spdlog::warn("event=careful");

    const std::string text = read_file(cfg.file);
    INFO(text);
    CHECK_THAT(text, Catch::StartsWith("earlier line\n"));
    const std::regex info_line(
        R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d m365gate-test\[\d+\]: info: event=test to="bob example"\n)");
    CHECK(std::regex_search(text, info_line));
    CHECK(text.find("m365gate-test[" + std::to_string(::getpid()) +
                    "]: warning: event=careful\n") != std::string::npos);
    CHECK(text.find("event=hidden") == std::string::npos);

    SECTION("a reload that changes only the level keeps the file and takes the level") {
        cfg.level = "debug";
        setup_logging(cfg, "m365gate-test", true);
        spdlog::debug("event=now_shown");
        CHECK(read_file(cfg.file).find("debug: event=now_shown\n") != std::string::npos);
    }
}

TEST_CASE("setup_logging replaces a capturing default logger, which then sees nothing", "[log]") {
    auto capture = std::make_shared<CaptureSink>();
    spdlog::set_default_logger(std::make_shared<spdlog::logger>("capture", capture));
    spdlog::info("event=before");
    REQUIRE(capture->lines().size() == 1);

    TempDir dir;
    LogConfig cfg;
    cfg.target = LogTarget::file;
    cfg.file = dir.path() / "m365gate.log";
    setup_logging(cfg, "m365gate-test", true);
    spdlog::error("event=after");
    CHECK(capture->lines().size() == 1);
    CHECK(read_file(cfg.file).find("error: event=after") != std::string::npos);
}

TEST_CASE("setup_logging names a log file it cannot open", "[log]") {
    TempDir dir;
    write_file(dir.path() / "plain", "a file, not a directory\n");
    LogConfig cfg;
    cfg.target = LogTarget::file;
    cfg.file = dir.path() / "plain" / "m365gate.log";
    CHECK_THROWS_WITH(setup_logging(cfg, "m365gate-test", true),
                      Catch::StartsWith(cfg.file.string() + ": cannot open log file"));

    cfg.target = LogTarget::stderr_;
    cfg.level = "verbose";
    CHECK_THROWS_AS(setup_logging(cfg, "m365gate-test"), ConfigError);
}

TEST_CASE("setup_logging never writes through a symlink or a second hard link", "[log]") {
    TempDir dir;
    const auto target = dir.path() / "credential";
    write_file(target, "secret = \"s\"\n");
    LogConfig cfg;
    cfg.target = LogTarget::file;
    cfg.file = dir.path() / "m365gate.log";

    SECTION("a symlink at log.file") {
        std::filesystem::create_symlink(target, cfg.file);
        CHECK_THROWS_WITH(setup_logging(cfg, "m365gate-test", true),
                          Catch::Contains("symbolic link"));
    }
    SECTION("a hard link at log.file") {
        std::filesystem::create_hard_link(target, cfg.file);
        CHECK_THROWS_WITH(setup_logging(cfg, "m365gate-test", true), Catch::Contains("hard links"));
    }
    CHECK(read_file(target) == "secret = \"s\"\n");
}

TEST_CASE("as root, setup_logging leaves log.file closed until after the privilege drop", "[log]") {
    if (::geteuid() != 0) {
        SUCCEED("only root defers the log file");
        return;
    }
    TempDir dir;
    LogConfig cfg;
    cfg.target = LogTarget::file;
    cfg.file = dir.path() / "m365gate.log";
    setup_logging(cfg, "m365gate-test");
    spdlog::info("event=while_root");
    CHECK_FALSE(std::filesystem::exists(cfg.file));
}

TEST_CASE("setup_logging to syslog installs a logger named after the program", "[log]") {
    LogConfig cfg;  // target syslog, level info
    setup_logging(cfg, "m365gate-test");
    CHECK(spdlog::default_logger()->name() == "m365gate-test");
    CHECK(spdlog::default_logger()->level() == spdlog::level::info);
}
