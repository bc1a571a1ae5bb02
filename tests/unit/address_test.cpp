// Address canonicalisation: the writer and the readers must agree byte for byte.
#include "common/address.h"

#include <catch2/catch.hpp>

#include "common/idna.h"

using m365gate::canonical_address;
using m365gate::canonical_domain;
using m365gate::canonical_domain_name;
using m365gate::canonical_key;
using m365gate::parse_rcpt;
using m365gate::unicode_domain_name;

TEST_CASE("parse_rcpt canonicalises what the MTA hands us", "[address]") {
    struct Case {
        const char* label;
        const char* raw;
        const char* want;  // nullptr: not ours to judge
    };
    const Case cases[] = {
        {"plain", "bob@example.com", "bob@example.com"},
        {"brackets and case", "<Bob@Example.COM>", "bob@example.com"},
        {"source route dropped", "<@a,@b:bob@example.com>", "bob@example.com"},
        {"single-hop source route", "<@relay.example:bob@example.com>", "bob@example.com"},
        {"trailing dot on domain", "bob@example.com.", "bob@example.com"},
        {"trailing dot inside brackets", "<bob@Example.com.>", "bob@example.com"},
        {"non-ASCII kept as bytes", "J\xC3\xB6rg@example.com", "j\xC3\xB6rg@example.com"},
        {"U-label domain as its A-label",
         "bob@b\xC3\xBC"
         "cher.example",
         "bob@xn--bcher-kva.example"},
        {"U-label in upper case",
         "bob@B\xC3\x9C"
         "CHER.Example.",
         "bob@xn--bcher-kva.example"},
        {"A-label in upper case", "bob@XN--BCHER-KVA.example", "bob@xn--bcher-kva.example"},
        {"U-label mapped to ASCII", "bob@\xEF\xAC\x81.example", "bob@fi.example"},
        {"invalid U-label", "bob@\xE2\x98\x83.example", nullptr},
        {"invalid UTF-8 domain", "bob@\xC3.example", nullptr},
        {"quoted local part kept", "<\"John Doe\"@example.com>", "\"john doe\"@example.com"},
        {"quoted dot-atom unquoted", "<\"Alice\"@example.com>", "alice@example.com"},
        {"quoted dot-atom with dots", "\"a.b.c\"@example.com", "a.b.c@example.com"},
        {"escapes removed", "\"a\\lice\"@example.com", "alice@example.com"},
        {"escaped blank re-quoted", "\"john\\ doe\"@example.com", "\"john doe\"@example.com"},
        {"escaped quote kept escaped", "\"a\\\"b\"@example.com", "\"a\\\"b\"@example.com"},
        {"escaped backslash kept escaped", "\"a\\\\b\"@example.com", "\"a\\\\b\"@example.com"},
        {"empty quoted string", "\"\"@example.com", "\"\"@example.com"},
        {"malformed quoting kept as bytes", "\"a\\\"@example.com", "\"a\\\"@example.com"},
        {"percent hack kept", "bob%other@example.com", "bob%other@example.com"},
        {"bang path kept", "host!bob@example.com", "host!bob@example.com"},
        {"last @ splits", "\"a@b\"@example.com", "\"a@b\"@example.com"},
        {"plus kept", "Bob+Tag@example.com", "bob+tag@example.com"},
        {"surrounding space", "  <bob@example.com>  ", "bob@example.com"},
        {"null path", "<>", nullptr},
        {"empty", "", nullptr},
        {"no domain", "bob", nullptr},
        {"empty domain", "bob@", nullptr},
        {"domain only a dot", "bob@.", nullptr},
        {"empty local part", "@example.com", nullptr},
        {"unclosed bracket", "<bob@example.com", nullptr},
        {"source route without colon", "<@a,@b>", nullptr},
        {"CR inside", "bob\r@example.com", nullptr},
        {"LF inside", "bob@example.com\n", nullptr},
    };
    for (const auto& c : cases) {
        INFO(c.label);
        const auto got = parse_rcpt(c.raw);
        if (c.want == nullptr) {
            CHECK_FALSE(got);
            continue;
        }
        REQUIRE(got);
        CHECK(canonical_key(*got) == c.want);
    }
}

TEST_CASE("embedded NUL and oversized input are refused without reading past the end",
          "[address]") {
    const std::string with_nul("bob\0x@example.com", 17);
    CHECK_FALSE(parse_rcpt(with_nul));

    // max_address_octets is 1024: 1000 + 12 octets parse, 1020 + 12 do not.
    CHECK(parse_rcpt(std::string(1000, 'a') + "@example.com"));
    CHECK_FALSE(parse_rcpt(std::string(1020, 'a') + "@example.com"));
}

TEST_CASE("a dot-atom is atoms of atext joined by single dots", "[address]") {
    using m365gate::is_dot_atom;
    CHECK(is_dot_atom("alice"));
    CHECK(is_dot_atom("a.b"));
    CHECK(is_dot_atom("!#$%&'*+-/=?^_`{|}~"));
    CHECK(is_dot_atom("j\xC3\xB6rg"));
    CHECK_FALSE(is_dot_atom(""));
    CHECK_FALSE(is_dot_atom(".a"));
    CHECK_FALSE(is_dot_atom("a."));
    CHECK_FALSE(is_dot_atom("a..b"));
    CHECK_FALSE(is_dot_atom("a b"));
    CHECK_FALSE(is_dot_atom("a@b"));
    CHECK_FALSE(is_dot_atom("a\"b"));
    CHECK_FALSE(is_dot_atom(std::string("a\0b", 3)));
}

TEST_CASE("an A-label longer than its U-label never makes a key over the bound", "[address]") {
    // 1,017 + '@' + "\xC3\xBC" (2 octets) = 1,020 octets in; "xn--tda" makes the key 1,025.
    const std::string local(1017, 'a');
    CHECK_FALSE(parse_rcpt(local + "@\xC3\xBC"));
    CHECK(parse_rcpt(local + "@ab"));
}

TEST_CASE("writer and reader canonical forms agree", "[address]") {
    CHECK(canonical_address("SMTP:x") == std::nullopt);  // prefixes are the importer's job
    CHECK(canonical_address("Alice.Anderson@Contoso.Example") == "alice.anderson@contoso.example");
    CHECK(canonical_domain("Contoso.Example.") == "contoso.example");
    CHECK(canonical_domain("") == "");
    CHECK(canonical_domain("B\xC3\xBC"
                           "cher.Example.") == "xn--bcher-kva.example");
    CHECK(canonical_domain("\xE2\x98\x83.example") == "");
}

TEST_CASE("unicode_domain_name gives the U-label form of an A-label domain, and only that",
          "[address]") {
    CHECK(unicode_domain_name("xn--bcher-kva.example") ==
          std::optional<std::string>("bücher.example"));
    CHECK(unicode_domain_name("mail.xn--bcher-kva.example") ==
          std::optional<std::string>("mail.bücher.example"));
    CHECK_FALSE(unicode_domain_name("contoso.example"));
    CHECK_FALSE(unicode_domain_name("xn--.example"));    // not a valid A-label
    CHECK_FALSE(unicode_domain_name("bücher.example"));  // not canonical: already Unicode
    for (const char* d : {"xn--bcher-kva.example", "xn--zca.example"}) {
        INFO(d);
        const auto u = unicode_domain_name(d);
        REQUIRE(u);
        CHECK(canonical_domain_name(*u) == std::optional<std::string>(d));
    }
}
