// Alert texts, time zones and the RFC 5322 message: pure functions, no I/O but the TZ files.
#include "sync/alert_message.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "common/zone.h"
#include "tests/unit/alert_test_fixtures.h"
#include "tests/unit/temp_dir.h"

using namespace m365gate;
using namespace m365gate::sync;
using namespace m365gate::sync::test;

namespace {

void write_file(const std::filesystem::path& file, const std::string& bytes) {
    std::ofstream(file, std::ios::binary) << bytes;
}

// The body with its wrapping undone: a line break between two ASCII characters was a space,
// one next to a CJK character was nothing. Phrases are then found wherever the wrap fell.
std::string flat(const std::string& body) {
    std::string out;
    for (std::size_t i = 0; i < body.size(); ++i) {
        if (body[i] != '\n') {
            out.push_back(body[i]);
            continue;
        }
        std::size_t j = i + 1;
        while (j < body.size() && body[j] == ' ') {
            ++j;
        }
        const bool ascii_before = !out.empty() && static_cast<unsigned char>(out.back()) < 0x80;
        const bool ascii_after = j < body.size() && static_cast<unsigned char>(body[j]) < 0x80;
        out += ascii_before && ascii_after ? " " : "";
        i = j - 1;
    }
    return out;
}

}  // namespace

TEST_CASE("time zones come from the TZ database without touching TZ", "[alerts][time]") {
    struct Case {
        const char* zone;
        std::int64_t t;
        const char* want;
    };
    const Case cases[] = {
        {"Asia/Tokyo", jan31_2027, "2027-01-31 09:00 JST (Asia/Tokyo)"},
        {"UTC", jan31_2027, "2027-01-31 00:00 UTC"},
        {"Europe/Berlin", jan31_2027, "2027-01-31 01:00 CET (Europe/Berlin)"},
        {"Europe/Berlin", 1814443200, "2027-07-01 14:00 CEST (Europe/Berlin)"},
        // Past the TZif transitions: the POSIX footer rule decides.
        {"Europe/Berlin", 2224756800, "2040-07-01 14:00 CEST (Europe/Berlin)"},
        {"America/New_York", 2210241600, "2040-01-15 07:00 EST (America/New_York)"},
        {"Asia/Kolkata", jan31_2027, "2027-01-31 05:30 IST (Asia/Kolkata)"},
    };
    for (const auto& c : cases) {
        INFO(c.zone << " " << c.t);
        const auto tz = TimeZone::load(c.zone);
        REQUIRE(tz);
        CHECK(format_local(*tz, c.t) == c.want);
    }
    CHECK(format_rfc5322(tokyo(), jan31_2027) == "Sun, 31 Jan 2027 09:00:00 +0900");
    CHECK(format_rfc5322(TimeZone::utc(), jan31_2027 - 1) == "Sat, 30 Jan 2027 23:59:59 +0000");
    CHECK(format_utc(jan31_2027) == "2027-01-31T00:00:00Z");
}

TEST_CASE("a zone name is a relative name in the TZ database, nothing else", "[alerts][time]") {
    for (const char* bad : {"", "/etc/localtime", "../../etc/passwd", "Asia/../../etc/shadow",
                            "Asia//Tokyo", "Nowhere/Special", "Asia/Tokyo\n"}) {
        INFO(bad);
        CHECK_FALSE(TimeZone::load(bad));
    }
    for (const char* bad : {"", "../../etc/passwd", "Nowhere/Special"}) {
        CHECK_FALSE(zone_exists(bad));
    }
    CHECK(zone_exists("Asia/Tokyo"));
    CHECK(zone_exists("UTC"));
}

TEST_CASE("$TZDIR moves the TZ database for load and zone_exists alike", "[alerts][time]") {
    const m365gate::testing::TempDir dir;
    std::filesystem::create_directories(dir.path() / "Test");
    std::filesystem::copy_file("/usr/share/zoneinfo/Asia/Tokyo", dir.path() / "Test/Tokyo");
    write_file(dir.path() / "Test/Junk", "not a tzif file");
    write_file(dir.path() / "Test/Short", std::string("TZif2\0\0\0", 8));
    struct Restore {
        ~Restore() { ::unsetenv("TZDIR"); }
    } restore;
    ::setenv("TZDIR", dir.path().c_str(), 1);
    const auto tz = TimeZone::load("Test/Tokyo");
    REQUIRE(tz);
    CHECK(format_local(*tz, jan31_2027) == "2027-01-31 09:00 JST (Test/Tokyo)");
    CHECK(zone_exists("Test/Tokyo"));
    CHECK_FALSE(TimeZone::load("Asia/Tokyo"));  // not in this $TZDIR
    CHECK_FALSE(zone_exists("Asia/Tokyo"));
    for (const char* bad : {"Test/Junk", "Test/Short", "Test"}) {
        INFO(bad);
        CHECK_FALSE(TimeZone::load(bad));
        CHECK_FALSE(zone_exists(bad));
    }
    CHECK(TimeZone::load("UTC"));  // "UTC" needs no file
}

