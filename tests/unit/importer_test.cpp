// tests/unit/importer_test.cpp - which Graph addresses become recipients (DESIGN "The
// recipient decision", last paragraphs) and the delta merge rule for absent properties.
#include "sync/importer.h"

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdint>
#include <ctime>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>

#include "sync/graph.h"
#include "sync/http.h"
#include "sync/sync_error.h"
#include "sync/token.h"
#include "sync/worker.h"

using m365gate::sync::collection_of;
using m365gate::sync::DirectoryObject;
using m365gate::sync::DomainSet;
using m365gate::sync::in_managed_domain;
using m365gate::sync::managed_domains_from_graph;
using m365gate::sync::merge_delta_addresses;
using m365gate::sync::object_addresses;
using m365gate::sync::parse_directory_object;
using m365gate::sync::permission_for;
using m365gate::sync::same_origin;
using m365gate::sync::smtp_proxy_address;
using m365gate::sync::SyncError;
using json = nlohmann::json;

namespace {

const DomainSet managed{"contoso.example", "contoso2.example"};

std::vector<std::string> addresses(const char* item_json, bool include_upn = false) {
    return object_addresses(parse_directory_object(json::parse(item_json)), include_upn, managed);
}

}  // namespace

TEST_CASE("smtp_proxy_address takes SMTP types only, in any case, blanks trimmed", "[importer]") {
    struct Case {
        const char* label;
        const char* proxy;
        const char* want;  // null: not an SMTP address
    };
    const Case cases[] = {
        {"primary", "SMTP:Bob@Contoso.example", "Bob@Contoso.example"},
        {"secondary", "smtp:bob@contoso.example", "bob@contoso.example"},
        {"mixed case type", "Smtp:bob@contoso.example", "bob@contoso.example"},
        {"space after colon", "SMTP: bob@contoso.example", "bob@contoso.example"},
        {"tab and trailing blank", "smtp:\tbob@contoso.example ", "bob@contoso.example"},
        {"X500", "X500:/o=ExchangeLabs/ou=Exchange/cn=Recipients/cn=bob", nullptr},
        {"x500 lower", "x500:/o=First Organization/cn=bob", nullptr},
        {"SIP", "SIP:bob@contoso.example", nullptr},
        {"SPO", "SPO:SPO_1234@SPO_5678", nullptr},
        {"EUM", "EUM:1234;phone-context=x", nullptr},
        {"no type", "bob@contoso.example", nullptr},
        {"type only", "SMTP:", nullptr},
        {"longer type that starts with smtp", "SMTPX:bob@contoso.example", nullptr},
        {"empty", "", nullptr},
    };
    for (const auto& c : cases) {
        INFO(c.label);
        const auto got = smtp_proxy_address(c.proxy);
        if (c.want == nullptr) {
            CHECK_FALSE(got);
            continue;
        }
        REQUIRE(got);
        CHECK(*got == c.want);
    }
}

