// tests/unit/decision_test.cpp - the recipient decision (DESIGN.md steps 1-8) against a real
// LMDB store filled through store::publish(), the way the sync worker fills it.
#include "decision/decision.h"

#include <stdlib.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "common/config.h"
#include "store/store.h"
#include "tests/unit/temp_dir.h"

namespace {

using namespace m365gate;
using decision::Decision;
using decision::TenantPolicy;

constexpr std::int64_t now = 1'800'000'000;
constexpr std::int64_t day = 24 * 3600;

using m365gate::testing::TempDir;

store::TenantList tenant_list(std::string name, std::vector<std::string> domains,
                              std::vector<std::vector<std::string>> objects,
                              std::int64_t last_success) {
    store::TenantList list;
    list.tenant = std::move(name);
    list.domains = std::move(domains);
    int n = 0;
    for (auto& addresses : objects) {
        store::TenantObject o;
        o.kind = store::ObjectKind::user;
        o.id = "u" + std::to_string(++n);
        o.addresses = std::move(addresses);
        list.objects.push_back(std::move(o));
    }
    list.state.last_attempt = last_success;
    list.state.last_success = last_success;
    return list;
}

// contoso: synced 10 minutes ago. fabrikam: last success 2 days ago (stale). tailspin:
// published but never successfully synced. northwind: in the config only, no state at all.
// p1+...+pg has 15 '+' (a tag after it is the 16th cut: tried), q1+...+qh 16 (the 17th: not).
struct Fixture {
    TempDir dir;
    std::unique_ptr<store::Store> st;
    std::vector<TenantPolicy> policies;

    Fixture() {
        store::StoreOptions options;
        options.max_size = 64ull << 20;
        st = std::make_unique<store::Store>(dir.path() / "store", options);
        store::publish(
            *st,
            tenant_list("contoso", {"customer.example", "contoso.example", "xn--bcher-kva.example"},
                        {{"alice@customer.example", "alice.smith@customer.example"},
                         {"bob@customer.example", "bob@contoso.example"},
                         {"first-last@customer.example"},
                         {"\"john doe\"@customer.example"},
                         {"100%off@customer.example"},
                         {"bang!path@customer.example"},
                         {"j\xC3\xB6rg@customer.example"},
                         {"info@xn--bcher-kva.example"},
                         {"mary-jane@customer.example"},
                         {"p1+p2+p3+p4+p5+p6+p7+p8+p9+pa+pb+pc+pd+pe+pf+pg@customer.example"},
                         {"q1+q2+q3+q4+q5+q6+q7+q8+q9+qa+qb+qc+qd+qe+qf+qg+qh@customer.example"}},
                        now - 600));
        store::publish(*st, tenant_list("fabrikam", {"fabrikam.example"},
                                        {{"carol@fabrikam.example"}}, now - 2 * day));
        store::publish(
            *st, tenant_list("tailspin", {"tailspin.example"}, {{"dave@tailspin.example"}}, 0));
        policies = {
            {"contoso",
             {"customer.example", "xn--bcher-kva.example"},
             {"dyn-group@customer.example"},
             std::nullopt,
             true},
            {"fabrikam", {"fabrikam.example"}, {}, std::nullopt, true},
            {"tailspin", {"tailspin.example"}, {}, std::nullopt, true},
            {"northwind", {"northwind.example"}, {}, std::nullopt, true},
        };
    }
};

enum class Profile {
    defaults,
    delimiters,  // subaddress_delimiters "+-="
    no_delimiters,
    no_roles,  // always_accept empty
    stale_accept,
    stale_tempfail,
    unavailable_accept,
    unavailable_reject,
    report,
};

DecisionSettings settings_for(Profile p) {
    DecisionSettings s;  // enforce, postmaster+abuse, "+", tempfail, reject, 24h
    switch (p) {
        case Profile::defaults:
            break;
        case Profile::delimiters:
            s.subaddress_delimiters = "+-=";
            break;
        case Profile::no_delimiters:
            s.subaddress_delimiters = "";
            break;
        case Profile::no_roles:
            s.always_accept.clear();
            break;
        case Profile::stale_accept:
            s.on_stale = Verdict::accept;
            break;
        case Profile::stale_tempfail:
            s.on_stale = Verdict::tempfail;
            break;
        case Profile::unavailable_accept:
            s.on_cache_unavailable = Verdict::accept;
            break;
        case Profile::unavailable_reject:
            s.on_cache_unavailable = Verdict::reject;
            break;
        case Profile::report:
            s.mode = MilterMode::report;
            break;
    }
    return s;
}

const char* name(Verdict v) {
    switch (v) {
        case Verdict::accept:
            return "accept";
        case Verdict::reject:
            return "reject";
        case Verdict::tempfail:
            return "tempfail";
    }
    return "?";
}

constexpr auto A = Verdict::accept;
constexpr auto R = Verdict::reject;
constexpr auto T = Verdict::tempfail;
constexpr auto D = Profile::defaults;
constexpr bool with_store = true;
constexpr bool no_store = false;

struct Case {
    const char* label;
    std::string rcpt;
    Profile profile;
    bool store;
    Verdict verdict;
    Verdict would_be;
    const char* reason;
    const char* tenant;
    int step;
};

std::string repeat(char c, std::size_t n) { return std::string(n, c); }

}  // namespace