TEST_CASE("POSIX TZ rules cover both hemispheres and odd offsets", "[alerts][time]") {
    // Past 2037 the zones' footer rules ("<+0330>-3:30", "AEST-10AEDT,M10.1.0,M4.1.0/3") decide.
    const auto tehran = TimeZone::load("Asia/Tehran");
    REQUIRE(tehran);
    const LocalTime teh = tehran->to_local(2382480000);  // 2045-07-01T00:00:00Z
    CHECK(teh.offset == 3 * 3600 + 1800);
    CHECK(teh.abbreviation == "+0330");

    const auto sydney = TimeZone::load("Australia/Sydney");
    REQUIRE(sydney);
    CHECK(sydney->to_local(2368051200).offset == 11 * 3600);  // 2045-01-15: daylight time
    CHECK(sydney->to_local(2368051200).abbreviation == "AEDT");
    // Daylight time ends 2045-04-02 at 03:00 local daylight time (16:00Z the day before).
    CHECK(sydney->to_local(2374675140).abbreviation == "AEDT");
    CHECK(sydney->to_local(2374675200).abbreviation == "AEST");
    CHECK(format_local(*sydney, 2374675200) == "2045-04-02 02:00 AEST (Australia/Sydney)");
}

TEST_CASE("the expiry mail says what, when, what happens and how to renew (en)",
          "[alerts][message]") {
    const Config cfg = make_config("en");
    const Alert a = build_alert(cfg, make_tenant(), expiring_facts(), tokyo(), "mx1.example.net");
    CHECK(a.kind == AlertKind::secret_expiring);
    CHECK(a.severity == AlertSeverity::warning);
    CHECK(a.subject ==
          "[m365gate] contoso: client secret expires in 7 days (2027-01-31 09:00 JST)");
    for (const char* want :
         {"tenant \"contoso\"", "11111111-1111-1111-1111-111111111111",
          "22222222-2222-2222-2222-222222222222", "2027-01-31 09:00 JST (Asia/Tokyo)", "Days left:",
          "7 days", "the credential file", "recipient list of this tenant stops", "updating",
          "rejected as unknown recipients", "sync.stale_after (24h)", "milter.on_stale = reject",
          "App registrations → the app", "Certificates & secrets → New client secret",
          "not the Secret ID", "m365gatectl secret set --tenant contoso",
          "https://entra.microsoft.com/#view/Microsoft_AAD_RegisteredApps/ApplicationMenuBlade/"
          "~/Credentials/appId/22222222-2222-2222-2222-222222222222",
          "next reminder goes out 1 day before", "m365gate-sync on mx1.example.net"}) {
        INFO(want);
        CHECK(flat(a.body).find(want) != std::string::npos);
    }
    for (const auto& line : lines_of(a.body)) {
        if (line.find("https://") == std::string::npos &&
            line.find("m365gatectl secret set") == std::string::npos) {
            INFO(line);
            CHECK(line.size() <= 80);
        }
    }
}

TEST_CASE("the stale policy in force is the one described", "[alerts][message]") {
    Config cfg = make_config("en");
    cfg.decision.on_stale = Verdict::tempfail;
    cfg.sync.stale_after = std::chrono::hours(48);
    const Alert a = build_alert(cfg, make_tenant(), expiring_facts(), tokyo(), "h");
    CHECK(flat(a.body).find("sync.stale_after (2d)") != std::string::npos);
    CHECK(flat(a.body).find("(milter.on_stale = tempfail)") != std::string::npos);
    CHECK(flat(a.body).find("451 4.3.0") != std::string::npos);
}