TEST_CASE("object_addresses keeps mail and SMTP proxies in managed domains", "[importer]") {
    struct Case {
        const char* label;
        const char* item;
        bool include_upn;
        std::vector<std::string> want;
    };
    const std::vector<Case> cases = {
        {"mail and aliases, canonicalised and deduplicated",
         R"({"id":"1","mail":"Bob@Contoso.example","userPrincipalName":"bob@contoso.example",
             "proxyAddresses":["SMTP:Bob@contoso.example","smtp:robert@contoso.example",
                               "Smtp:bob@CONTOSO2.example"]})",
         false,
         {"bob@contoso.example", "bob@contoso2.example", "robert@contoso.example"}},
        {"X500, SIP and SPO are no recipients",
         R"({"id":"1","mail":null,"proxyAddresses":["X500:/o=x/cn=bob","SIP:bob@contoso.example",
             "SPO:SPO_1@SPO_2","smtp:bob@contoso.example"]})",
         false,
         {"bob@contoso.example"}},
        {"SMTP: with a space",
         R"({"id":"1","proxyAddresses":["SMTP: alice@contoso.example"]})",
         false,
         {"alice@contoso.example"}},
        {"out-of-domain addresses are dropped",
         R"({"id":"1","mail":"bob@fabrikam.example","proxyAddresses":["smtp:bob@contoso.onmicrosoft.com",
             "smtp:bob@contoso.example.evil","SMTP:bob@contoso.example"]})",
         false,
         {"bob@contoso.example"}},
        {"UPN ignored by default",
         R"({"id":"1","mail":null,"proxyAddresses":[],"userPrincipalName":"carol@contoso.example"})",
         false,
         {}},
        {"UPN counted with include_upn",
         R"({"id":"1","mail":null,"proxyAddresses":[],"userPrincipalName":"Carol@contoso.example"})",
         true,
         {"carol@contoso.example"}},
        {"guest: external mail and #EXT# UPN are never recipients",
         R"({"id":"1","mail":"dave@fabrikam.example",
             "userPrincipalName":"dave_fabrikam.example#EXT#@contoso.example","proxyAddresses":[]})",
         true,
         {}},
        {"shared mailbox (account disabled) is a recipient",
         R"({"id":"1","mail":"info@contoso.example","accountEnabled":false,
             "proxyAddresses":["SMTP:info@contoso.example"]})",
         false,
         {"info@contoso.example"}},
        {"null mail and null proxyAddresses",
         R"({"id":"1","mail":null,"proxyAddresses":null})",
         false,
         {}},
        {"address that does not parse is skipped",
         R"({"id":"1","proxyAddresses":["smtp:no-at-sign","smtp:@contoso.example","SMTP:ok@contoso.example"]})",
         false,
         {"ok@contoso.example"}},
    };
    for (const auto& c : cases) {
        INFO(c.label);
        CHECK(addresses(c.item, c.include_upn) == c.want);
    }
}

TEST_CASE("parse_directory_object tells absent from null and refuses wrong types", "[importer]") {
    const auto o =
        parse_directory_object(json::parse(R"({"id":"g1","mail":null,"mailEnabled":false})"));
    CHECK(o.has_mail);
    CHECK_FALSE(o.mail);
    CHECK_FALSE(o.has_proxy_addresses);
    CHECK_FALSE(o.has_upn);
    REQUIRE(o.mail_enabled);
    CHECK_FALSE(*o.mail_enabled);

    const auto removed =
        parse_directory_object(json::parse(R"({"id":"u1","@removed":{"reason":"deleted"}})"));
    CHECK(removed.removed);

    const char* bad[] = {
        R"({"mail":"a@contoso.example"})",
        R"({"id":42})",
        R"({"id":""})",
        R"({"id":"1","mail":7})",
        R"({"id":"1","proxyAddresses":"smtp:a@contoso.example"})",
        R"({"id":"1","proxyAddresses":[1,2]})",
        R"({"id":"1","mailEnabled":"yes"})",
        R"(["not","an","object"])",
    };
    for (const char* b : bad) {
        INFO(b);
        CHECK_THROWS_AS(parse_directory_object(json::parse(b)), SyncError);
    }
}

TEST_CASE("a group that is not mail-enabled is no recipient", "[importer]") {
    const auto o = parse_directory_object(
        json::parse(R"({"id":"g","mail":null,"mailEnabled":false,"proxyAddresses":[]})"));
    CHECK(object_addresses(o, false, managed).empty());
    REQUIRE(o.mail_enabled);
    CHECK_FALSE(*o.mail_enabled);  // the importer skips (full) or removes (delta) it
}

