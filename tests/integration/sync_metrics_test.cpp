// tests/integration/sync_metrics_test.cpp - m365gate_sync.prom as the daemon writes it, after
// known rounds against the Graph simulator over real TLS (a full sync, a delta, a delta that
// fails on a missing permission): runs by kind and status, token requests, Graph responses,
// alerts sent and the secret's days left, on the test clock.
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <optional>

#include "sync_harness.h"

using namespace sync_test;

namespace {

const char* contoso_id = "11111111-1111-1111-1111-111111111111";

std::string tenant_path(const std::string& rest) {
    return std::string("/_sim/tenants/") + contoso_id + rest;
}

// The value of the sample `series` ("name{labels}") in `text`; nullopt when absent.
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

}  // namespace

TEST_CASE("the sync's .prom counts a full, a delta and a failed round, with days left",
          "[sync][integration][metrics]") {
    if (M365GATE_HAVE_TEST_CLOCK == 0) {
        WARN("skipped: needs a build with M365GATE_TEST_CLOCK=ON");
        return;
    }
    SyncRun run;
    Simulator sim(run.dir, fixture_args("contoso"));
    const fs::path dir = run.dir / "metrics";
    fs::create_directory(dir);
    const fs::path prom = dir / "m365gate_sync.prom";
    // The simulator's app says this secret expires 2027-11-01T00:00:00Z (1825027200): the test
    // clock stands 29.5 days before, inside the 30-day alert threshold.
    run.env["M365GATE_TEST_NOW"] = std::to_string(1825027200 - 29 * 86400 - 43200);
    fs::create_directory(run.dir / "postfix");
    run.configure(sim, {TenantSpec{}},
                  "interval = \"1h\"\n[metrics]\ntextfile_dir = \"" + dir.string() +
                      "\"\ninterval = \"1s\"\n[postfix]\nexport_dir = \"" +
                      (run.dir / "postfix").string() + "\"\n");
    Daemon daemon(run);
    const auto value = [&](const std::string& series) {
        return sample_value(read_file(prom), series);
    };
    const std::string runs = "m365gate_sync_runs_total{tenant=\"contoso\",";
    REQUIRE(wait_until([&] { return value(runs + "kind=\"full\",status=\"ok\"}") == "1"; }));

    daemon.signal(SIGHUP);  // a reload starts a round at once: a delta
    REQUIRE(wait_until([&] { return value(runs + "kind=\"delta\",status=\"ok\"}") == "1"; }));

    // User.Read.All withdrawn: the next delta fails with a consent error.
    REQUIRE(sim.call("POST", tenant_path("/apps/22222222-2222-2222-2222-222222222222"),
                     {{"permissions",
                       {"GroupMember.Read.All", "OrgContact.Read.All", "Domain.Read.All"}}})
                .status == 200);
    daemon.signal(SIGHUP);
    REQUIRE(wait_until([&] { return value(runs + "kind=\"delta\",status=\"consent\"}") == "1"; }));

    const std::string text = read_file(prom);
    INFO(text);
    CHECK(value(runs + "kind=\"full\",status=\"ok\"}") == "1");
    CHECK(value(runs + "kind=\"delta\",status=\"ok\"}") == "1");
    // Exactly these three runs, nothing else counted.
    CHECK(count_lines(text, "m365gate_sync_runs_total{") == 3);
    // One token served all three rounds (cached until shortly before expires_in).
    CHECK(value("m365gate_sync_token_requests_total{tenant=\"contoso\",status=\"ok\"}") == "1");
    CHECK_FALSE(value("m365gate_sync_token_requests_total{tenant=\"contoso\",status=\"error\"}"));
    CHECK(value("m365gate_sync_secret_remaining_seconds{tenant=\"contoso\"}") ==
          "2548800");  // 29.5 days
    CHECK(value("m365gate_sync_secret_expiry_timestamp_seconds{tenant=\"contoso\"}") ==
          "1825027200");
    CHECK(value("m365gate_sync_failing{tenant=\"contoso\"}") == "1");
    CHECK(value("m365gate_sync_addresses{tenant=\"contoso\"}") ==
          std::to_string(expected_addresses("contoso").size()));
    CHECK(value("m365gate_sync_alerts_sent_total{tenant=\"contoso\",alert=\"secret_expiring\"}") ==
          "1");
    CHECK(value("m365gate_sync_alerts_sent_total{tenant=\"contoso\",alert=\"consent\"}") == "1");
    const auto ok_pages =
        value("m365gate_sync_graph_requests_total{tenant=\"contoso\",code=\"200\"}");
    REQUIRE(ok_pages);
    CHECK(std::stoi(*ok_pages) > 3);
    CHECK(value("m365gate_sync_graph_requests_total{tenant=\"contoso\",code=\"403\"}"));
    CHECK_FALSE(value("m365gate_sync_graph_throttled_total{tenant=\"contoso\"}"));
    // The Postfix tables: written after the full and the delta round, not after the failed one.
    CHECK(value("m365gate_sync_postfix_table_writes_total{status=\"ok\"}") == "2");
    CHECK_FALSE(value("m365gate_sync_postfix_table_writes_total{status=\"error\"}"));
    CHECK(value("m365gate_sync_postfix_tables_current_timestamp_seconds"));
    // No secret, no token in the file.
    CHECK(text.find("s3cr3t") == std::string::npos);
    CHECK(text.find("eyJ") == std::string::npos);

    // promtool, when milter_metrics has fetched it (or it is installed), lints the file too.
    const char* cached = "/var/cache/m365gate-test/prometheus-debs/promtool";
    const std::string promtool = ::access(cached, X_OK) == 0 ? cached : "promtool";
    if (std::system(("command -v " + promtool + " >/dev/null").c_str()) == 0) {
        CHECK(std::system((promtool + " check metrics < '" + prom.string() + "'").c_str()) == 0);
    } else {
        WARN("no promtool: the format is checked by metrics_test's parser");
    }

    struct stat st {};
    REQUIRE(::lstat(prom.c_str(), &st) == 0);
    CHECK(S_ISREG(st.st_mode));
    CHECK((st.st_mode & 07777) == 0644);
    CHECK(daemon.stop() == 0);
}

TEST_CASE("m365gate-sync --once writes no metrics file", "[sync][integration][metrics]") {
    SyncRun run;
    Simulator sim(run.dir, fixture_args("contoso"));
    const fs::path dir = run.dir / "metrics";
    fs::create_directory(dir);
    run.configure(sim, {TenantSpec{}},
                  "[metrics]\ntextfile_dir = \"" + dir.string() + "\"\ninterval = \"1s\"\n");
    REQUIRE(run.sync() == 0);  // by hand next to a daemon, it would replace the daemon's counts
    INFO(run.last_output);
    CHECK(fs::is_empty(dir));
    CHECK(run.last_output.find("metrics=" + dir.string() + ",1s") != std::string::npos);
}
