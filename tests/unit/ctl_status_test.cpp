// m365gatectl status, check, lookup and dump against a real LMDB store filled by publish().
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <sstream>

#include "common/days.h"
#include "ctl/ctl.h"
#include "tests/unit/ctl_fixture.h"

using namespace m365gate;
using namespace m365gate::ctl;
using namespace m365gate::ctl::testing;

TEST_CASE("timestamps parse in the forms the logs and --expires use", "[ctl]") {
    struct Case {
        const char* label;
        const char* text;
        std::optional<std::int64_t> want;
    };
    const Case cases[] = {
        {"UTC with Z", "2026-11-23T09:00:00Z", test_now},
        {"fraction", "2026-11-23T09:00:00.123Z", test_now},
        {"offset", "2026-11-23T18:00:00+09:00", test_now},
        {"negative offset", "2026-11-23T04:00:00-05:00", test_now},
        {"bare date is midnight UTC", "2026-11-23", test_now - 9 * 3600},
        {"no zone is ambiguous", "2026-11-23T09:00:00", std::nullopt},
        {"impossible day", "2026-02-31", std::nullopt},
        {"junk", "yesterday", std::nullopt},
        {"trailing junk", "2026-11-23T09:00:00Zx", std::nullopt},
        {"empty", "", std::nullopt},
    };
    for (const auto& c : cases) {
        INFO(c.label);
        CHECK(parse_timestamp(c.text) == c.want);
    }
    CHECK(format_time(test_now) == "2026-11-23T09:00:00Z");
    CHECK(format_time(0) == "never");
    CHECK(format_age(59) == "59s");
    CHECK(format_age(300) == "5m");
    CHECK(format_age(26 * 3600) == "26h");
    CHECK(format_age(3 * day) == "3d");
}

TEST_CASE("evaluate_tenant applies the check thresholds", "[ctl][check]") {
    Config cfg;
    cfg.sync.stale_after = std::chrono::hours(24);
    auto healthy = StoreFixture::healthy_state();
    struct Case {
        const char* label;
        std::function<void(store::TenantState&)> change;
        Health want;
        const char* problem;  // substring of the first problem, or "" for none
    };
    const Case cases[] = {
        {"healthy", [](store::TenantState&) {}, Health::ok, ""},
        {"secret in 15 days", [](store::TenantState& s) { s.secret_expires = test_now + 15 * day; },
         Health::ok, ""},
        {"secret in 14 days", [](store::TenantState& s) { s.secret_expires = test_now + 14 * day; },
         Health::warning, "secret expires in 14 days"},
        {"secret in 2 days", [](store::TenantState& s) { s.secret_expires = test_now + 2 * day; },
         Health::warning, "secret expires in 2 days"},
        {"secret in 20 hours",
         [](store::TenantState& s) { s.secret_expires = test_now + 20 * 3600; }, Health::critical,
         "secret expires in 20h"},
        {"secret expired 2 days ago",
         [](store::TenantState& s) { s.secret_expires = test_now - 2 * day; }, Health::critical,
         "secret expired 2 days ago"},
        {"no expiry known", [](store::TenantState& s) { s.secret_expires = 0; }, Health::warning,
         "expiry unknown: grant Application.Read.All or set expires"},
        {"a past local date that is not Graph's: a warning, not expired",
         [](store::TenantState& s) {
             s.secret_expires = test_now + 300 * day;
             s.secret_expires_source = "graph";
             s.secret_expires_local = test_now - 2 * day;
             s.secret_expires_local_source = "credential_file";
         },
         Health::warning, "local expiry date"},
        {"a local date within a day of Graph's is the same date",
         [](store::TenantState& s) {
             s.secret_expires = test_now + 300 * day + 3600;
             s.secret_expires_source = "graph";
             s.secret_expires_local = test_now + 300 * day;
             s.secret_expires_local_source = "config";
         },
         Health::ok, ""},
        {"a past date while sign-in works: a wrong date, not an expired secret",
         [](store::TenantState& s) {
             s.secret_expires = test_now - 2 * day;
             s.secret_expires_source = "credential_file";
             s.last_token_success = s.last_attempt;
         },
         Health::warning, "is past but sign-in works"},
        {"last attempt failed, not stale",
         [](store::TenantState& s) {
             s.last_attempt = test_now - 60;
             s.last_error = "token endpoint refused the secret (AADSTS7000215)";
         },
         Health::warning, "last attempt failed 1m ago: token endpoint refused"},
        {"stale",
         [](store::TenantState& s) {
             s.last_success = test_now - 25 * 3600;
             s.last_attempt = test_now - 60;
         },
         Health::critical, "stale: last successful sync 25h ago"},
        {"never synced",
         [](store::TenantState& s) {
             s.last_success = 0;
             s.last_error = "Graph answered 403";
         },
         Health::critical, "never synced (last error: Graph answered 403)"},
    };
    for (const auto& c : cases) {
        INFO(c.label);
        auto state = healthy;
        c.change(state);
        const auto health = evaluate_tenant(cfg, state, std::nullopt, test_now);
        CHECK(health.level == c.want);
        if (*c.problem == '\0') {
            CHECK(health.problems.empty());
        } else {
            REQUIRE_FALSE(health.problems.empty());
            CHECK_THAT(health.problems.front(), Catch::Contains(c.problem));
        }
    }
    SECTION("no state at all is never synced") {
        CHECK(evaluate_tenant(cfg, std::nullopt, std::nullopt, test_now).level == Health::critical);
    }
    SECTION("the config's client_secret_expires counts when the state has none") {
        auto state = healthy;
        state.secret_expires = 0;
        const auto health = evaluate_tenant(cfg, state, test_now + 3 * day, test_now);
        CHECK(health.level == Health::warning);
    }
    SECTION("the worst problem wins and all are listed") {
        auto state = healthy;
        state.secret_expires = test_now + 5 * day;
        state.last_success = test_now - 30 * 3600;
        const auto health = evaluate_tenant(cfg, state, std::nullopt, test_now);
        CHECK(health.level == Health::critical);
        CHECK(health.problems.size() == 2);
    }
}