TEST_CASE("decide() follows DESIGN.md steps 1-8", "[decision]") {
    Fixture fx;
    const std::string long_local = repeat('a', 1000 - std::string("@customer.example").size());
    const std::string thousand = long_local + "@customer.example";
    REQUIRE(thousand.size() == 1000);

    // clang-format off
    const std::vector<Case> cases = {
        // Known recipients and case folding (step 5).
        {"known, lower case",                "<alice@customer.example>", D, with_store, A, A, "known", "contoso", 5},
        {"known, no brackets",               "alice@customer.example", D, with_store, A, A, "known", "contoso", 5},
        {"known, mixed case",                "<Alice@Customer.EXAMPLE>", D, with_store, A, A, "known", "contoso", 5},
        {"known, all upper case",            "<ALICE@CUSTOMER.EXAMPLE>", D, with_store, A, A, "known", "contoso", 5},
        {"alias of a known user",            "<alice.smith@customer.example>", D, with_store, A, A, "known", "contoso", 5},
        {"known at a second managed domain", "<bob@contoso.example>", D, with_store, A, A, "known", "contoso", 5},
        {"unknown",                          "<nobody@customer.example>", D, with_store, R, R, "unknown_recipient", "contoso", 8},
        {"unknown, upper case",              "<NOBODY@CUSTOMER.EXAMPLE>", D, with_store, R, R, "unknown_recipient", "contoso", 8},
        {"unknown at a second domain",       "<alice@contoso.example>", D, with_store, R, R, "unknown_recipient", "contoso", 8},
        // Subaddresses (step 6).
        {"subaddress with +",                "<bob+tag@customer.example>", D, with_store, A, A, "known_subaddress", "contoso", 6},
        {"subaddress, mixed case",           "<Bob+Tag@Customer.Example>", D, with_store, A, A, "known_subaddress", "contoso", 6},
        {"subaddress, empty tag",            "<bob+@customer.example>", D, with_store, A, A, "known_subaddress", "contoso", 6},
        {"subaddress, cut at first +",       "<bob+a+b@customer.example>", D, with_store, A, A, "known_subaddress", "contoso", 6},
        {"- is not a default delimiter",     "<bob-tag@customer.example>", D, with_store, R, R, "unknown_recipient", "contoso", 8},
        {"subaddress with -",                "<bob-tag@customer.example>", Profile::delimiters, with_store, A, A, "known_subaddress", "contoso", 6},
        {"subaddress with =",                "<bob=tag@customer.example>", Profile::delimiters, with_store, A, A, "known_subaddress", "contoso", 6},
        {"subaddress with + among several",  "<bob+tag@customer.example>", Profile::delimiters, with_store, A, A, "known_subaddress", "contoso", 6},
        {"first of mixed delimiters",        "<bob-x+y@customer.example>", Profile::delimiters, with_store, A, A, "known_subaddress", "contoso", 6},
        {"whole address wins over delimiter","<first-last@customer.example>", Profile::delimiters, with_store, A, A, "known", "contoso", 5},
        {"delimiter in first position",      "<+bob@customer.example>", D, with_store, R, R, "unknown_recipient", "contoso", 8},
        {"unknown base of a subaddress",     "<nobody+tag@customer.example>", D, with_store, R, R, "unknown_recipient", "contoso", 8},
        {"no delimiters configured",         "<bob+tag@customer.example>", Profile::no_delimiters, with_store, R, R, "unknown_recipient", "contoso", 8},
        // Role addresses (step 3), before the store check.
        {"postmaster",                       "<postmaster@customer.example>", D, with_store, A, A, "always_accept", "contoso", 3},
        {"postmaster, upper case",           "<POSTMASTER@Customer.Example>", D, with_store, A, A, "always_accept", "contoso", 3},
        {"abuse",                            "<abuse@customer.example>", D, with_store, A, A, "always_accept", "contoso", 3},
        {"postmaster, always_accept empty",  "<postmaster@customer.example>", Profile::no_roles, with_store, R, R, "unknown_recipient", "contoso", 8},
        {"postmaster of a stale tenant",     "<postmaster@fabrikam.example>", D, with_store, A, A, "always_accept", "fabrikam", 3},
        {"postmaster of a never-synced tenant", "<postmaster@tailspin.example>", D, with_store, A, A, "always_accept", "tailspin", 3},
        {"postmaster of an unmanaged domain","<postmaster@unmanaged.example>", D, with_store, A, A, "unmanaged_domain", "", 2},
        // Unmanaged domains (step 2): exact match only.
        {"unmanaged domain",                 "<someone@unmanaged.example>", D, with_store, A, A, "unmanaged_domain", "", 2},
        {"subdomain of a managed domain",    "<bob@sub.customer.example>", D, with_store, A, A, "unmanaged_domain", "", 2},
        {"parent of a managed domain",       "<bob@example>", D, with_store, A, A, "unmanaged_domain", "", 2},
        {"managed domain plus a suffix",     "<bob@customer.example.evil>", D, with_store, A, A, "unmanaged_domain", "", 2},
        {"look-alike prefix",                "<bob@xcustomer.example>", D, with_store, A, A, "unmanaged_domain", "", 2},
        // Trailing dot and source route (step 1-2).
        {"trailing dot, known",              "<bob@customer.example.>", D, with_store, A, A, "known", "contoso", 5},
        {"trailing dot, unknown",            "<nobody@customer.example.>", D, with_store, R, R, "unknown_recipient", "contoso", 8},
        {"source route, known",              "<@relay.example:bob@customer.example>", D, with_store, A, A, "known", "contoso", 5},
        {"source route of two hops, unknown","<@a.example,@b.example:nobody@customer.example>", D, with_store, R, R, "unknown_recipient", "contoso", 8},
        // Quoted local parts.
        {"quoted local part, known",         "<\"john doe\"@customer.example>", D, with_store, A, A, "known", "contoso", 5},
        {"quoted local part, case folded",   "<\"John Doe\"@Customer.Example>", D, with_store, A, A, "known", "contoso", 5},
        {"quoted local part, unknown",       "<\"jane doe\"@customer.example>", D, with_store, R, R, "unknown_recipient", "contoso", 8},
        {"quoted @ in local part: last @ wins", "<\"bob@home\"@customer.example>", D, with_store, R, R, "unknown_recipient", "contoso", 8},
        // % and ! in the local part are just bytes: no percent hack, no bang path.
        {"% in a known local part",          "<100%off@customer.example>", D, with_store, A, A, "known", "contoso", 5},
        {"percent hack is not routed",       "<bob%other.example@customer.example>", D, with_store, R, R, "unknown_recipient", "contoso", 8},
        {"! in a known local part",          "<bang!path@customer.example>", D, with_store, A, A, "known", "contoso", 5},
        {"bang path is not routed",          "<host!bob@customer.example>", D, with_store, R, R, "unknown_recipient", "contoso", 8},
        // UTF-8 local parts (ASCII folding only) and IDN domains (a U-label is its A-label).
        {"UTF-8 local part, known",          "<j\xC3\xB6rg@customer.example>", D, with_store, A, A, "known", "contoso", 5},
        {"UTF-8 local part, ASCII folded",   "<J\xC3\xB6rg@Customer.Example>", D, with_store, A, A, "known", "contoso", 5},
        {"UTF-8 upper case is not folded",   "<J\xC3\x96RG@customer.example>", D, with_store, R, R, "unknown_recipient", "contoso", 8},
        {"IDN domain (A-label), known",      "<info@xn--bcher-kva.example>", D, with_store, A, A, "known", "contoso", 5},
        {"IDN domain, upper case",           "<INFO@XN--BCHER-KVA.EXAMPLE>", D, with_store, A, A, "known", "contoso", 5},
        {"IDN domain, unknown",              "<nobody@xn--bcher-kva.example>", D, with_store, R, R, "unknown_recipient", "contoso", 8},
        {"IDN domain as U-label, known",     "<info@b\xC3\xBC" "cher.example>", D, with_store, A, A, "known", "contoso", 5},
        // Null path and unparseable input (step 1): not ours to judge.
        {"null path <>",                     "<>", D, with_store, A, A, "null_sender_rcpt", "", 1},
        {"empty argument",                   "", D, with_store, A, A, "null_sender_rcpt", "", 1},
        {"blank <>",                         " <> ", D, with_store, A, A, "null_sender_rcpt", "", 1},
        {"no @",                             "<bob>", D, with_store, A, A, "unparseable", "", 1},
        {"empty local part",                 "<@customer.example>", D, with_store, A, A, "unparseable", "", 1},
        {"empty domain",                     "<bob@>", D, with_store, A, A, "unparseable", "", 1},
        {"a 1,000-byte address is judged",   thousand, D, with_store, R, R, "unknown_recipient", "contoso", 8},
        {"a 2,000-byte address is not ours", repeat('b', 1983) + "@customer.example", D, with_store, A, A, "unparseable", "", 1},
        // Extra recipients from the config (step 5).
        {"extra recipient",                  "<dyn-group@customer.example>", D, with_store, A, A, "extra_recipient", "contoso", 5},
        {"extra recipient, upper case",      "<DYN-GROUP@customer.example>", D, with_store, A, A, "extra_recipient", "contoso", 5},
        {"subaddress of an extra recipient", "<dyn-group+x@customer.example>", D, with_store, A, A, "known_subaddress", "contoso", 6},
        // Stale tenant (step 7) under each on_stale.
        {"stale tenant, known recipient",    "<carol@fabrikam.example>", D, with_store, A, A, "known", "fabrikam", 5},
        {"stale tenant, on_stale = reject",  "<nobody@fabrikam.example>", D, with_store, R, R, "stale", "fabrikam", 7},
        {"stale tenant, on_stale = accept",  "<nobody@fabrikam.example>", Profile::stale_accept, with_store, A, A, "stale", "fabrikam", 7},
        {"stale tenant, on_stale = tempfail","<nobody@fabrikam.example>", Profile::stale_tempfail, with_store, T, T, "stale", "fabrikam", 7},
        {"fresh tenant ignores on_stale",    "<nobody@customer.example>", Profile::stale_accept, with_store, R, R, "unknown_recipient", "contoso", 8},
        // Never-synced tenant (step 4) under each on_cache_unavailable.
        {"never synced, default tempfail",   "<dave@tailspin.example>", D, with_store, T, T, "cache_unavailable", "tailspin", 4},
        {"never synced, on_unavailable = accept", "<dave@tailspin.example>", Profile::unavailable_accept, with_store, A, A, "cache_unavailable", "tailspin", 4},
        {"never synced, on_unavailable = reject", "<dave@tailspin.example>", Profile::unavailable_reject, with_store, R, R, "cache_unavailable", "tailspin", 4},
        {"no state at all, default tempfail","<x@northwind.example>", D, with_store, T, T, "cache_unavailable", "northwind", 4},
        {"no state at all, accept",          "<x@northwind.example>", Profile::unavailable_accept, with_store, A, A, "cache_unavailable", "northwind", 4},
        {"no state at all, reject",          "<x@northwind.example>", Profile::unavailable_reject, with_store, R, R, "cache_unavailable", "northwind", 4},
        // No readable store: the config's domains decide what is ours.
        {"no store, configured domain",      "<bob@customer.example>", D, no_store, T, T, "cache_unavailable", "contoso", 4},
        {"no store, accept",                 "<bob@customer.example>", Profile::unavailable_accept, no_store, A, A, "cache_unavailable", "contoso", 4},
        {"no store, reject",                 "<bob@customer.example>", Profile::unavailable_reject, no_store, R, R, "cache_unavailable", "contoso", 4},
        {"no store, unmanaged domain flows", "<someone@unmanaged.example>", D, no_store, A, A, "unmanaged_domain", "", 2},
        {"no store, domain only the store knew", "<bob@contoso.example>", D, no_store, A, A, "unmanaged_domain", "", 2},
        {"no store, postmaster",             "<postmaster@customer.example>", D, no_store, A, A, "always_accept", "contoso", 3},
        {"no store, null path",              "<>", D, no_store, A, A, "null_sender_rcpt", "", 1},
        // Report mode: nothing is refused, would_be keeps the real verdict.
        {"report: unknown",                  "<nobody@customer.example>", Profile::report, with_store, A, R, "unknown_recipient", "contoso", 8},
        {"report: never synced",             "<dave@tailspin.example>", Profile::report, with_store, A, T, "cache_unavailable", "tailspin", 4},
        {"report: stale",                    "<nobody@fabrikam.example>", Profile::report, with_store, A, R, "stale", "fabrikam", 7},
        {"report: known",                    "<bob@customer.example>", Profile::report, with_store, A, A, "known", "contoso", 5},
        {"report: no store",                 "<bob@customer.example>", Profile::report, no_store, A, T, "cache_unavailable", "contoso", 4},
    };
    // clang-format on
    REQUIRE(cases.size() >= 50);

    for (const auto& c : cases) {
        INFO(c.label << ": " << c.rcpt.substr(0, 80));
        const DecisionSettings s = settings_for(c.profile);
        std::optional<store::Snapshot> snapshot;
        if (c.store) {
            snapshot.emplace(*fx.st);
        }
        const Decision d =
            decision::decide(c.rcpt, s, fx.policies, snapshot ? &*snapshot : nullptr, now);
        CHECK(name(d.verdict) == std::string(name(c.verdict)));
        CHECK(name(d.would_be) == std::string(name(c.would_be)));
        CHECK(d.reason == c.reason);
        CHECK(d.tenant == c.tenant);
        CHECK(d.step == c.step);
    }
}