TEST_CASE("the expiry mail in Japanese", "[alerts][message]") {
    const Config cfg = make_config("ja");
    const Alert a = build_alert(cfg, make_tenant(), expiring_facts(), tokyo(), "mx1.example.net");
    CHECK(a.subject ==
          "[m365gate] contoso: クライアントシークレットの有効期限まであと7日です（2027-01-31 "
          "09:00 JST）");
    for (const char* want :
         {"テナント「contoso」", "アプリケーション (クライアント) ID",
          "2027-01-31 09:00 JST (Asia/Tokyo)", "残り日数: 7日", "■ 有効期限が切れた場合の影響",
          "受信者リストが更新されなくなります", "「存在しない宛先」として拒否されます",
          "sync.stale_after（24時間）", "milter.on_stale = reject", "■ シークレットの更新手順",
          "[アプリの登録]", "[証明書とシークレット]", "[新しいクライアント シークレット]",
          "「シークレット ID」ではありません", "m365gatectl secret set --tenant contoso",
          "/Credentials/appId/22222222-2222-2222-2222-222222222222",
          "次回は有効期限の1日前に通知します", "自動送信されています",
          "sync.stale_after（24時間）を過ぎると、リストが古くなったときの扱いを決める "
          "milter.on_stale の設定が適用されます。"}) {
        INFO(want);
        // Not only once the wrapping is undone: Japanese lines break only after 。.
        CHECK(a.body.find(want) != std::string::npos);
    }
    CHECK(a.body.find("stale ポリシー") == std::string::npos);
    // The heading is not repeated as the first words of its paragraph.
    const auto lines = lines_of(a.body);
    const auto heading = std::find(lines.begin(), lines.end(), "■ 有効期限が切れた場合の影響");
    REQUIRE(heading != lines.end());
    REQUIRE(heading + 1 != lines.end());
    CHECK((heading + 1)->rfind("  有効期限が切れると、", 0) == 0);
    // Each line of that paragraph is whole sentences.
    for (auto it = heading + 1; it != lines.end() && !it->empty(); ++it) {
        INFO(*it);
        CHECK(it->size() >= 3);
        CHECK(it->compare(it->size() - 3, 3, "。") == 0);
    }
}

TEST_CASE("Japanese lines never break inside a word", "[alerts][message]") {
    const AlertKind kinds[] = {AlertKind::secret_expiring, AlertKind::secret_expired,
                               AlertKind::token_refused,   AlertKind::consent_missing,
                               AlertKind::sync_failing,    AlertKind::shrink_refused,
                               AlertKind::recovered,       AlertKind::secret_accepted};
    for (AlertKind k : kinds) {
        for (const char* code : {"7000222", "7000215", "700016", "53003"}) {
            INFO(to_string(k) << " " << code);
            AlertFacts f = expiring_facts();
            f.kind = k;
            f.error_kind = k == AlertKind::sync_failing ? "network" : "token";
            f.error_code = code;
            f.error_message = "Could not connect to server";
            f.missing_permission = "User.Read.All";
            f.addresses_before = 1000;
            f.addresses_after = 600;
            f.sync_kind = "full";
            f.failing_since = f.now - 7 * 3600;
            f.resolved = {"token:7000222"};
            const Alert a = build_alert(make_config("ja"), make_tenant(), f, tokyo(), "gw");
            // A word cut by a line break (有効期/限) is found in the unwrapped text only.
            for (const char* word :
                 {"有効期限", "クライアントシークレット", "受信者リスト", "アプリケーション",
                  "アクセス許可", "シークレット", "同期", "管理センター"}) {
                INFO(word);
                std::size_t in_body = 0, in_flat = 0;
                const std::string text = flat(a.body);
                for (auto p = a.body.find(word); p != std::string::npos;
                     p = a.body.find(word, p + 1)) {
                    ++in_body;
                }
                for (auto p = text.find(word); p != std::string::npos; p = text.find(word, p + 1)) {
                    ++in_flat;
                }
                CHECK(in_body == in_flat);
            }
            for (const auto& line : lines_of(a.body)) {
                CHECK(line.size() <= 998);
            }
        }
    }
}