TEST_CASE("check prints one Nagios line and exits with the worst state", "[ctl][check]") {
    StoreFixture fx;
    std::ostringstream out;
    SECTION("a tenant that never synced is CRITICAL") {
        CHECK(run_check(fx.cfg, test_now, out) == 2);
        CHECK_THAT(out.str(), Catch::StartsWith("M365GATE CRITICAL - contoso: OK; northwind: "
                                                "never synced |"));
        const std::string line = out.str();
        CHECK(std::count(line.begin(), line.end(), '\n') == 1);
        CHECK_THAT(out.str(), Catch::Contains("'contoso_addresses'=6;;;0"));
        CHECK_THAT(out.str(), Catch::Contains("'contoso_secret_days'=200;14:;1:"));
    }
    SECTION("OK when every configured tenant is healthy") {
        fx.cfg.tenants.pop_back();
        CHECK(run_check(fx.cfg, test_now, out) == 0);
        CHECK_THAT(out.str(), Catch::StartsWith("M365GATE OK - contoso: OK |"));
    }
    SECTION("WARNING when the secret is close") {
        fx.cfg.tenants.pop_back();
        auto state = StoreFixture::healthy_state();
        state.secret_expires = test_now + 10 * day;
        fx.publish_contoso(state);
        CHECK(run_check(fx.cfg, test_now, out) == 1);
        CHECK_THAT(out.str(),
                   Catch::StartsWith("M365GATE WARNING - contoso: secret expires in 10 days |"));
    }
    SECTION("CRITICAL when the secret expired") {
        fx.cfg.tenants.pop_back();
        auto state = StoreFixture::healthy_state();
        state.secret_expires = test_now - 2 * day;
        fx.publish_contoso(state);
        CHECK(run_check(fx.cfg, test_now, out) == 2);
        CHECK_THAT(out.str(),
                   Catch::StartsWith("M365GATE CRITICAL - contoso: secret expired 2 days ago |"));
    }
    SECTION("CRITICAL when stale") {
        fx.cfg.tenants.pop_back();
        CHECK(run_check(fx.cfg, test_now + 2 * day, out) == 2);
        CHECK_THAT(out.str(), Catch::Contains("contoso: stale"));
    }
    SECTION("a disabled tenant is not watched: OK, and said so") {
        fx.cfg.tenants[1].enabled = false;
        CHECK(run_check(fx.cfg, test_now, out) == 0);
        CHECK_THAT(out.str(),
                   Catch::StartsWith("M365GATE OK - contoso: OK; northwind: disabled |"));
        CHECK_THAT(out.str(), !Catch::Contains("northwind_"));
    }
    SECTION("UNKNOWN when the store cannot be read") {
        fx.cfg.store.path = fx.dir.path() / "nowhere";
        CHECK(run_check(fx.cfg, test_now, out) == 3);
        CHECK_THAT(out.str(), Catch::StartsWith("M365GATE UNKNOWN - cannot read the store"));
    }
}

