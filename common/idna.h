// common/idna.h - the one canonical form of a domain name: ASCII, lowercase, A-labels.
//
// DESIGN "The recipient decision" step 2: a UTF-8 (U-label) domain is compared in its A-label
// form (IDNA2008 with the UTS #46 mapping, through libidn2), so "bücher.example",
// "Bücher.EXAMPLE" and "xn--bcher-kva.example" are one domain. The config, the sync worker
// and the milter all go through canonical_domain_name(); if they disagreed, mail for a
// managed domain would pass unchecked. Pure: no I/O, no locale, never throws on input.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace m365gate {

// A domain in any form longer than this is not converted (RFC 1035: 253 octets in A-labels;
// a U-label takes up to 4 octets per character).
inline constexpr std::size_t max_domain_input_octets = 1024;

// "Bücher.Example." -> "xn--bcher-kva.example"; "Contoso.EXAMPLE" -> "contoso.example".
// One trailing dot removed. An all-ASCII name is only lowercased (no libidn2 call: the milter's
// fast path; its labels are not checked). nullopt: empty, longer than max_domain_input_octets,
// or a non-ASCII name that is not valid UTF-8 / IDNA2008 (disallowed code point, bad hyphen,
// a label over 63 octets once converted...).
std::optional<std::string> canonical_domain_name(std::string_view domain);

// The Unicode (U-label) form of a canonical domain that holds an A-label:
// "xn--bcher-kva.example" -> "bücher.example" (UTF-8, lowercase). nullopt when it holds none
// ("contoso.example") or does not convert. For Postfix's tables (sync/postfix_tables.h), whose
// lookups with smtputf8_enable use the domain as the client sent it.
std::optional<std::string> unicode_domain_name(std::string_view canonical);

}  // namespace m365gate