TEST_CASE("each AADSTS code is explained in both languages", "[alerts][message]") {
    struct Case {
        const char* code;
        const char* en;
        const char* ja;
    };
    const Case cases[] = {
        {"7000222", "the client secret has expired", "クライアントシークレットの有効期限切れ"},
        {"7000215", "Secret ID", "「シークレット ID」"},
        {"700016", "the application was not found", "アプリケーションが見つかりません"},
        {"90002", "the tenant was not found", "テナントが見つかりません"},
        {"7000112", "the application is disabled", "アプリケーションが無効化されています"},
        {"53003", "AADSTS53003", "AADSTS53003"},
    };
    for (const auto& c : cases) {
        INFO(c.code);
        AlertFacts f;
        f.kind = AlertKind::token_refused;
        f.now = jan31_2027;
        f.error_kind = "token";
        f.error_code = c.code;
        f.error_message = std::string("AADSTS") + c.code + ": refused\r\nX-Injected: yes";
        f.last_success = jan31_2027 - day;
        const Alert en = build_alert(make_config("en"), make_tenant(), f, tokyo(), "h");
        const Alert ja = build_alert(make_config("ja"), make_tenant(), f, tokyo(), "h");
        CHECK(en.severity == AlertSeverity::error);
        CHECK((en.subject + flat(en.body)).find(c.en) != std::string::npos);
        CHECK((ja.subject + flat(ja.body)).find(c.ja) != std::string::npos);
        CHECK(flat(en.body).find("recipient list of this tenant is not updated") !=
              std::string::npos);
        CHECK(flat(ja.body).find("受信者リストは更新されません") != std::string::npos);
        CHECK(en.body.find('\r') == std::string::npos);
        CHECK(en.subject.find('\n') == std::string::npos);
    }
}

TEST_CASE("an expired secret and its token error read as such", "[alerts][message]") {
    AlertFacts f;
    f.kind = AlertKind::token_refused;
    f.error_kind = "token";
    f.error_code = "7000222";
    f.now = jan31_2027 + 3600;
    f.last_success = jan31_2027 - 600;
    const Alert a = build_alert(make_config("en"), make_tenant(), f, tokyo(), "h");
    CHECK(a.subject ==
          "[m365gate] contoso: sign-in refused: the client secret has expired (AADSTS7000222)");
    CHECK(flat(a.body).find("Entra ID refused the client secret because it has expired") !=
          std::string::npos);
    CHECK(flat(a.body).find("New client secret") != std::string::npos);

    f.after_secret_change = true;
    f.error_code = "7000215";
    const Alert b = build_alert(make_config("en"), make_tenant(), f, tokyo(), "h");
    CHECK(b.subject.find("the new client secret does not work") != std::string::npos);
}

TEST_CASE("a tenant that never synced is described as having no list", "[alerts][message]") {
    AlertFacts f;
    f.kind = AlertKind::sync_failing;
    f.now = jan31_2027;
    f.failing_since = jan31_2027 - 7 * 3600;
    f.error_kind = "network";
    f.error_message = "Could not connect";
    const Alert a = build_alert(make_config("en"), make_tenant(), f, tokyo(), "h");
    CHECK(a.subject == "[m365gate] contoso: no successful sync for 6h");
    CHECK(flat(a.body).find("never synced successfully") != std::string::npos);
    CHECK(flat(a.body).find("milter.on_cache_unavailable") != std::string::npos);
    CHECK(flat(a.body).find("check DNS") != std::string::npos);
}

TEST_CASE("every kind builds in both languages with a webhook payload", "[alerts][message]") {
    const AlertKind kinds[] = {AlertKind::secret_expiring, AlertKind::secret_expired,
                               AlertKind::token_refused,   AlertKind::consent_missing,
                               AlertKind::sync_failing,    AlertKind::shrink_refused,
                               AlertKind::recovered,       AlertKind::secret_accepted};
    for (const char* lang : {"en", "ja"}) {
        for (AlertKind k : kinds) {
            INFO(lang << " " << to_string(k));
            AlertFacts f = expiring_facts();
            f.kind = k;
            f.error_code = "7000222";
            f.missing_permission = "User.Read.All";
            f.addresses_before = 1000;
            f.addresses_after = 600;
            f.failing_since = f.now - 7 * 3600;
            f.resolved = {"token:7000222", "sync_failing:123"};
            const Alert a = build_alert(make_config(lang), make_tenant(), f, tokyo(), "gw");
            CHECK(a.subject.rfind("[m365gate] contoso: ", 0) == 0);
            CHECK_FALSE(a.body.empty());
            const auto j = nlohmann::json::parse(a.json);
            CHECK(j["event"] == to_string(k));
            CHECK(j["tenant"] == "contoso");
            CHECK(j["client_id"] == "22222222-2222-2222-2222-222222222222");
            CHECK(j["language"] == lang);
            CHECK(j["subject"] == a.subject);
            CHECK(j["text"].get<std::string>().find(a.subject) == 0);
            if (k == AlertKind::secret_expiring) {
                CHECK(j["days_left"] == 7);
                CHECK(j["threshold_days"] == 7);
                CHECK(j["expires"] == "2027-01-31T00:00:00Z");
                CHECK(j["expires_local"] == "2027-01-31 09:00 JST (Asia/Tokyo)");
            } else {
                CHECK(j["days_left"].is_null());
            }
            if (k == AlertKind::shrink_refused) {
                CHECK(j["addresses_before"] == 1000);
                CHECK(a.subject.find("400") != std::string::npos);
            }
            if (k == AlertKind::consent_missing) {
                CHECK(a.subject.find("User.Read.All") != std::string::npos);
            }
        }
    }
}

