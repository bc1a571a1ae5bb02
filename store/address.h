// store/address.h - the one definition of "the same address".
//
// The sync worker writes keys with canonical_address(), the milter and m365gatectl look them
// up with parse_rcpt() + canonical_key(); if the two ever disagree, real recipients get 550.
// Canonical form: ASCII letters lowercased, everything else (UTF-8 bytes included) kept as
// it is; angle brackets and a source route stripped; one trailing dot of the domain removed.
// Pure: no I/O, no locale, never throws on input.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace m365gate::store {

// RFC 5321 4.5.3.1.3 path limit (256) plus room for brackets; longer input is not ours.
inline constexpr std::size_t max_address_octets = 1024;

struct Address {
    std::string local;   // as written (quotes kept), ASCII-lowercased
    std::string domain;  // ASCII-lowercased, no trailing dot
};

inline char ascii_lower(char c) { return (c >= 'A' && c <= 'Z') ? char(c - 'A' + 'a') : c; }
std::string ascii_lower(std::string_view in);

// "<@a,@b:Bob@Example.COM.>" -> {"bob", "example.com"}. nullopt: "<>", empty, no '@',
// empty local part or domain, longer than max_address_octets, NUL/CR/LF inside.
std::optional<Address> parse_rcpt(std::string_view raw);

// "local@domain".
std::string canonical_key(const Address& a);

// For the writer: parse_rcpt() then canonical_key(); nullopt when it does not parse.
std::optional<std::string> canonical_address(std::string_view raw);

// Domain canonical form (lowercase, trailing dot stripped); "" when empty.
std::string canonical_domain(std::string_view domain);

}  // namespace m365gate::store
