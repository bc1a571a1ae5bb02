// The RFC 5322 message of an alert: recipients, header values, RFC 2047 encoded words.
#include "sync/alert_mail.h"

#include <catch2/catch.hpp>

#include "common/zone.h"
#include "sync/alert_message.h"
#include "tests/unit/alert_test_fixtures.h"

using namespace m365gate;
using namespace m365gate::sync;
using namespace m365gate::sync::test;

namespace {

std::string base64_decode(std::string_view in) {
    static const std::string table =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    unsigned v = 0;
    int bits = 0;
    for (char c : in) {
        if (c == '=') {
            break;
        }
        v = (v << 6) | static_cast<unsigned>(table.find(c));
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out.push_back(static_cast<char>((v >> bits) & 0xff));
        }
    }
    return out;
}

// Decodes a header value made of "=?UTF-8?B?...?=" words separated by folding whitespace.
std::string decode_words(const std::string& value) {
    std::string out;
    std::size_t pos = 0;
    while ((pos = value.find("=?UTF-8?B?", pos)) != std::string::npos) {
        const auto end = value.find("?=", pos + 10);
        REQUIRE(end != std::string::npos);
        CHECK(end + 2 - pos <= 75);
        const std::string word = base64_decode(value.substr(pos + 10, end - pos - 10));
        REQUIRE_FALSE(word.empty());
        CHECK((static_cast<unsigned char>(word[0]) & 0xc0) != 0x80);  // whole characters
        out += word;
        pos = end + 2;
    }
    return out;
}

}  // namespace

TEST_CASE("recipients: global list plus the tenant's, without duplicates", "[alerts][mail]") {
    const auto to = mail_recipients(make_config("en").alerts, make_tenant());
    REQUIRE(to.size() == 2);
    CHECK(to[0] == "postmaster@example.net");
    CHECK(to[1] == "it@contoso.example");
}

TEST_CASE("subjects that are not ASCII are RFC 2047 encoded words", "[alerts][mail]") {
    CHECK(encode_header_text("plain ASCII subject") == "plain ASCII subject");
    const std::string ja =
        "[m365gate] contoso: クライアントシークレットの有効期限まであと7日です（2027-01-31 "
        "09:00 JST）";
    const std::string enc = encode_header_text(ja);
    CHECK(enc.rfind("=?UTF-8?B?", 0) == 0);
    CHECK(decode_words(enc) == ja);
    for (const auto& line : lines_of(enc)) {
        CHECK(line.size() <= 76);
    }
}

TEST_CASE("a header value can never start a new header", "[alerts][mail]") {
    CHECK(header_value("a\r\nBcc: victim@example.org") == "aBcc: victim@example.org");
    Alert a;
    a.kind = AlertKind::recovered;
    a.subject = "hello\nBcc: victim@example.org";
    a.body = "body\n";
    MailEnvelope env;
    env.from = "m365gate@gw.example\r\nBcc: x@example.org";
    env.to = {"admin@example.net\nBcc: y@example.org"};
    env.date = jan31_2027;
    env.message_id = make_message_id(jan31_2027, "abc123", "gw.example\n");
    const std::string m = build_mail(env, a, "contoso\r\n", TimeZone::utc());
    for (const auto& line : lines_of(m)) {
        CHECK(line.rfind("Bcc:", 0) != 0);
    }
    CHECK(env.message_id == "<1801353600.abc123@m365gate.gw.example>");
}

TEST_CASE("the mail is a proper RFC 5322 message", "[alerts][mail]") {
    const Config cfg = make_config("ja");
    const Alert a = build_alert(cfg, make_tenant(), expiring_facts(), tokyo(), "gw.example");
    MailEnvelope env;
    env.from = cfg.alerts.mail_from;
    env.to = mail_recipients(cfg.alerts, make_tenant());
    env.date = jan31_2027 - 7 * day;
    env.message_id = make_message_id(env.date, "0123456789abcdef", "gw.example");
    const std::string m = build_mail(env, a, "contoso", tokyo());
    const auto sep = m.find("\n\n");
    REQUIRE(sep != std::string::npos);
    const std::string head = m.substr(0, sep + 1);
    for (const char* want :
         {"Date: Sun, 24 Jan 2027 09:00:00 +0900\n", "From: m365gate <m365gate@localhost>\n",
          "To: postmaster@example.net, it@contoso.example\n",
          "Message-ID: <1800748800.0123456789abcdef@m365gate.gw.example>\n", "MIME-Version: 1.0\n",
          "Content-Type: text/plain; charset=UTF-8\n", "Content-Transfer-Encoding: 8bit\n",
          "Auto-Submitted: auto-generated\n", "X-M365gate-Event: secret_expiring\n",
          "Subject: =?UTF-8?B?"}) {
        INFO(want);
        CHECK(head.find(want) != std::string::npos);
    }
    CHECK(m.substr(sep + 2) == a.body);
    for (const auto& line : lines_of(m)) {
        CHECK(line.size() <= 998);
    }
}