TEST_CASE("delta merge: absent properties keep what the object had", "[importer][delta]") {
    const std::vector<std::string> previous{"bob@contoso.example", "robert@contoso.example"};
    struct Case {
        const char* label;
        const char* item;
        bool include_upn;
        std::optional<std::vector<std::string>> want;  // nullopt: leave the object as it is
    };
    const std::vector<Case> cases = {
        {"all properties present: replaced (rename)",
         R"({"id":"1","mail":"bobby@contoso.example","userPrincipalName":"x@contoso.example",
             "proxyAddresses":["SMTP:bobby@contoso.example"]})",
         false, std::vector<std::string>{"bobby@contoso.example"}},
        {"no address property at all: unchanged", R"({"id":"1","displayName":"Bob"})", false,
         std::nullopt},
        {"proxyAddresses absent: new mail added, old kept",
         R"({"id":"1","mail":"bobby@contoso.example"})", false,
         std::vector<std::string>{"bob@contoso.example", "bobby@contoso.example",
                                  "robert@contoso.example"}},
        {"null clears: both present and null removes everything",
         R"({"id":"1","mail":null,"proxyAddresses":null})", false, std::vector<std::string>{}},
        {"include_upn: UPN absent means incomplete",
         R"({"id":"1","mail":null,"proxyAddresses":["SMTP:bobby@contoso.example"]})", true,
         std::vector<std::string>{"bob@contoso.example", "bobby@contoso.example",
                                  "robert@contoso.example"}},
    };
    for (const auto& c : cases) {
        INFO(c.label);
        const auto got = merge_delta_addresses(parse_directory_object(json::parse(c.item)),
                                               previous, c.include_upn, managed);
        CHECK(got == c.want);
    }
}

TEST_CASE("managed domains from Graph: verified and with the Email service", "[importer]") {
    const json domains = json::parse(R"([
        {"id":"Contoso.example","isVerified":true,"supportedServices":["Email","OfficeCommunicationsOnline"]},
        {"id":"contoso.onmicrosoft.com","isVerified":true,"isInitial":true,"supportedServices":["Email"]},
        {"id":"sp-only.example","isVerified":true,"supportedServices":["Sharepoint"]},
        {"id":"unverified.example","isVerified":false,"supportedServices":["Email"]},
        {"id":"noservices.example","isVerified":true}
    ])");
    CHECK(managed_domains_from_graph(domains) ==
          DomainSet{"contoso.example", "contoso.onmicrosoft.com"});
    CHECK(in_managed_domain("a@contoso.example", managed));
    CHECK_FALSE(in_managed_domain("a@sub.contoso.example", managed));
    CHECK_FALSE(in_managed_domain("no-domain", managed));
}

TEST_CASE("U-label domains and addresses from Graph are kept as A-labels", "[importer]") {
    const json domains = json::parse(R"([
        {"id":"B\u00FCcher.example","isVerified":true,"supportedServices":["Email"]},
        {"id":"\u2603.example","isVerified":true,"supportedServices":["Email"]}
    ])");
    CHECK(managed_domains_from_graph(domains) == DomainSet{"xn--bcher-kva.example"});
    const DomainSet idn{"xn--bcher-kva.example"};
    const auto got = object_addresses(
        parse_directory_object(json::parse(
            R"({"id":"u1","mail":"Info@B\u00FCcher.example",)"
            R"("proxyAddresses":["smtp:\"Sales\"@xn--bcher-kva.example","smtp:x@\u2603.example"]})")),
        false, idn);
    CHECK(got ==
          std::vector<std::string>{"info@xn--bcher-kva.example", "sales@xn--bcher-kva.example"});
}

TEST_CASE("same_origin keeps the bearer token on the configured Graph host", "[graph]") {
    const char* origin = "https://graph.microsoft.com";
    CHECK(same_origin("https://graph.microsoft.com/v1.0/users?$skiptoken=x", origin));
    CHECK(same_origin("https://GRAPH.microsoft.com/v1.0/users", origin));
    CHECK_FALSE(same_origin("https://graph.microsoft.com.evil.example/v1.0/users", origin));
    CHECK_FALSE(same_origin("https://graph.microsoft.com@evil.example/v1.0/users", origin));
    CHECK_FALSE(same_origin("https://graph.microsoft.com:8443/v1.0/users", origin));
    CHECK_FALSE(same_origin("http://graph.microsoft.com/v1.0/users", origin));
    CHECK_FALSE(same_origin("https://graph.microsoft.com", origin));
    CHECK_FALSE(same_origin("https://graph.microsoft.com/v1.0/users\r\nHost: x", origin));
    CHECK_FALSE(same_origin("https://graph.microsoft.com/\\@evil.example", origin));
    CHECK_FALSE(same_origin("https://evil.example/https://graph.microsoft.com/", origin));
}