// Issue 14: each row as reported (miltertest and a real Postfix), then its neighbours.
TEST_CASE(
    "decide(): quoted local parts, U-label domains, role addresses before the store, "
    "every delimiter position",
    "[decision]") {
    Fixture fx;
    const std::string all_plus(1000 - std::string("@customer.example").size(), '+');
    // clang-format off
    const std::vector<Case> cases = {
        // The five rows of the report.
        {"quoted dot-atom is that mailbox",  "<\"alice\"@customer.example>", D, with_store, A, A, "known", "contoso", 5},
        {"U-label domain, unknown user",     "<nobody@b\xC3\xBC" "cher.example>", D, with_store, R, R, "unknown_recipient", "contoso", 8},
        {"postmaster with a subaddress",     "<postmaster+x@customer.example>", D, with_store, A, A, "always_accept", "contoso", 3},
        {"postmaster with the store missing","<postmaster@customer.example>", D, no_store, A, A, "always_accept", "contoso", 3},
        {"mary-jane+news, delimiters +-=",   "<mary-jane+news@customer.example>", Profile::delimiters, with_store, A, A, "known_subaddress", "contoso", 6},
        // Quoted local parts whose content is a dot-atom.
        {"quoted, mixed case",               "<\"Alice\"@Customer.Example>", D, with_store, A, A, "known", "contoso", 5},
        {"quoted dot-atom with a dot",       "<\"alice.smith\"@customer.example>", D, with_store, A, A, "known", "contoso", 5},
        {"quoted postmaster",                "<\"postmaster\"@customer.example>", D, no_store, A, A, "always_accept", "contoso", 3},
        {"quoted subaddress is cut",         "<\"bob+tag\"@customer.example>", D, with_store, A, A, "known_subaddress", "contoso", 6},
        {"quoted UTF-8 dot-atom",            "<\"j\xC3\xB6rg\"@customer.example>", D, with_store, A, A, "known", "contoso", 5},
        {"quoted unknown dot-atom",          "<\"nobody\"@customer.example>", D, with_store, R, R, "unknown_recipient", "contoso", 8},
        // Backslash escapes inside quotes are removed before the dot-atom test.
        {"escaped letter",                   "<\"a\\lice\"@customer.example>", D, with_store, A, A, "known", "contoso", 5},
        {"every letter escaped",             "<\"\\a\\l\\i\\c\\e\"@customer.example>", D, with_store, A, A, "known", "contoso", 5},
        {"escaped blank stays quoted",       "<\"john\\ doe\"@customer.example>", D, with_store, A, A, "known", "contoso", 5},
        {"escaped quote stays quoted",       "<\"al\\\"ice\"@customer.example>", D, with_store, R, R, "unknown_recipient", "contoso", 8},
        {"escaped closing quote: bytes",     "<\"alice\\\"@customer.example>", D, with_store, R, R, "unknown_recipient", "contoso", 8},
        // Quoted local parts that are not dot-atoms stay quoted and are looked up as such.
        {"quoted blank, known",              "<\"john doe\"@customer.example>", D, with_store, A, A, "known", "contoso", 5},
        {"quoted trailing dot",              "<\"alice.\"@customer.example>", D, with_store, R, R, "unknown_recipient", "contoso", 8},
        {"quoted leading dot",               "<\".alice\"@customer.example>", D, with_store, R, R, "unknown_recipient", "contoso", 8},
        {"quoted double dot",                "<\"alice..smith\"@customer.example>", D, with_store, R, R, "unknown_recipient", "contoso", 8},
        {"empty quoted string",              "<\"\"@customer.example>", D, with_store, R, R, "unknown_recipient", "contoso", 8},
        {"quoted non-dot-atom is not cut",   "<\"john doe+x\"@customer.example>", D, with_store, R, R, "unknown_recipient", "contoso", 8},
        {"quoted role with a blank",         "<\"postmaster \"@customer.example>", D, no_store, T, T, "cache_unavailable", "contoso", 4},
        {"unclosed quote: bytes",            "<\"alice@customer.example>", D, with_store, R, R, "unknown_recipient", "contoso", 8},
        {"quote inside a plain local part",  "<al\"ice\"@customer.example>", D, with_store, R, R, "unknown_recipient", "contoso", 8},
        // U-labels: one canonical form, whatever the case and the script.
        {"U-label, upper case ASCII",        "<INFO@B\xC3\xBC" "CHER.EXAMPLE>", D, with_store, A, A, "known", "contoso", 5},
        {"U-label, upper case umlaut",       "<info@B\xC3\x9C" "CHER.example>", D, with_store, A, A, "known", "contoso", 5},
        {"U-label with a trailing dot",      "<info@b\xC3\xBC" "cher.example.>", D, with_store, A, A, "known", "contoso", 5},
        {"U-label, ideographic full stop",   "<info@b\xC3\xBC" "cher\xE3\x80\x82" "example>", D, with_store, A, A, "known", "contoso", 5},
        {"U-label, postmaster, no store",    "<postmaster@b\xC3\xBC" "cher.example>", D, no_store, A, A, "always_accept", "contoso", 3},
        {"U-label, no store",                "<info@b\xC3\xBC" "cher.example>", D, no_store, T, T, "cache_unavailable", "contoso", 4},
        {"mixed scripts across labels",      "<info@b\xC3\xBC" "cher.\xD0\xBF\xD1\x80\xD0\xB8\xD0\xBC\xD0\xB5\xD1\x80>", D, with_store, A, A, "unmanaged_domain", "", 2},
        {"Cyrillic look-alike of a domain",  "<bob@cu\xD1\x95tomer.example>", D, with_store, A, A, "unmanaged_domain", "", 2},
        {"UTF-8 local part at a U-label",    "<j\xC3\xB6rg@b\xC3\xBC" "cher.example>", D, with_store, R, R, "unknown_recipient", "contoso", 8},
        // An invalid U-label is not ours to judge.
        {"disallowed code point (snowman)",  "<info@\xE2\x98\x83.example>", D, with_store, A, A, "unparseable", "", 1},
        {"invalid UTF-8 in the domain",      "<info@\xFF" "cher.example>", D, with_store, A, A, "unparseable", "", 1},
        {"U-label with a leading hyphen",    "<info@-b\xC3\xBC" "cher.example>", D, with_store, A, A, "unparseable", "", 1},
        {"truncated UTF-8 sequence",         "<info@b\xC3.example>", D, with_store, A, A, "unparseable", "", 1},
        // Role addresses with a subaddress cut off, and their neighbours.
        {"abuse+x",                          "<abuse+x@customer.example>", D, with_store, A, A, "always_accept", "contoso", 3},
        {"abuse+x, store missing",           "<abuse+x@customer.example>", D, no_store, A, A, "always_accept", "contoso", 3},
        {"abuse+x of a never-synced tenant", "<abuse+x@tailspin.example>", D, with_store, A, A, "always_accept", "tailspin", 3},
        {"postmaster-x with delimiters +-=", "<postmaster-x@customer.example>", Profile::delimiters, with_store, A, A, "always_accept", "contoso", 3},
        {"postmaster-x, - not a delimiter",  "<postmaster-x@customer.example>", D, with_store, R, R, "unknown_recipient", "contoso", 8},
        {"abuse+x, no delimiters",           "<abuse+x@customer.example>", Profile::no_delimiters, with_store, R, R, "unknown_recipient", "contoso", 8},
        {"postmaster+x, always_accept empty","<postmaster+x@customer.example>", Profile::no_roles, with_store, R, R, "unknown_recipient", "contoso", 8},
        {"postmasterx is not postmaster",    "<postmasterx@customer.example>", D, with_store, R, R, "unknown_recipient", "contoso", 8},
        {"postmaster at an unmanaged domain","<postmaster+x@unmanaged.example>", D, with_store, A, A, "unmanaged_domain", "", 2},
        // Every delimiter position, leftmost first.
        {"first-last+news, delimiters +-=",  "<first-last+news@customer.example>", Profile::delimiters, with_store, A, A, "known_subaddress", "contoso", 6},
        {"first-last+news, default +",       "<first-last+news@customer.example>", D, with_store, A, A, "known_subaddress", "contoso", 6},
        {"mary-jane+news, default +",        "<mary-jane+news@customer.example>", D, with_store, A, A, "known_subaddress", "contoso", 6},
        {"mary-jane-x=y, delimiters +-=",    "<mary-jane-x=y@customer.example>", Profile::delimiters, with_store, A, A, "known_subaddress", "contoso", 6},
        {"mary+jane: no cut makes mary-jane","<mary+jane@customer.example>", Profile::delimiters, with_store, R, R, "unknown_recipient", "contoso", 8},
        {"bob+a+b, second cut unknown too",  "<bob+a+b@customer.example>", D, with_store, A, A, "known_subaddress", "contoso", 6},
        {"16th delimiter position is tried", "<p1+p2+p3+p4+p5+p6+p7+p8+p9+pa+pb+pc+pd+pe+pf+pg+tag@customer.example>", D, with_store, A, A, "known_subaddress", "contoso", 6},
        {"17th delimiter position is not",   "<q1+q2+q3+q4+q5+q6+q7+q8+q9+qa+qb+qc+qd+qe+qf+qg+qh+tag@customer.example>", D, with_store, R, R, "unknown_recipient", "contoso", 8},
        // A local part that is all delimiters.
        {"local part +",                     "<+@customer.example>", D, with_store, R, R, "unknown_recipient", "contoso", 8},
        {"local part +++",                   "<+++@customer.example>", D, with_store, R, R, "unknown_recipient", "contoso", 8},
        {"local part +-=+-=",                "<+-=+-=@customer.example>", Profile::delimiters, with_store, R, R, "unknown_recipient", "contoso", 8},
        {"983 '+', store missing",           "<" + all_plus + "@customer.example>", D, no_store, T, T, "cache_unavailable", "contoso", 4},
        {"983 '+'",                          all_plus + "@customer.example", D, with_store, R, R, "unknown_recipient", "contoso", 8},
    };
    // clang-format on
    for (const auto& c : cases) {
        INFO(c.label << ": " << c.rcpt.substr(0, 80));
        const DecisionSettings s = settings_for(c.profile);
        std::optional<store::Snapshot> snapshot;
        if (c.store) {
            snapshot.emplace(*fx.st);
        }
        const Decision d =
            decision::decide(c.rcpt, s, fx.policies, snapshot ? &*snapshot : nullptr, now);
        CHECK(name(d.verdict) == std::string(name(c.verdict)));
        CHECK(name(d.would_be) == std::string(name(c.would_be)));
        CHECK(d.reason == c.reason);
        CHECK(d.tenant == c.tenant);
        CHECK(d.step == c.step);
    }
}