TEST_CASE("days left are rounded up, as the alert mails count them", "[ctl][status]") {
    // common/days.h is the one rule: sync/alerts.cpp uses it for days_left in the mails.
    CHECK(days_left(test_now + 4 * day + 3600, test_now) == 5);
    CHECK(days_left(test_now + 5 * day, test_now) == 5);
    CHECK(days_left(test_now + 1, test_now) == 1);
    CHECK(days_left(test_now, test_now) == 0);
    CHECK(days_left(test_now - 2 * day - 5, test_now) == -2);

    StoreFixture fx;
    fx.cfg.tenants.pop_back();
    auto state = StoreFixture::healthy_state();
    state.secret_expires = test_now + 4 * day + 3600;  // the mail says "5 days"
    fx.publish_contoso(state);
    std::ostringstream text, json, check, err;
    REQUIRE(run_status(fx.cfg, false, test_now, text, err) == 0);
    CHECK_THAT(text.str(), Catch::Contains("(5 days left, from credential_file)"));
    REQUIRE(run_status(fx.cfg, true, test_now, json, err) == 0);
    CHECK(nlohmann::json::parse(json.str())["tenants"][0]["secret_days_left"] == 5);
    CHECK(run_check(fx.cfg, test_now, check) == 1);
    CHECK_THAT(check.str(),
               Catch::StartsWith("M365GATE WARNING - contoso: secret expires in 5 days |"));
    CHECK_THAT(check.str(), Catch::Contains("'contoso_secret_days'=5;14:;1:"));
}

