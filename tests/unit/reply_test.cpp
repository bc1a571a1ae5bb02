// tests/unit/reply_test.cpp - the SMTP reply for a verdict, the smfi_setreply() sanitiser and
// the rejection log lines (key=value and the JSON m365gatectl report reads).
#include "milter/reply.h"

#include <catch2/catch.hpp>
#include <string>

#include "common/config.h"
#include "decision/decision.h"
#include "milter/glue.h"
#include "milter/rejection.h"

using namespace m365gate;
using namespace m365gate::milter;

TEST_CASE("reply_text() makes text safe for smfi_setreply", "[reply]") {
    struct Case {
        const char* label;
        std::string in;
        std::string want;
    };
    const Case cases[] = {
        {"plain text is kept", "<bob@x.example>: user unknown", "<bob@x.example>: user unknown"},
        {"CR and LF are dropped", "a\r\n250 ok", "a250 ok"},
        {"other controls are dropped",
         std::string("a\0b\tc\x1b"
                     "d\x7f",
                     8),
         "abcd"},
        {"% is doubled", "100%off@x.example", "100%%off@x.example"},
        {"%% becomes %%%%", "%%", "%%%%"},
        {"format directives are defused", "%s%n%d", "%%s%%n%%d"},
        {"bytes outside ASCII become ?", "j\xC3\xB6rg", "j??rg"},
        {"empty stays empty", "", ""},
    };
    for (const auto& c : cases) {
        INFO(c.label);
        CHECK(reply_text(c.in) == c.want);
    }
}

TEST_CASE("reply_text() is bounded and never splits a %% pair", "[reply]") {
    CHECK(reply_text(std::string(5000, 'a')).size() == max_reply_text);
    CHECK(reply_text(std::string(5000, 'a')).size() < 980);  // libmilter's MAXREPLYLEN
    CHECK(reply_text("abcdef", 4) == "abcd");
    CHECK(reply_text("abc%def", 4) == "abc");  // "%%" would not fit whole
    CHECK(reply_text("ab%def", 4) == "ab%%");  // it fits exactly
    const std::string all_percent = reply_text(std::string(1000, '%'));
    CHECK(all_percent.size() == max_reply_text);
    CHECK(all_percent.find_first_not_of('%') == std::string::npos);
}

TEST_CASE("reply_for() maps each verdict to its one reply", "[reply]") {
    const DecisionSettings s;
    CHECK_FALSE(reply_for(Verdict::accept, "bob@x.example", s));

    const auto reject = reply_for(Verdict::reject, "nobody@customer.example", s);
    REQUIRE(reject);
    CHECK(reject->code == "550");
    CHECK(reject->status == "5.1.1");
    CHECK(reject->text == "<nobody@customer.example>: Recipient address rejected: user unknown");

    const auto tempfail = reply_for(Verdict::tempfail, "x@customer.example", s);
    REQUIRE(tempfail);
    CHECK(tempfail->code == "451");
    CHECK(tempfail->status == "4.3.0");
    CHECK(tempfail->text ==
          "<x@customer.example>: Recipient address lookup failed: try again later");
}

TEST_CASE("reply_for() sanitises the substituted address and the configured text", "[reply]") {
    DecisionSettings s;
    s.reject = {"550", "5.1.1", "{address} is unknown, 100% sure ({address})"};
    const auto r = reply_for(Verdict::reject, "a%b@x.example\r\nRSET", s);
    REQUIRE(r);
    CHECK(r->text == "a%%b@x.exampleRSET is unknown, 100%% sure (a%%b@x.exampleRSET)");

    const auto huge = reply_for(Verdict::reject, std::string(1000, 'a') + "@x.example", s);
    REQUIRE(huge);
    CHECK(huge->text.size() <= max_reply_text);
}

TEST_CASE("reply_for() keeps the reply class equal to the verdict", "[reply]") {
    DecisionSettings s;
    s.reject = {"450", "4.1.1", "wrong class"};   // a 4xx for a reject
    s.tempfail = {"451", "5.3.0", "mismatched"};  // status class differs from the code
    const auto r = reply_for(Verdict::reject, "a@x.example", s);
    REQUIRE(r);
    CHECK(r->code == "550");
    CHECK(r->status == "5.1.1");
    const auto t = reply_for(Verdict::tempfail, "a@x.example", s);
    REQUIRE(t);
    CHECK(t->code == "451");
    CHECK(t->status == "4.3.0");

    s.reject = {"554", "5.7.1", "<{address}>: not here"};  // a valid custom reply is used
    const auto custom = reply_for(Verdict::reject, "a@x.example", s);
    REQUIRE(custom);
    CHECK(custom->code == "554");
    CHECK(custom->status == "5.7.1");
    CHECK(custom->text == "<a@x.example>: not here");
}

