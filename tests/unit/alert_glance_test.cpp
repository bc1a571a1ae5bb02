// Alerts an admin can act on at a glance: the app's and the secret's names from Graph, the
// gateway's name, the clock time the list turns stale, links into the tenant's own cloud
// (the API permissions page for missing consent), both languages in one mail, and the
// rendered mails kept as golden files a person can read.
//
// The golden files are tests/golden/alerts/*.eml. After a deliberate change of a text,
// regenerate them and read the diff:
//     M365GATE_UPDATE_GOLDEN=1 build-test/tests/alerts_test '[golden]'
// tests/tools/check_eml.py (ctest alerts_golden_mime) parses each as MIME.
#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "sync/alert_mail.h"
#include "sync/alert_message.h"
#include "tests/unit/alert_test_fixtures.h"

using namespace m365gate;
using namespace m365gate::sync;
using namespace m365gate::sync::test;

namespace {

// As Graph names the app and the secret in use (sync/secret_expiry.cpp carries them).
AlertFacts with_graph_names(AlertFacts f) {
    f.app_name = "m365gate 受信者チェック (mx1)";
    f.secret_name = "gateway 2027";
    f.secret_key_id = "5c1f7a2e-3b4d-4e6f-8a9b-0c1d2e3f4a5b";
    return f;
}

AlertFacts consent_facts() {
    AlertFacts f = with_graph_names(expiring_facts());
    f.kind = AlertKind::consent_missing;
    f.secret_expires = 0;
    f.error_kind = "consent";
    f.error_code = "Authorization_RequestDenied";
    f.missing_permission = "GroupMember.Read.All";
    f.failing_since = f.now - 600;
    return f;
}

AlertFacts stale_reminder_facts() {
    AlertFacts f = with_graph_names(expiring_facts());
    f.kind = AlertKind::list_stale;
    f.secret_expires = 0;
    f.last_success = jan31_2027 - 2 * day;
    f.failing_since = f.last_success + 300;
    f.now = jan31_2027;
    f.error_kind = "network";
    f.error_message = "Could not resolve host: graph.microsoft.us";
    f.reminder = true;
    return f;
}

TenantConfig us_government_tenant() {
    TenantConfig t = make_tenant();
    t.login_endpoint = "https://login.microsoftonline.us";
    t.graph_endpoint = "https://graph.microsoft.us";
    return t;
}

// The text with every run of spaces and line breaks as one space: wrapping and the padding
// of labels do not matter to what it says.
std::string flat(const std::string& text) {
    std::string out;
    for (char c : text) {
        const bool space = c == '\n' || c == ' ';
        if (!space || (!out.empty() && out.back() != ' ')) {
            out.push_back(space ? ' ' : c);
        }
    }
    return out;
}

bool has(const std::string& text, const std::string& want) {
    return flat(text).find(want) != std::string::npos;
}

std::string mail_of(const Config& cfg, const TenantConfig& tenant, const AlertFacts& facts) {
    const Alert a = build_alert(cfg, tenant, facts, tokyo(), "mx1.example.net");
    MailEnvelope env;
    env.from = "m365gate@mx1.example.net";
    env.to = mail_recipients(cfg.alerts, tenant);
    env.date = facts.now;
    env.message_id = make_message_id(facts.now, "0123456789abcdef", "mx1.example.net");
    return build_mail(env, a, tenant.name, tokyo());
}

std::filesystem::path golden_dir() {
    const char* source = std::getenv("M365GATE_SOURCE_DIR");
    REQUIRE(source != nullptr);
    return std::filesystem::path(source) / "tests" / "golden" / "alerts";
}

std::string read_text(const std::filesystem::path& file) {
    std::ifstream in(file, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

}  // namespace

TEST_CASE("the mail names the app and the secret as Graph does, when Graph could be read",
          "[alerts][glance]") {
    const AlertFacts named = with_graph_names(expiring_facts());
    const Alert en = build_alert(make_config("en"), make_tenant(), named, tokyo(), "mx1");
    CHECK(has(en.body, "Application name: m365gate 受信者チェック (mx1)"));
    CHECK(has(en.body,
              "Client secret: \"gateway 2027\", Secret ID "
              "5c1f7a2e-3b4d-4e6f-8a9b-0c1d2e3f4a5b"));
    const Alert ja = build_alert(make_config("ja"), make_tenant(), named, tokyo(), "mx1");
    CHECK(has(ja.body, "アプリケーション名: m365gate 受信者チェック (mx1)"));
    CHECK(has(ja.body, "クライアントシークレット: 「gateway 2027」、シークレット ID: 5c1f7a2e"));
    const auto j = nlohmann::json::parse(en.json);
    CHECK(j["app_name"] == "m365gate 受信者チェック (mx1)");
    CHECK(j["secret_name"] == "gateway 2027");
    CHECK(j["secret_key_id"] == "5c1f7a2e-3b4d-4e6f-8a9b-0c1d2e3f4a5b");

    // Unknown to Graph (no Application.Read.All): no empty lines pretending to know.
    const Alert plain =
        build_alert(make_config("en"), make_tenant(), expiring_facts(), tokyo(), "mx1");
    CHECK_FALSE(has(plain.body, "Application name"));
    CHECK_FALSE(has(plain.body, "Client secret:"));
    CHECK(nlohmann::json::parse(plain.json)["app_name"].is_null());
}

TEST_CASE("links go to the portal of the tenant's cloud, consent to API permissions",
          "[alerts][glance]") {
    struct Case {
        const char* login;
        const char* portal_setting;
        const char* want;
    };
    const Case cases[] = {
        {"https://login.microsoftonline.com", "", "https://entra.microsoft.com"},
        {"https://login.microsoftonline.us", "", "https://portal.azure.us"},
        {"https://LOGIN.chinacloudapi.cn", "", "https://portal.azure.cn"},
        {"https://login.partner.microsoftonline.cn", "", "https://portal.azure.cn"},
        {"https://127.0.0.1:8443", "", "https://entra.microsoft.com"},
        {"https://login.microsoftonline.us", "https://portal.example.net",
         "https://portal.example.net"},
    };
    for (const auto& c : cases) {
        INFO(c.login << " " << c.portal_setting);
        Config cfg = make_config("en");
        cfg.alerts.portal_url = c.portal_setting;
        TenantConfig t = make_tenant();
        t.login_endpoint = c.login;
        CHECK(portal_url(cfg.alerts, t) == c.want);
    }
    const Config cfg = make_config("en");
    const Alert consent = build_alert(cfg, us_government_tenant(), consent_facts(), tokyo(), "mx1");
    CHECK(has(consent.body, "API permissions page of the application:"));
    CHECK(has(consent.body,
              "https://portal.azure.us/#view/Microsoft_AAD_RegisteredApps/"
              "ApplicationMenuBlade/~/CallAnAPI/appId/"
              "22222222-2222-2222-2222-222222222222"));
    CHECK_FALSE(has(consent.body, "/Credentials/"));
    const auto j = nlohmann::json::parse(consent.json);
    CHECK(j["api_permissions_url"] ==
          "https://portal.azure.us/#view/Microsoft_AAD_RegisteredApps/ApplicationMenuBlade/~/"
          "CallAnAPI/appId/22222222-2222-2222-2222-222222222222");
    CHECK(j["credentials_url"] ==
          "https://portal.azure.us/#view/Microsoft_AAD_RegisteredApps/ApplicationMenuBlade/~/"
          "Credentials/appId/22222222-2222-2222-2222-222222222222");
}

TEST_CASE("a failure says at what clock time the list turns stale", "[alerts][glance]") {
    AlertFacts f = expiring_facts();
    f.kind = AlertKind::sync_failing;
    f.secret_expires = 0;
    f.last_success = jan31_2027;  // 09:00 JST; stale_after 24h
    f.failing_since = jan31_2027 + 300;
    f.now = jan31_2027 + 6 * 3600;
    f.error_kind = "network";
    const Alert en = build_alert(make_config("en"), make_tenant(), f, tokyo(), "mx1");
    CHECK(has(en.body, "sync.stale_after (24h), at 2027-02-01 09:00 JST, the stale policy"));
    const Alert ja = build_alert(make_config("ja"), make_tenant(), f, tokyo(), "mx1");
    CHECK(has(ja.body, "sync.stale_after（24時間）を過ぎる 2027-02-01 09:00 JST 以降は"));

    const Alert stale =
        build_alert(make_config("en"), make_tenant(), stale_reminder_facts(), tokyo(), "mx1");
    CHECK(stale.subject ==
          "[m365gate] contoso: REMINDER: recipient list is STALE since 2027-01-30 09:00 JST");
    CHECK(has(stale.body, "turned stale at 2027-01-30 09:00 JST"));
    CHECK(has(stale.body, "This notice is repeated every 24h while it lasts."));
    const auto j = nlohmann::json::parse(stale.json);
    CHECK(j["event"] == "list_stale");
    CHECK(j["reminder"] == true);
    CHECK(j["stale_at"] == "2027-01-30T00:00:00Z");
}

TEST_CASE("en+ja is one mail: Japanese first, then English, one signature", "[alerts][glance]") {
    const Config cfg = make_config("en+ja");
    const Alert a = build_alert(cfg, make_tenant(), expiring_facts(), tokyo(), "mx1.example.net");
    CHECK(a.subject ==
          "[m365gate] contoso: クライアントシークレットの有効期限まであと7日です（2027-01-31 "
          "09:00 JST） / client secret expires in 7 days (2027-01-31 09:00 JST)");
    const auto ja_at = a.body.find("m365gate がテナント「contoso」");
    const auto en_at = a.body.find("The client secret m365gate uses");
    REQUIRE(ja_at != std::string::npos);
    REQUIRE(en_at != std::string::npos);
    CHECK(ja_at < en_at);
    int signatures = 0;
    for (const auto& line : lines_of(a.body)) {
        signatures += line == "-- " ? 1 : 0;
    }
    CHECK(signatures == 1);
    CHECK(a.body.find("-- \n") > en_at);  // both footers after the English text
    CHECK(nlohmann::json::parse(a.json)["language"] == "en+ja");

    // A tenant's own language wins over alerts.language.
    TenantConfig t = make_tenant();
    t.language = "en";
    const Alert en = build_alert(cfg, t, expiring_facts(), tokyo(), "mx1.example.net");
    CHECK(en.body.find("m365gate がテナント") == std::string::npos);
    CHECK(nlohmann::json::parse(en.json)["language"] == "en");
}

TEST_CASE("the rendered mails match the golden files in tests/golden/alerts", "[alerts][golden]") {
    struct Case {
        const char* name;
        TenantConfig tenant;
        AlertFacts facts;
    };
    const Case cases[] = {
        {"secret_expiring", make_tenant(), with_graph_names(expiring_facts())},
        {"consent_missing", us_government_tenant(), consent_facts()},
        {"list_stale_reminder", make_tenant(), stale_reminder_facts()},
    };
    const bool update = std::getenv("M365GATE_UPDATE_GOLDEN") != nullptr;
    for (const auto& c : cases) {
        for (const char* language : {"en", "ja", "en+ja"}) {
            const std::string suffix = std::string(language) == "en+ja" ? "en-ja" : language;
            const auto file = golden_dir() / (std::string(c.name) + "." + suffix + ".eml");
            const std::string mail = mail_of(make_config(language), c.tenant, c.facts);
            INFO(file.string());
            if (update) {
                std::ofstream(file, std::ios::binary) << mail;
            }
            REQUIRE(std::filesystem::exists(file));
            CHECK(read_text(file) == mail);
        }
    }
}