TEST_CASE("status shows every tenant, for people and as JSON", "[ctl][status]") {
    StoreFixture fx;
    std::ostringstream out, err;
    SECTION("text") {
        REQUIRE(run_status(fx.cfg, false, test_now, out, err) == 0);
        const std::string text = out.str();
        CHECK_THAT(text, Catch::Contains("tenant contoso\n  health:         OK\n"));
        CHECK_THAT(text, Catch::Contains("last success:   2026-11-23T08:55:00Z (5m ago)"));
        CHECK_THAT(text, Catch::Contains("addresses:      6 (4 directory objects)"));
        CHECK_THAT(text, Catch::Contains("domains:        2 (contoso.example, fabrikam.example)"));
        CHECK_THAT(text, Catch::Contains("200 days left, from credential_file"));
        CHECK_THAT(text, Catch::Contains("delta links: users"));
        CHECK_THAT(text, Catch::Contains("secret:30:2027-06-11 at 2026-11-13T09:00:00Z"));
        CHECK_THAT(text, Catch::Contains("tenant northwind\n  health:         CRITICAL - never "
                                         "synced"));
        CHECK_THAT(text, !Catch::Contains("deltatoken"));
    }
    SECTION("JSON parses back") {
        REQUIRE(run_status(fx.cfg, true, test_now, out, err) == 0);
        const auto doc = nlohmann::json::parse(out.str());
        REQUIRE(doc["tenants"].size() == 2);
        const auto& c = doc["tenants"][0];
        CHECK(c["name"] == "contoso");
        CHECK(c["health"] == "OK");
        CHECK(c["addresses"] == 6);
        CHECK(c["last_success_age_seconds"] == 300);
        CHECK(c["secret_days_left"] == 200);
        CHECK(c["domains"] == nlohmann::json({"contoso.example", "fabrikam.example"}));
        CHECK(c["delta_links"] == nlohmann::json({"users"}));
        const auto& n = doc["tenants"][1];
        CHECK(n["name"] == "northwind");
        CHECK(n["synced"] == false);
        CHECK(n["last_success"].is_null());
        CHECK(n["health"] == "CRITICAL");
    }
    SECTION("each tenant's mode, and a disabled tenant, in text and JSON") {
        fx.cfg.decision.mode = MilterMode::report;
        fx.cfg.tenants[0].mode = MilterMode::enforce;
        fx.cfg.tenants[1].enabled = false;
        REQUIRE(run_status(fx.cfg, false, test_now, out, err) == 0);
        CHECK_THAT(out.str(), Catch::Contains("\nmode:   report\n"));
        CHECK_THAT(out.str(), Catch::Contains("tenant contoso\n  health:         OK\n"
                                              "  mode:           enforce\n"));
        CHECK_THAT(out.str(), Catch::Contains("tenant northwind\n  health:         OK\n"
                                              "  mode:           disabled (enabled = false"));
        std::ostringstream json;
        REQUIRE(run_status(fx.cfg, true, test_now, json, err) == 0);
        const auto doc = nlohmann::json::parse(json.str());
        CHECK(doc["mode"] == "report");
        CHECK(doc["tenants"][0]["mode"] == "enforce");
        CHECK(doc["tenants"][0]["enabled"] == true);
        CHECK(doc["tenants"][1]["mode"] == "report");
        CHECK(doc["tenants"][1]["enabled"] == false);
        CHECK(doc["tenants"][1]["health"] == "OK");
    }
    SECTION("a missing store is an error on stderr") {
        fx.cfg.store.path = fx.dir.path() / "nowhere";
        CHECK(run_status(fx.cfg, false, test_now, out, err) == exit_failure);
        CHECK(out.str().empty());
        CHECK_THAT(err.str(), Catch::Contains("cannot read the store"));
    }
}