TEST_CASE("a refused shrink names the kind of sync and the percentage the log shows",
          "[alerts][message]") {
    CHECK(shrink_percent(3, 1) == 67);  // the log line's rounding: 2 of 3 is 67 %, not 66
    CHECK(shrink_percent(1000, 500) == 50);
    CHECK(shrink_percent(200, 199) == 1);  // 0.5 % rounds up
    CHECK(shrink_percent(1000, 1000) == 0);
    CHECK(shrink_percent(0, 0) == 0);
    CHECK(fraction_percent(0.25) == 25);

    AlertFacts f;
    f.kind = AlertKind::shrink_refused;
    f.now = jan31_2027;
    f.last_success = jan31_2027 - 600;
    f.error_kind = "shrink";
    f.addresses_before = 21;
    f.addresses_after = 7;
    f.sync_kind = "delta";
    const Alert en = build_alert(make_config("en"), make_tenant(), f, tokyo(), "h");
    CHECK(en.subject ==
          "[m365gate] contoso: delta sync not applied: it would remove 14 of 21 addresses");
    CHECK(flat(en.body).find("A delta sync of tenant \"contoso\" would leave 7 addresses, 14 "
                             "(67%) fewer than the 21 in the store") != std::string::npos);
    CHECK(flat(en.body).find("full sync") == std::string::npos);
    CHECK(nlohmann::json::parse(en.json)["sync_kind"] == "delta");
    CHECK(log_summary(make_tenant(), f) ==
          "delta sync would shrink the list too much; not applied");
    const Alert ja = build_alert(make_config("ja"), make_tenant(), f, tokyo(), "h");
    CHECK(ja.subject.find("差分同期の結果を適用していません") != std::string::npos);
    CHECK(flat(ja.body).find("差分同期を適用すると、アドレスは 7 件になります") !=
          std::string::npos);
    CHECK(flat(ja.body).find("14 件（67%）少なく") != std::string::npos);
    CHECK(flat(ja.body).find("完全同期") == std::string::npos);

    f.sync_kind = "full";
    const Alert full = build_alert(make_config("en"), make_tenant(), f, tokyo(), "h");
    CHECK(full.subject.find("full sync not applied") != std::string::npos);
    CHECK(flat(full.body).find("A full sync of tenant \"contoso\" returned 7 addresses") !=
          std::string::npos);
    const Alert full_ja = build_alert(make_config("ja"), make_tenant(), f, tokyo(), "h");
    CHECK(flat(full_ja.body).find("完全同期で取得したアドレスは 7 件です") != std::string::npos);
}

TEST_CASE("network text quoted in a body is bounded and printable", "[alerts][mail]") {
    AlertFacts f;
    f.kind = AlertKind::sync_failing;
    f.now = jan31_2027;
    f.failing_since = jan31_2027 - 7 * 3600;
    f.last_success = jan31_2027 - 8 * 3600;
    f.error_kind = "graph";
    f.error_message = std::string(5000, 'x') + "\x01\x1b[31m";
    const Alert a = build_alert(make_config("en"), make_tenant(), f, tokyo(), "h");
    CHECK(flat(a.body).find('\x1b') == std::string::npos);
    for (const auto& line : lines_of(a.body)) {
        CHECK(line.size() <= 998);
    }
}