TEST_CASE("the permission named in a consent error follows the endpoint", "[graph]") {
    const char* origin = "https://graph.microsoft.us";
    CHECK(collection_of("https://graph.microsoft.us/v1.0/users/delta?$deltatoken=x", origin) ==
          "users");
    CHECK(collection_of("https://graph.microsoft.us/v1.0/groups?$filter=x", origin) == "groups");
    CHECK(std::string(permission_for("users")) == "User.Read.All");
    CHECK(std::string(permission_for("groups")) == "GroupMember.Read.All");
    CHECK(std::string(permission_for("contacts")) == "OrgContact.Read.All");
    CHECK(std::string(permission_for("domains")) == "Domain.Read.All");
    CHECK(std::string(permission_for("applications")) == "Application.Read.All");
}

TEST_CASE("Retry-After is range-checked: both forms are capped at a day, junk is ignored",
          "[graph][limits]") {
    using m365gate::sync::max_retry_after;
    using m365gate::sync::parse_retry_after;
    CHECK(max_retry_after == 86400);
    CHECK(parse_retry_after("86399") == 86399);
    CHECK(parse_retry_after("86400") == 86400);
    CHECK(parse_retry_after("86401") == max_retry_after);
    CHECK(parse_retry_after("999999999") == max_retry_after);   // 9 digits
    CHECK(parse_retry_after("1000000000") == max_retry_after);  // 10 digits: never converted
    CHECK(parse_retry_after("8589934592") == max_retry_after);  // 2^33
    CHECK(parse_retry_after("99999999999999999999999") == max_retry_after);  // past 2^64
    CHECK(parse_retry_after("000000000000000000005") == max_retry_after);    // long, even if small
    CHECK(parse_retry_after("-5") == -1);
    CHECK(parse_retry_after("5 ") == -1);
    CHECK(parse_retry_after("1e9") == -1);
    // The HTTP-date form: far future is capped, past is 0, no overflow either way.
    CHECK(parse_retry_after("Fri, 31 Dec 9999 23:59:59 GMT") == max_retry_after);
    CHECK(parse_retry_after("Thu, 01 Jan 1970 00:00:00 GMT") == 0);
    const std::time_t soon = std::time(nullptr) + 120;
    char date[64];
    std::strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", std::gmtime(&soon));
    const long got = parse_retry_after(date);
    CHECK(got > 100);
    CHECK(got <= 120);
    // What the Graph client multiplies a Retry-After by cannot overflow.
    CHECK(max_retry_after * 1000 < std::numeric_limits<std::int64_t>::max() / 1000);
}

TEST_CASE("expires_in is range-checked before it becomes a steady_clock duration",
          "[token][limits]") {
    using m365gate::sync::max_token_lifetime;
    using m365gate::sync::min_token_lifetime;
    using m365gate::sync::token_cache_time;
    using m365gate::sync::token_lifetime;
    using std::chrono::seconds;
    CHECK(min_token_lifetime == seconds(60));
    CHECK(max_token_lifetime == seconds(86400));
    struct Case {
        const char* label;
        nlohmann::json value;
        seconds want;
    };
    const Case cases[] = {
        {"Entra's usual", 3599, seconds(3599)},
        {"at the maximum", 86400, seconds(86400)},
        {"one over the maximum", 86401, seconds(86400)},
        {"2^33 (an overflow once)", 8589934592LL, seconds(86400)},
        {"2^34", 17179869184LL, seconds(86400)},
        {"int64 max", std::numeric_limits<std::int64_t>::max(), seconds(86400)},
        {"uint64 max", std::numeric_limits<std::uint64_t>::max(), seconds(86400)},
        {"at the minimum", 60, seconds(60)},
        {"under the minimum", 1, seconds(60)},
        {"zero", 0, seconds(60)},
        {"negative", -3600, seconds(60)},
        {"int64 min", std::numeric_limits<std::int64_t>::min(), seconds(60)},
        {"digits in a string", "3599", seconds(3599)},
        {"huge digits in a string", "8589934592", seconds(86400)},
        {"more digits than 64 bits hold", "99999999999999999999999", seconds(60)},
        {"a signed string", "-5", seconds(60)},
        {"junk string", "soon", seconds(60)},
        {"empty string", "", seconds(60)},
        {"float", 3599.9, seconds(3599)},
        {"huge float", 1e300, seconds(86400)},
        {"negative float", -1.5, seconds(60)},
        {"boolean", true, seconds(60)},
        {"null", nullptr, seconds(60)},
        {"object", nlohmann::json::object(), seconds(60)},
    };
    for (const auto& c : cases) {
        INFO(c.label);
        CHECK(token_lifetime(&c.value) == c.want);
    }
    CHECK(token_lifetime(nullptr) == seconds(3599));  // absent
    // Cached until 5 minutes before expiry; half of a short lifetime.
    CHECK(token_cache_time(seconds(86400)) == seconds(86100));
    CHECK(token_cache_time(seconds(3599)) == seconds(3299));
    CHECK(token_cache_time(seconds(601)) == seconds(301));
    CHECK(token_cache_time(seconds(600)) == seconds(300));
    CHECK(token_cache_time(seconds(60)) == seconds(30));
    // The largest cache time added to now stays far from the clock's end.
    const auto until = std::chrono::steady_clock::now() + token_cache_time(max_token_lifetime);
    CHECK(until > std::chrono::steady_clock::now());
}