namespace {
decision::Decision make_decision(Verdict verdict, Verdict would_be, const char* reason,
                                 const char* tenant) {
    decision::Decision d;
    d.verdict = verdict;
    d.would_be = would_be;
    d.reason = reason;
    d.tenant = tenant;
    return d;
}
}  // namespace

TEST_CASE("rejection_action() names what happened, or would have", "[reply]") {
    using V = Verdict;
    CHECK(rejection_action(make_decision(V::reject, V::reject, "unknown_recipient", "c")) ==
          "reject");
    CHECK(rejection_action(make_decision(V::tempfail, V::tempfail, "stale", "c")) == "tempfail");
    CHECK(rejection_action(make_decision(V::accept, V::reject, "unknown_recipient", "c")) ==
          "would_reject");
    CHECK(rejection_action(make_decision(V::accept, V::tempfail, "cache_unavailable", "c")) ==
          "would_tempfail");
    CHECK_FALSE(rejection_action(make_decision(V::accept, V::accept, "known", "c")));
}

TEST_CASE("the rejection log line follows the Postfix key=value habit", "[reply]") {
    const auto d = make_decision(Verdict::reject, Verdict::reject, "unknown_recipient", "contoso");
    const SmtpReply reply{"550", "5.1.1", "text"};
    RcptContext ctx{"", "mx.example", "192.0.2.7", "a@b.example", "nobody@customer.example"};
    CHECK(rejection_line("reject", ctx, d, reply) ==
          "action=reject queue_id=- client=mx.example[192.0.2.7] from=<a@b.example> "
          "to=<nobody@customer.example> tenant=contoso reason=unknown_recipient code=550 "
          "status=5.1.1");

    ctx = {"4Xk2Lq1abc", "", "", "", "x@customer.example"};
    CHECK(rejection_line("would_tempfail", ctx,
                         make_decision(Verdict::accept, Verdict::tempfail, "cache_unavailable", ""),
                         SmtpReply{"451", "4.3.0", "t"}) ==
          "action=would_tempfail queue_id=4Xk2Lq1abc client=unknown[unknown] from=<> "
          "to=<x@customer.example> tenant=- reason=cache_unavailable code=451 status=4.3.0");
}

TEST_CASE("client text in the log line is masked", "[reply]") {
    const auto d = make_decision(Verdict::reject, Verdict::reject, "unknown_recipient", "contoso");
    const RcptContext ctx{"", "evil\nhost", "192.0.2.7", "a@b", "x\r\ninjected=1@customer.example"};
    const std::string line = rejection_line("reject", ctx, d, SmtpReply{"550", "5.1.1", ""});
    CHECK(line.find('\n') == std::string::npos);
    CHECK(line.find('\r') == std::string::npos);
}

TEST_CASE("the JSON rejection line is the format m365gatectl report reads", "[reply]") {
    const auto d = make_decision(Verdict::reject, Verdict::reject, "unknown_recipient", "contoso");
    const RcptContext ctx{"", "mx.example", "192.0.2.7", "a@b.example", "nobody@customer.example"};
    const std::int64_t ts = 1795424400;  // 2026-11-23T09:00:00Z
    CHECK(format_utc(ts) == "2026-11-23T09:00:00Z");
    CHECK(rejection_json("reject", ctx, d, SmtpReply{"550", "5.1.1", "t"}, ts) ==
          "{\"ts\":\"2026-11-23T09:00:00Z\",\"action\":\"reject\",\"queue_id\":\"\","
          "\"client_addr\":\"192.0.2.7\",\"client_name\":\"mx.example\",\"from\":\"a@b.example\","
          "\"to\":\"nobody@customer.example\",\"tenant\":\"contoso\","
          "\"reason\":\"unknown_recipient\",\"code\":\"550\",\"status\":\"5.1.1\"}\n");

    const RcptContext hostile{"", "", "", "\"q\"\\@b", "bad\xff\n@x"};
    const std::string line =
        rejection_json("reject", hostile, d, SmtpReply{"550", "5.1.1", ""}, ts);
    CHECK(line.find("\"from\":\"\\\"q\\\"\\\\@b\"") != std::string::npos);
    CHECK(line.find('\n') == line.size() - 1);  // one line, whatever the input
}

TEST_CASE("strip_brackets() takes the address out of <...>", "[reply]") {
    CHECK(strip_brackets("<a@b>") == "a@b");
    CHECK(strip_brackets(" <a@b> ") == "a@b");
    CHECK(strip_brackets("a@b") == "a@b");
    CHECK(strip_brackets("<>").empty());
    CHECK(strip_brackets("<a@b") == "<a@b");
}