TEST_CASE("a damaged store is one alert for the whole gateway, in both languages",
          "[alerts][message]") {
    AlertFacts f;
    f.kind = AlertKind::store_damaged;
    f.now = jan31_2027;
    f.error_kind = "store";
    f.error_message = "page 17: key out of order\x01";
    f.store_path = "/var/lib/m365gate";
    f.moved_to = "/var/lib/m365gate/broken-20270131T000000Z";
    const Alert en = build_alert(make_config("en"), TenantConfig{}, f, tokyo(), "gw");
    CHECK(en.subject == "[m365gate] recipient store damaged, being rebuilt");
    CHECK(en.severity == AlertSeverity::error);
    const std::string body = flat(en.body);
    CHECK(body.find("/var/lib/m365gate/broken-20270131T000000Z") != std::string::npos);
    CHECK(body.find("page 17: key out of order?") != std::string::npos);  // made printable
    CHECK(body.find("a temporary failure (451 4.3.0)") != std::string::npos);
    CHECK(body.find("Check the disk") != std::string::npos);
    const auto j = nlohmann::json::parse(en.json);
    CHECK(j["event"] == "store_damaged");
    CHECK(j["tenant"] == "");
    CHECK(j["credentials_url"].is_null());
    CHECK(j["error_kind"] == "store");
    const Alert ja = build_alert(make_config("ja"), TenantConfig{}, f, tokyo(), "gw");
    CHECK(ja.subject == "[m365gate] 受信者ストアの破損を検出し、再構築しています");
    CHECK(flat(ja.body).find("一時エラー（451 4.3.0）") != std::string::npos);
    CHECK(log_summary(TenantConfig{}, f) ==
          "recipient store damaged; moved aside and rebuilt by a full sync");
}

TEST_CASE(
    "a local expiry date that is not Graph's is one notice with both dates, in both "
    "languages",
    "[alerts][message]") {
    AlertFacts f;
    f.kind = AlertKind::secret_expiry_mismatch;
    f.now = jan31_2027;
    f.secret_expires = 1825027200;  // 2027-11-01T00:00:00Z, Graph's
    f.secret_expires_source = "graph";
    f.secret_expires_local = 1797552000;  // 2026-12-18T00:00:00Z, the credential file's
    f.secret_expires_local_source = "credential_file";
    const Alert en = build_alert(make_config("en"), make_tenant(), f, tokyo(), "gw");
    CHECK(en.subject ==
          "[m365gate] contoso: the local expiry date of the client secret is not Graph's");
    CHECK(en.severity == AlertSeverity::warning);
    const std::string body = flat(en.body);
    CHECK(body.find("the credential file (expires = ...) (2026-12-18 09:00 JST)") !=
          std::string::npos);
    CHECK(body.find("(2027-11-01 09:00 JST)") != std::string::npos);
    CHECK(body.find("expired") == std::string::npos);
    const auto j = nlohmann::json::parse(en.json);
    CHECK(j["event"] == "secret_expiry_mismatch");
    CHECK(j["expires"] == "2027-11-01T00:00:00Z");
    CHECK(j["local_expires"] == "2026-12-18T00:00:00Z");
    CHECK(j["local_expires_source"] == "credential_file");
    const Alert ja = build_alert(make_config("ja"), make_tenant(), f, tokyo(), "gw");
    CHECK(ja.subject ==
          "[m365gate] contoso: クライアントシークレットのローカルの有効期限が Graph "
          "と一致しません");
    CHECK(flat(ja.body).find("資格情報ファイル（expires の値）") != std::string::npos);
}

TEST_CASE("an unknown expiry is one notice saying how to make it known, in both languages",
          "[alerts][message]") {
    AlertFacts f;
    f.kind = AlertKind::secret_expiry_unknown;
    f.now = jan31_2027;
    const Alert en = build_alert(make_config("en"), make_tenant(), f, tokyo(), "gw");
    CHECK(en.subject ==
          "[m365gate] contoso: expiry of the client secret unknown: no reminder will go out");
    CHECK(flat(en.body).find("Application.Read.All") != std::string::npos);
    CHECK(flat(en.body).find("m365gatectl secret set --tenant contoso --expires") !=
          std::string::npos);
    const auto j = nlohmann::json::parse(en.json);
    CHECK(j["event"] == "secret_expiry_unknown");
    CHECK(j["expires"].is_null());
    CHECK(j["local_expires"].is_null());
    const Alert ja = build_alert(make_config("ja"), make_tenant(), f, tokyo(), "gw");
    CHECK(flat(ja.body).find("Application.Read.All") != std::string::npos);
    CHECK(log_summary(make_tenant(), f) ==
          "secret expiry unknown: grant Application.Read.All or set expires");
}