TEST_CASE("a Graph credential end date past what the clock holds is the far future",
          "[worker][limits]") {
    using m365gate::format_datetime_utc;
    using m365gate::sync::parse_graph_end_date;
    const auto fmt = [](const char* text) {
        const auto t = parse_graph_end_date(text);
        return t ? format_datetime_utc(*t) : std::string("none");
    };
    CHECK(fmt("2027-11-01T00:00:00Z") == "2027-11-01T00:00:00Z");
    CHECK(fmt("2027-11-01T00:00:00.1234567Z") == "2027-11-01T00:00:00Z");
    CHECK(fmt("2261-12-31T23:59:59Z") == "2261-12-31T23:59:59Z");
    CHECK(fmt("2262-04-12T00:00:00Z") == "2261-12-31T23:59:59Z");
    CHECK(fmt("2299-12-31T00:00:00Z") == "2261-12-31T23:59:59Z");
    CHECK(fmt("9999-12-31T23:59:59.9999999Z") == "2261-12-31T23:59:59Z");
    CHECK(fmt("9999-13-31T23:59:59Z") == "none");  // still validated
    CHECK(fmt("9999-12-31") == "none");
    CHECK(fmt("99999-12-31T00:00:00Z") == "none");
    CHECK(fmt("1600-01-01T00:00:00Z") == "none");
    CHECK(fmt("") == "none");
}

TEST_CASE("Retry-After is seconds or an HTTP date, and backoff is capped with jitter", "[graph]") {
    using m365gate::sync::backoff_delay;
    using m365gate::sync::parse_retry_after;
    using m365gate::sync::RetryPolicy;
    CHECK(parse_retry_after("10") == 10);
    CHECK(parse_retry_after("0") == 0);
    CHECK(parse_retry_after("") == -1);
    CHECK(parse_retry_after("soon") == -1);
    CHECK(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0);  // in the past
    RetryPolicy p;
    p.first_backoff = std::chrono::seconds(5);
    p.max_backoff = std::chrono::seconds(60);
    std::set<std::int64_t> capped;
    for (int i = 0; i < 50; ++i) {
        const auto first = backoff_delay(0, p);
        CHECK(first >= std::chrono::milliseconds(5000));
        CHECK(first < std::chrono::milliseconds(10000));
        const auto second = backoff_delay(1, p);
        CHECK(second >= std::chrono::milliseconds(10000));
        CHECK(second < std::chrono::milliseconds(20000));
        const auto late = backoff_delay(10, p);
        CHECK(late >= std::chrono::milliseconds(30000));
        CHECK(late <= std::chrono::milliseconds(60000));
        capped.insert(late.count());
    }
    // Jitter after the cap: waits of retries past the cap are not all the same (50 draws from
    // 30,000 possible values: all equal only with a broken jitter).
    CHECK(capped.size() > 10);
    // A cap below first_backoff wins; the jitter still applies.
    p.max_backoff = std::chrono::seconds(2);
    for (int i = 0; i < 20; ++i) {
        const auto w = backoff_delay(0, p);
        CHECK(w >= std::chrono::milliseconds(1000));
        CHECK(w <= std::chrono::milliseconds(2000));
    }
}