TEST_CASE("decide() names the canonical address it decided on", "[decision]") {
    Fixture fx;
    const store::Snapshot snapshot(*fx.st);
    const DecisionSettings s;
    const auto address = [&](std::string_view rcpt) {
        return decision::decide(rcpt, s, fx.policies, &snapshot, now).address;
    };
    CHECK(address("<\"a\\lice\"@Customer.Example>") == "alice@customer.example");
    CHECK(address("<\"John\\ Doe\"@customer.example>") == "\"john doe\"@customer.example");
    CHECK(address("<\"al\\\"ice\"@customer.example>") == "\"al\\\"ice\"@customer.example");
    CHECK(address("<nobody@B\xC3\x9C"
                  "cher.example.>") == "nobody@xn--bcher-kva.example");
    CHECK(address("<info@\xE2\x98\x83.example>").empty());
}

TEST_CASE("a known recipient names its directory object", "[decision]") {
    Fixture fx;
    const store::Snapshot snapshot(*fx.st);
    const Decision d = decision::decide("<Bob+x@Customer.Example.>", DecisionSettings{},
                                        fx.policies, &snapshot, now);
    CHECK(d.reason == "known_subaddress");
    CHECK(d.address == "bob+x@customer.example");
    REQUIRE(d.recipient);
    CHECK(d.recipient->tenant == "contoso");
    CHECK(d.recipient->object_id == "u2");
    CHECK(d.recipient->kind == store::ObjectKind::user);
}