TEST_CASE("lookup gives the milter's decision, the tenant and the object", "[ctl][lookup]") {
    StoreFixture fx;
    std::ostringstream out, err;
    REQUIRE(
        run_lookup(fx.cfg,
                   {"<Alice@Contoso.Example>", "alice+news@contoso.example",
                    "nobody@contoso.example", "someone@elsewhere.example", "sales@contoso.example"},
                   true, test_now, out, err) == 0);
    const auto doc = nlohmann::json::parse(out.str());
    REQUIRE(doc.size() == 5);
    CHECK(doc[0]["verdict"] == "continue");
    CHECK(doc[0]["reason"] == "known");
    CHECK(doc[0]["tenant"] == "contoso");
    CHECK(doc[0]["object"]["kind"] == "user");
    CHECK(doc[0]["object"]["id"] == "u-alice");
    CHECK(doc[1]["reason"] == "known_subaddress");
    CHECK(doc[1]["object"]["id"] == "u-alice");
    CHECK(doc[2]["verdict"] == "reject");
    CHECK(doc[2]["reason"] == "unknown_recipient");
    CHECK(doc[2]["step"] == 8);
    CHECK(doc[2]["reply"]["code"] == "550");
    CHECK(doc[2]["reply"]["text"] ==
          "<nobody@contoso.example>: Recipient address rejected: user unknown");
    CHECK(doc[3]["reason"] == "unmanaged_domain");
    CHECK(doc[3]["tenant"] == "");
    CHECK(doc[4]["object"]["kind"] == "group");

    SECTION("text output names verdict, reason, tenant and object") {
        std::ostringstream text;
        REQUIRE(run_lookup(fx.cfg, {"alice@fabrikam.example", "nobody@contoso.example"}, false,
                           test_now, text, err) == 0);
        CHECK_THAT(text.str(), Catch::Contains("alice@fabrikam.example\n  verdict: continue\n"
                                               "  reason:  known (DESIGN step 5)\n"
                                               "  tenant:  contoso\n  object:  user u-alice\n"));
        CHECK_THAT(text.str(), Catch::Contains("  reply:   550 5.1.1 <nobody@contoso.example>"));
    }
    SECTION("text output numbers the steps in DESIGN's order") {
        std::ostringstream text;
        REQUIRE(run_lookup(fx.cfg, {"postmaster+x@contoso.example", "\"alice\"@contoso.example"},
                           false, test_now, text, err) == 0);
        CHECK_THAT(text.str(), Catch::Contains("postmaster+x@contoso.example\n  verdict: continue\n"
                                               "  reason:  always_accept (DESIGN step 3)\n"));
        CHECK_THAT(text.str(), Catch::Contains("\"alice\"@contoso.example\n  verdict: continue\n"
                                               "  reason:  known (DESIGN step 5)\n"));
    }
    SECTION("report mode says what enforce would do") {
        fx.cfg.decision.mode = MilterMode::report;
        std::ostringstream text;
        REQUIRE(run_lookup(fx.cfg, {"nobody@contoso.example"}, false, test_now, text, err) == 0);
        CHECK_THAT(text.str(), Catch::Contains("verdict: continue (report mode; enforce would "
                                               "reject)"));
    }
    SECTION("a tenant's own mode and a disabled tenant, as the milter answers them") {
        fx.cfg.tenants[0].mode = MilterMode::report;
        fx.cfg.tenants[1].enabled = false;
        std::ostringstream text;
        REQUIRE(run_lookup(fx.cfg, {"nobody@contoso.example", "x@northwind.example"}, false,
                           test_now, text, err) == 0);
        CHECK_THAT(text.str(), Catch::Contains("nobody@contoso.example\n  verdict: continue "
                                               "(report mode; enforce would reject)"));
        CHECK_THAT(text.str(), Catch::Contains("x@northwind.example\n  verdict: continue\n"
                                               "  reason:  tenant_disabled (DESIGN step 2)\n"
                                               "  tenant:  northwind\n"));
    }
    SECTION("without a store the config's domains decide, and it warns") {
        fx.cfg.store.path = fx.dir.path() / "nowhere";
        std::ostringstream text;
        REQUIRE(run_lookup(fx.cfg,
                           {"alice@contoso.example", "x@elsewhere.example",
                            "postmaster+x@contoso.example"},
                           true, test_now, text, err) == 0);
        const auto d = nlohmann::json::parse(text.str());
        CHECK(d[0]["verdict"] == "tempfail");
        CHECK(d[0]["reason"] == "cache_unavailable");
        CHECK(d[0]["step"] == 4);
        CHECK(d[1]["verdict"] == "continue");
        CHECK(d[2]["verdict"] == "continue");
        CHECK(d[2]["reason"] == "always_accept");
        CHECK(d[2]["step"] == 3);
        CHECK_THAT(err.str(), Catch::Contains("warning: cannot read the store"));
    }
}

TEST_CASE("dump lists every known address once per line", "[ctl][dump]") {
    StoreFixture fx;
    std::ostringstream out, err;
    SECTION("all tenants") {
        REQUIRE(run_dump(fx.cfg, "", false, out, err) == 0);
        CHECK(out.str() ==
              "alice.smith@contoso.example\nalice@contoso.example\nalice@fabrikam.example\n"
              "bob@contoso.example\npartner@fabrikam.example\nsales@contoso.example\n");
    }
    SECTION("long format") {
        REQUIRE(run_dump(fx.cfg, "contoso", true, out, err) == 0);
        CHECK_THAT(out.str(), Catch::Contains("sales@contoso.example\tcontoso\tgroup\tg-sales\n"));
    }
    SECTION("a tenant that never synced is an error") {
        CHECK(run_dump(fx.cfg, "northwind", false, out, err) == exit_failure);
        CHECK_THAT(err.str(), Catch::Contains("configured, but never synced"));
    }
}
