// common/address.h - the one definition of "the same address".
//
// The sync worker writes keys with canonical_address(), the milter and m365gatectl look them
// up with parse_rcpt() + canonical_key(); if the two ever disagree, real recipients get 550.
// Canonical form (DESIGN "The recipient decision", steps 1-2):
//   - angle brackets and a source route stripped, split at the last '@';
//   - a quoted local part whose content, once the quotes and backslash escapes are removed, is
//     a dot-atom is that dot-atom (`"a\lice"` is `alice`, RFC 5321 4.1.2); any other quoted
//     local part stays quoted, re-escaped minimally (`"john\ doe"` is `"john doe"`);
//   - the domain in common/idna.h's form: one trailing dot removed, U-labels converted to
//     A-labels (IDNA2008 / UTS #46), ASCII lowercased;
//   - ASCII letters of the local part lowercased, every other byte (UTF-8 included) kept.
// Pure: no I/O, no locale, never throws on input.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "common/text.h"

namespace m365gate {

// RFC 5321 4.5.3.1.3 path limit (256) plus room for brackets, blanks and a source route;
// longer input is not ours, and is refused before any other work.
inline constexpr std::size_t max_address_octets = 1024;

struct Address {
    std::string local;    // canonical local part (see above), ASCII-lowercased
    std::string domain;   // canonical domain: A-labels, ASCII-lowercased, no trailing dot
    bool quoted = false;  // the local part stayed quoted (not a dot-atom)
};

// "<@a,@b:Bob@Example.COM.>" -> {"bob", "example.com"}; `<"Alice"@B\xC3\xBC` "cher.example>"
// -> {"alice", "xn--bcher-kva.example"}. nullopt: "<>", empty, no '@', empty local part or
// domain, longer than max_address_octets, NUL/CR/LF inside, a non-ASCII domain that is not
// valid IDNA2008.
std::optional<Address> parse_rcpt(std::string_view raw);

// "local@domain".
std::string canonical_key(const Address& a);

// For the writer: parse_rcpt() then canonical_key(); nullopt when it does not parse.
std::optional<std::string> canonical_address(std::string_view raw);

// Domain canonical form (common/idna.h); "" when empty or not a valid domain name.
std::string canonical_domain(std::string_view domain);

// RFC 5321 Dot-string with RFC 6531's UTF-8 atext: atoms of ALPHA / DIGIT /
// "!#$%&'*+-/=?^_`{|}~" / bytes >= 0x80, joined by single dots. False for "".
bool is_dot_atom(std::string_view s);

}  // namespace m365gate