TEST_CASE("staleness is measured against sync.stale_after", "[decision]") {
    Fixture fx;
    const store::Snapshot snapshot(*fx.st);
    DecisionSettings s;
    s.stale_after = std::chrono::hours(72);  // fabrikam synced 48 h ago: fresh now
    CHECK(decision::decide("<nobody@fabrikam.example>", s, fx.policies, &snapshot, now).reason ==
          "unknown_recipient");
    s.stale_after = std::chrono::hours(48);  // exactly at the limit: not yet stale
    CHECK(decision::decide("<nobody@fabrikam.example>", s, fx.policies, &snapshot, now).reason ==
          "unknown_recipient");
    CHECK(
        decision::decide("<nobody@fabrikam.example>", s, fx.policies, &snapshot, now + 1).reason ==
        "stale");
}

TEST_CASE("a new snapshot sees a user published after the previous one", "[decision]") {
    Fixture fx;
    const DecisionSettings s;
    const store::Snapshot before(*fx.st);
    CHECK(decision::decide("<newbie@customer.example>", s, fx.policies, &before, now).verdict ==
          Verdict::reject);

    auto list = tenant_list("contoso", {"customer.example"},
                            {{"alice@customer.example"}, {"newbie@customer.example"}}, now);
    store::publish(*fx.st, list);

    // The old read view keeps its list; a new one sees the new list.
    CHECK(decision::decide("<newbie@customer.example>", s, fx.policies, &before, now).verdict ==
          Verdict::reject);
    const store::Snapshot after(*fx.st);
    CHECK(decision::decide("<newbie@customer.example>", s, fx.policies, &after, now).reason ==
          "known");
    // bob was dropped from the list, contoso.example from the domains.
    CHECK(decision::decide("<bob@customer.example>", s, fx.policies, &after, now).verdict ==
          Verdict::reject);
    CHECK(decision::decide("<bob@contoso.example>", s, fx.policies, &after, now).reason ==
          "unmanaged_domain");
}