TEST_CASE("a certificate's expiry and refusals say certificate, in both languages",
          "[alerts][message][certificate]") {
    TenantConfig tenant = make_tenant();
    tenant.client_secret_file.clear();
    tenant.client_certificate_file = "/etc/m365gate/secrets/contoso.pem";
    AlertFacts f = expiring_facts();
    f.secret_expires_source = "certificate";
    const Alert en = build_alert(make_config("en"), tenant, f, tokyo(), "h");
    const Alert ja = build_alert(make_config("ja"), tenant, f, tokyo(), "h");
    CHECK(en.subject == "[m365gate] contoso: certificate expires in 7 days (2027-01-31 09:00 JST)");
    for (const char* want :
         {"The certificate m365gate uses to sign in", "the certificate (notAfter)",
          "How to renew the certificate:", "m365gatectl cert new --tenant contoso",
          "Upload certificate", "m365gatectl cert set --tenant contoso"}) {
        INFO(want);
        CHECK(flat(en.body).find(want) != std::string::npos);
    }
    CHECK(flat(en.body).find("New client secret") == std::string::npos);
    CHECK(ja.subject.find("証明書の有効期限まであと") != std::string::npos);
    CHECK(flat(ja.body).find("証明書の更新手順") != std::string::npos);

    f.kind = AlertKind::secret_expired;
    CHECK(build_alert(make_config("en"), tenant, f, tokyo(), "h").subject ==
          "[m365gate] contoso: certificate EXPIRED (2027-01-31 09:00 JST)");

    struct Case {
        const char* code;
        const char* en;
        const char* ja;
    };
    const Case cases[] = {
        {"700027", "the certificate is not accepted (AADSTS700027)", "証明書が受け付けられません"},
        {"certificate_expired", "the certificate has expired (certificate_expired)",
         "証明書の有効期限切れ"},
        {"700024", "outside its valid time (AADSTS700024)", "有効期間外"},
        {"700023", "names another audience (AADSTS700023)", "対象が違います"},
    };
    for (const auto& c : cases) {
        INFO(c.code);
        AlertFacts t;
        t.kind = AlertKind::token_refused;
        t.now = jan31_2027;
        t.error_kind = "token";
        t.error_code = c.code;
        t.last_success = jan31_2027 - day;
        CHECK(build_alert(make_config("en"), tenant, t, tokyo(), "h").subject.find(c.en) !=
              std::string::npos);
        CHECK(build_alert(make_config("ja"), tenant, t, tokyo(), "h").subject.find(c.ja) !=
              std::string::npos);
        CHECK(is_permanent_token_error(c.code));
    }
}

TEST_CASE("after a reload with a new certificate the notices say certificate",
          "[alerts][message][certificate]") {
    TenantConfig tenant = make_tenant();
    tenant.client_secret_file.clear();
    tenant.client_certificate_file = "/etc/m365gate/secrets/contoso.pem";
    AlertFacts f;
    f.kind = AlertKind::token_refused;
    f.now = jan31_2027;
    f.error_kind = "token";
    f.error_code = "700027";
    f.after_secret_change = true;
    const Alert refused = build_alert(make_config("en"), tenant, f, tokyo(), "h");
    CHECK(refused.subject.find("the new certificate does not work") != std::string::npos);
    CHECK(flat(refused.body).find("client_certificate_file.previous") != std::string::npos);
    CHECK(log_summary(tenant, f) == "new certificate refused: the certificate is not accepted");
    f.kind = AlertKind::secret_accepted;
    f.error_code.clear();
    f.secret_expires = jan31_2027;
    f.secret_expires_source = "certificate";
    const Alert en = build_alert(make_config("en"), tenant, f, tokyo(), "h");
    CHECK(en.subject == "[m365gate] contoso: new certificate accepted");
    CHECK(flat(en.body).find("the certificate (notAfter)") != std::string::npos);
    const Alert ja = build_alert(make_config("ja"), tenant, f, tokyo(), "h");
    CHECK(ja.subject.find("新しい証明書が受け付けられました") != std::string::npos);
}