TEST_CASE("tenant_policies() canonicalises the config's domains and extra recipients",
          "[decision]") {
    Config cfg;
    TenantConfig t;
    t.name = "contoso";
    t.domains = {"Customer.Example.",
                 "customer.example",
                 "Contoso.EXAMPLE",
                 "B\xC3\x9C"
                 "cher.example",
                 "xn--bcher-kva.example",
                 "\xE2\x98\x83.example"};
    t.extra_recipients = {"<Dyn-Group@Customer.Example>", "not an address",
                          "dyn-group@customer.example",
                          "Info@B\xC3\xBC"
                          "cher.Example",
                          "\"Sales\"@customer.example"};
    cfg.tenants.push_back(t);
    const auto policies = decision::tenant_policies(cfg);
    REQUIRE(policies.size() == 1);
    CHECK(policies[0].name == "contoso");
    CHECK(policies[0].domains ==
          std::vector<std::string>{"customer.example", "contoso.example", "xn--bcher-kva.example"});
    CHECK(policies[0].extra_recipients == std::vector<std::string>{"dyn-group@customer.example",
                                                                   "info@xn--bcher-kva.example",
                                                                   "sales@customer.example"});
}

TEST_CASE("a tenant's own mode overrides [milter] mode for its domains only", "[decision]") {
    Fixture fx;
    const store::Snapshot snapshot(*fx.st);
    DecisionSettings s;                        // [milter] mode = "enforce"
    fx.policies[0].mode = MilterMode::report;  // contoso, a new customer being rolled out
    auto d = decision::decide("<nobody@customer.example>", s, fx.policies, &snapshot, now);
    CHECK(d.verdict == Verdict::accept);
    CHECK(d.would_be == Verdict::reject);
    CHECK(d.reason == "unknown_recipient");
    d = decision::decide("<nobody@fabrikam.example>", s, fx.policies, &snapshot, now);
    CHECK(d.verdict == Verdict::reject);  // fabrikam enforces
    CHECK(decision::decide("<dave@tailspin.example>", s, fx.policies, &snapshot, now).verdict ==
          Verdict::tempfail);

    // The other way round: [milter] report, one tenant enforcing.
    s.mode = MilterMode::report;
    fx.policies[0].mode = MilterMode::enforce;
    fx.policies[1].mode = MilterMode::report;
    fx.policies[2].mode = MilterMode::report;
    CHECK(decision::decide("<nobody@customer.example>", s, fx.policies, &snapshot, now).verdict ==
          Verdict::reject);
    d = decision::decide("<nobody@fabrikam.example>", s, fx.policies, &snapshot, now);
    CHECK(d.verdict == Verdict::accept);
    CHECK(d.would_be == Verdict::reject);
}

TEST_CASE("tenant_policies() gives a tenant its own mode, if it has one", "[decision]") {
    Config cfg;
    cfg.decision.mode = MilterMode::report;
    TenantConfig a;
    a.name = "a";
    TenantConfig b;
    b.name = "b";
    b.mode = MilterMode::enforce;
    b.enabled = false;
    cfg.tenants = {a, b};
    const auto policies = decision::tenant_policies(cfg);
    REQUIRE(policies.size() == 2);
    CHECK_FALSE(policies[0].mode);  // decide() applies [milter] mode
    CHECK(policies[0].enabled);
    CHECK(policies[1].mode == MilterMode::enforce);
    CHECK_FALSE(policies[1].enabled);
}

TEST_CASE("a disabled tenant's domains are not enforced, by the store's domains or the config's",
          "[decision]") {
    Fixture fx;
    const store::Snapshot snapshot(*fx.st);
    const DecisionSettings s;
    for (auto& p : fx.policies) {
        p.enabled = p.name != "contoso";
    }
    for (const char* rcpt :
         {"<nobody@customer.example>", "<alice@customer.example>", "<nobody@xn--bcher-kva.example>",
          "<nobody@contoso.example>"}) {  // contoso.example: the store's only
        INFO(rcpt);
        const auto d = decision::decide(rcpt, s, fx.policies, &snapshot, now);
        CHECK(d.verdict == Verdict::accept);
        CHECK(d.would_be == Verdict::accept);
        CHECK(d.reason == "tenant_disabled");
        CHECK(d.tenant == "contoso");
        CHECK(d.step == 2);
    }
    // Without a store, by the config's domains; the other tenants are enforced as before.
    CHECK(decision::decide("<nobody@customer.example>", s, fx.policies, nullptr, now).reason ==
          "tenant_disabled");
    CHECK(decision::decide("<nobody@fabrikam.example>", s, fx.policies, &snapshot, now).verdict ==
          Verdict::reject);
}
